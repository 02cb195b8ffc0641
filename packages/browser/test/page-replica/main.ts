// A page that runs one Replica on IndexedDB against the relay behind its own origin, and hands
// it to the test driving it (relay-sync.browser.test.ts) as `window.weft`.
import { IndexedDbBlobStore, IndexedDbStateStore } from "@weft/browser";
import { ProtocolError, RelayAccount, Replica } from "@weft/core";
import { generateDeviceIdentity, ready, sha256, toHex } from "@weft/crypto";

/** What the page offers the test; every value crosses to Node as JSON. */
export interface PageReplica {
  /** Signs `user` up (or in), joins the folder of `invite`, and syncs it into database `database`. */
  open(options: {
    user: string;
    password: string;
    invite: string;
    database: string;
  }): Promise<string>;
  /** Writes `size` bytes of a pattern of `seed` at `path`; returns their SHA-256 in hex. */
  writePattern(path: string, size: number, seed: number): Promise<string>;
  /** SHA-256 (hex) of the file at `path` as read back (every chunk verified), or null. */
  hashOf(path: string): Promise<string | null>;
  /** Appends `text` to the text `body` of document `name`. */
  append(name: string, text: string): Promise<void>;
  /** The text `body` of document `name`. */
  text(name: string): Promise<string>;
  /** What the IndexedDB stores hold: chunks, and state entries. */
  stored(): Promise<{ chunks: number; chunkBytes: number; stateEntries: number }>;
  /**
   * Closes the replica and its stores, then opens them again from IndexedDB with no relay, as a
   * reloaded page that is offline would (the identity and keys kept in memory).
   */
  reopenOffline(): Promise<void>;
  /** Stops syncing and closes the stores. */
  close(): Promise<void>;
}

declare global {
  interface Window {
    weft: PageReplica;
  }
}

/** `n` bytes of a pattern that depends on `seed` (the test makes the same bytes in Node). */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 101 + (i >>> 8)) & 0xff;
  return out;
}

let replica: Replica | undefined;
let state: IndexedDbStateStore | undefined;
let blobs: IndexedDbBlobStore | undefined;
let remote: { close(): Promise<void> } | undefined;
let reopen: (() => Promise<void>) | undefined;

function opened(): Replica {
  if (replica === undefined) throw new Error("call weft.open first");
  return replica;
}

window.weft = {
  async open({ user, password, invite, database }) {
    await ready();
    const relay = location.origin; // the page server proxies /v1 to the relay
    const identity = generateDeviceIdentity();
    try {
      await RelayAccount.register({ relay, user, password });
    } catch (error) {
      if (!(error instanceof ProtocolError && error.wireCode === "conflict")) throw error;
    }
    const account = await RelayAccount.login({ relay, user, password, identity });
    const { folderId, keyring } = await account.redeemInvite(invite);
    state = await IndexedDbStateStore.open(database);
    blobs = await IndexedDbBlobStore.open(database);
    // No WebSocket given: the browser's own.
    const sync = account.replicaOptions(folderId);
    remote = sync.remoteBlobs;
    replica = await Replica.open({ identity, folderId, keyring, state, blobs, ...sync });
    reopen = async () => {
      state = await IndexedDbStateStore.open(database);
      blobs = await IndexedDbBlobStore.open(database);
      replica = await Replica.open({ identity, folderId, keyring, state, blobs });
    };
    replica.on("error", ({ error, context }) => console.error(`${context}: ${error.message}`));
    replica.start();
    document.getElementById("status")!.textContent = "open";
    return identity.deviceId;
  },
  async writePattern(path, size, seed) {
    const bytes = pattern(size, seed);
    await opened().writeFile(path, bytes);
    return toHex(sha256(bytes));
  },
  async hashOf(path) {
    const r = opened();
    if (!r.list().some((e) => e.path === path)) return null;
    return toHex(sha256(await r.readFile(path)));
  },
  async append(name, text) {
    const body = (await opened().doc(name)).getText("body");
    body.insert(body.length, text);
  },
  async text(name) {
    return (await opened().doc(name)).getText("body").toJSON();
  },
  async stored() {
    const size = await blobs!.size();
    const entries = await state!.loadRange([]);
    return { chunks: size.count, chunkBytes: size.bytes, stateEntries: entries.length };
  },
  async reopenOffline() {
    await this.close();
    replica = undefined;
    await reopen!();
  },
  async close() {
    await replica?.close();
    await state?.close();
    await blobs?.close();
    await remote?.close();
  },
};
