/**
 * Opening one folder's stores: its key ring (noticing a removal on the way), the replica over
 * its SQLite state and chunk cache, connected through the relay when online, and the disk state.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import {
  type Consistency,
  HttpBlobStore,
  Replica,
  type ReplicaOptions,
  createWebSocketTransport,
} from "@weft/core";
import type { DeviceIdentity, FolderKeyring } from "@weft/crypto";
import { WebSocket } from "ws";
import type { AccountLogin } from "../account/index.js";
import type { Clock } from "./clock.js";
import { AgentError, type FolderRecord, type Home } from "../home/index.js";
import { checkedConsistency, folderSettings, loadKeyring, storeKeyring } from "../share/index.js";
import { DiskState, FolderChunks, SqliteBlobStore, SqliteStateStore } from "../state/index.js";
import { type Removal, confirmRemoved, isForbidden } from "./removal.js";

/**
 * How long a daemon waits at most between connection attempts. Short, because a person who
 * restarts their relay expects every device back within a moment; a refused attempt costs the
 * relay next to nothing, and the jitter spreads devices out.
 */
export const RECONNECT_MAX_MS = 2000;

/** How the agent keeps its connection to the relay (the `weft sync` flags). */
export interface ConnectionOptions {
  /** The longest wait between connection attempts (default `RECONNECT_MAX_MS`). */
  reconnectMaxMs?: number;
  /**
   * Ping a silent relay after this long, give it up after twice this (an account request
   * too), and a chunk request after eight times this (default: core's, 15 s).
   */
  keepaliveMs?: number;
  /** How long a change waits out a full WEFT_HOME (default: the replica's life; `--once`: 0). */
  diskFullWaitMs?: number;
}

/** One folder's open stores. */
export interface FolderStores {
  replica: Replica;
  disk: DiskState;
  /** The folder's files as the replica's source of chunks it already has. */
  chunks: FolderChunks;
  /** Set when this device lost the folder (then the replica never connects). */
  removed: Removal | undefined;
  /** Key epochs that were not adopted, in words. */
  refused: string[];
  /** The login the replica connects through; undefined offline or once removed. */
  live: AccountLogin | undefined;
  /** Closes the replica and every store. */
  close(): Promise<void>;
}

/** Chunk compression with Node's zlib, for ReplicaOptions. */
export const NODE_ZLIB: Pick<ReplicaOptions, "compress" | "decompress"> = {
  // Several times faster than the portable JavaScript deflate.
  compress: (data) => deflateRawSync(data, { level: 1 }),
  // A receiver inflates every compressed chunk twice (on download, and when writing the
  // file): fflate's JavaScript inflate was ~5% of a receiver's CPU in bench:sync.
  decompress: (data, maxBytes) => inflateRawSync(data, { maxOutputLength: maxBytes }),
};

/**
 * The ReplicaOptions that connect a replica of `keyring`'s folder to the relay through
 * `session`: the WebSocket, the token, the chunk store over HTTP, reconnects and keepalive, and
 * the keys of a new epoch (`keep` stores them).
 */
export function relayOptions(
  session: AccountLogin,
  identity: DeviceIdentity,
  keyring: FolderKeyring,
  connection: ConnectionOptions,
  keep: () => Promise<void>,
): Pick<
  ReplicaOptions,
  "connect" | "token" | "reconnectDelayMs" | "keepaliveMs" | "refreshKeys" | "remoteBlobs"
> {
  const token = (refused?: string) => session.token(refused);
  return {
    // Each (re)connect goes to the relay's current address; a lost one moves it on.
    connect: session.relaySession.endpoints.connector((url) =>
      createWebSocketTransport(url, { WebSocket, token }),
    ),
    token,
    reconnectDelayMs: { min: 250, max: connection.reconnectMaxMs ?? RECONNECT_MAX_MS },
    ...(connection.keepaliveMs ? { keepaliveMs: connection.keepaliveMs } : {}),
    // A new key epoch (the relay ends every session when one starts): adopt this
    // device's key, or, as an owner's device, make the one a removal left owed.
    refreshKeys: async () => {
      await session.account(identity).completeRotation(keyring);
      await keep();
    },
    remoteBlobs: new HttpBlobStore({
      baseUrl: session.relay,
      folderId: keyring.folderId,
      token,
      // The session's fetch follows the relay's addresses (requests to `baseUrl` go to the
      // current one, and once more to the next when one fails).
      fetch: session.relaySession.fetchFn,
      // One knob for "how long is silence": a chunk request may take eight keepalive
      // periods (120 s by default) before it counts as stalled.
      ...(connection.keepaliveMs ? { requestTimeoutMs: 8 * connection.keepaliveMs } : {}),
    }),
  };
}

/**
 * The folder's consistency mode: the one its owner-signed metadata says, checked against what
 * this device kept (`checkedConsistency`), so a `settings.json` edited to another mode, or a
 * record the relay changed, stops the folder here as it stops the remote commands. With no
 * relay to ask (offline, or it does not answer), the mode this device checked before.
 * @throws AgentError AUTH when the record is forged, changed or gone, or says another mode
 */
async function consistencyOf(
  home: Home,
  folder: FolderRecord,
  identity: DeviceIdentity,
  keyring: FolderKeyring,
  session: AccountLogin | undefined,
): Promise<Consistency> {
  if (session) {
    try {
      return await checkedConsistency(home, session, identity, keyring);
    } catch (error) {
      // A relay's refusal carries its wire code; a record that does not check out does not.
      const refusedByRelay = (error as { wireCode?: string }).wireCode !== undefined;
      if (error instanceof AgentError && error.code === "AUTH" && !refusedByRelay) throw error;
    }
  }
  return (await folderSettings(home, folder.folderId)).consistency;
}

/** Opens `folder`'s stores and replica; connects through `session` when given (and not removed). */
export async function openStores(
  home: Home,
  folder: FolderRecord,
  identity: DeviceIdentity,
  session: AccountLogin | undefined,
  connection: ConnectionOptions,
  clock: Clock,
  /** Whose content to download as it arrives (selective sync); default every file's. */
  downloads?: (path: string) => boolean,
): Promise<FolderStores> {
  const dir = home.folderDir(folder.folderId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // A folder this device was removed from opens as it was left, and never connects again.
  let removed = folder.removed;
  const refused: string[] = [];
  let keyring: FolderKeyring;
  try {
    keyring = await loadKeyring(
      home,
      identity,
      folder.folderId,
      removed ? undefined : session,
      (r) => refused.push(`a key for epoch ${r.epoch} was not adopted: ${r.reason}`),
    );
  } catch (error) {
    if (!session || !isForbidden(error)) throw error;
    removed = await confirmRemoved(home, session, identity, folder.folderId, () => clock.now());
    if (!removed) throw error;
    keyring = await loadKeyring(home, identity, folder.folderId);
  }
  const live = removed ? undefined : session;
  session = live;
  const state = await SqliteStateStore.open(join(dir, "replica.sqlite"));
  const blobs = await SqliteBlobStore.open(join(dir, "chunks.sqlite"));
  const disk = await DiskState.open(join(dir, "local.sqlite"));
  const strong = (await consistencyOf(home, folder, identity, keyring, session)) === "strong";
  const opened: { replica?: Replica } = {};
  const chunks = new FolderChunks(folder.path, disk, () => opened.replica?.index);
  const replica = await Replica.open({
    identity,
    folderId: folder.folderId,
    keyring,
    state,
    blobs,
    // The folder's files hold the content: chunks.sqlite only spools this device's new chunks
    // until the relay has them, and content arrives when a file is written, straight into its
    // temp file (issue 14: the cache was a second copy of the folder, every chunk opened twice).
    download: "lazy",
    cacheChunks: false,
    localChunks: chunks,
    ...NODE_ZLIB,
    // A strong folder's changes wait for the relay's head check before they join the index.
    // Its envelopes are numbered from the clock: the remote commands' own state of this device
    // (weft put on this folder, before weft sync synced strong folders) may have written it.
    ...(strong ? { consistency: "strong" as const, clockDeviceSeq: true } : {}),
    // One clock for the replica's timers and timestamps and FolderSync's.
    time: clock,
    ...(downloads ? { downloads } : {}),
    ...(connection.diskFullWaitMs !== undefined
      ? { diskFullWaitMs: connection.diskFullWaitMs }
      : {}),
    ...(session
      ? relayOptions(session, identity, keyring, connection, () =>
          storeKeyring(home, identity, keyring),
        )
      : {}),
  });
  opened.replica = replica;
  return {
    replica,
    disk,
    chunks,
    removed,
    refused,
    live,
    close: async () => {
      await replica.close();
      await disk.close();
      await blobs.close();
      await state.close();
    },
  };
}
