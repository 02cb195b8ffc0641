#!/usr/bin/env node
// Attachments an app keeps in a Replica, with no folder on disk: bytes go in with writeFile and
// come out with readFile, sealed chunk by chunk on the way to a real relay, which only ever sees
// ciphertext. A second device joins with an invite and fetches each attachment when it is read
// (lazy download), every chunk verified; its content hash is checked again end to end; and a
// relay that hands out a chunk with one byte changed is caught, not believed.
//
//   npm start    # the relay, on http://127.0.0.1:8787
//   WEFT_PASSWORD=… node examples/embed-files/index.mjs --relay http://127.0.0.1:8787 --user ana [FILE…]
//   WEFT_PASSWORD=… WEFT_INVITE='weft1:…' node examples/embed-files/index.mjs --relay … --user ben
import { generateDeviceIdentity, randomBytes, ready } from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  ProtocolError,
  RelayAccount,
  Replica,
  WeftError,
  contentHashOf,
} from "@weft/core";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { TextEncoder, parseArgs } from "node:util";
import { WebSocket } from "ws";

const DIR = "attachments";

/** Signs a new device in to `relay`, creating the account on first use. */
async function signIn(relay, user, password, identity) {
  try {
    await RelayAccount.register({ relay, user, password });
  } catch (error) {
    // The name exists: the password decides at login.
    if (!(error instanceof ProtocolError && error.wireCode === "conflict")) throw error;
  }
  return RelayAccount.login({ relay, user, password, identity });
}

/**
 * The relay's chunk store as a compromised relay (or a flipped bit on its disk) could serve it:
 * while `tamper` is on, every chunk comes back with its last byte changed.
 */
function tamperable(remote) {
  let tamper = false;
  return {
    set tamper(on) {
      tamper = on;
    },
    has: (ids) => remote.has(ids),
    put: (id, bytes) => remote.put(id, bytes),
    get: async (id, range) => {
      const bytes = await remote.get(id, range);
      if (!tamper || bytes === undefined || bytes.length === 0) return bytes;
      const changed = bytes.slice();
      changed[changed.length - 1] ^= 1;
      return changed;
    },
    delete: (ids) => remote.delete(ids),
    size: () => remote.size(),
    close: () => remote.close(),
  };
}

/**
 * Opens the attachment store on `relay` as `user`: a new one, or with an invite the one someone
 * else created. Everything is in memory here; an app passes its own StateStore and BlobStore
 * (IndexedDB, SQLite…) to keep attachments across runs.
 */
export async function openAttachments({ relay, user, password, invite, onError }) {
  await ready();
  const identity = generateDeviceIdentity();
  const account = await signIn(relay, user, password, identity);
  const { folderId, keyring } = invite
    ? await account.redeemInvite(invite)
    : await account.createFolder();
  const sync = account.replicaOptions(folderId, { WebSocket });
  const remote = tamperable(sync.remoteBlobs);
  const replica = await Replica.open({
    identity,
    folderId,
    keyring,
    state: new MemoryStateStore(),
    blobs: new MemoryBlobStore(),
    ...sync,
    remoteBlobs: remote,
    // Attachments can be large and many: fetch each one when it is opened, not all up front.
    download: "lazy",
  });
  const report = onError ?? ((error) => console.warn(`attachments: ${error.message}`));
  replica.on("error", ({ error, context }) => report(new Error(`${context}: ${error.message}`)));
  const path = (name) => `${DIR}/${name}`;

  return {
    deviceId: identity.deviceId,
    folderId,
    /** A one-time invite (owner only): it carries a secret, send it privately. */
    invite: (role = "editor") => account.createInvite(keyring, { role }),
    /** Stores an attachment (replacing one of the same name) and uploads it. */
    attach: async (name, bytes) => {
      await replica.writeFile(path(name), bytes);
      await replica.syncOnce();
      const { size, contentHash } = replica.stat(path(name));
      return { name, size, contentHash };
    },
    /** The attachments this device knows of, after catching up with the relay. */
    list: async () => {
      await replica.syncOnce();
      if (replica.stat(DIR) === undefined) return [];
      return replica
        .list(DIR)
        .filter((e) => e.kind === "file")
        .map((e) => ({
          name: e.path.slice(DIR.length + 1),
          size: e.size,
          contentHash: e.contentHash,
        }));
    },
    /**
     * An attachment's bytes: every chunk opened and checked against its keyed id (a forged or
     * changed chunk is WeftError INTEGRITY), then the whole content hashed again and compared
     * with the hash its writer recorded, which an app can also keep next to its own references.
     */
    read: async (name) => {
      const expected = replica.stat(path(name))?.contentHash;
      const bytes = await replica.readFile(path(name));
      const { contentHash } = await contentHashOf(bytes);
      if (contentHash !== expected)
        throw new WeftError("INTEGRITY", `${name}: content hash ${contentHash} ≠ ${expected}`);
      return bytes;
    },
    /** Reads an attachment as if the relay had changed one byte of each chunk it serves. */
    readFromTamperingRelay: async (name) => {
      remote.tamper = true;
      try {
        return await replica.readFile(path(name));
      } finally {
        remote.tamper = false;
      }
    },
    close: async () => {
      await replica.close();
      await sync.remoteBlobs.close();
    },
  };
}

/**
 * The command line: `--relay URL --user NAME [FILE…]`; the password from WEFT_PASSWORD and an
 * invite from WEFT_INVITE, never from argv. Without an invite it attaches the files (or two
 * samples) to a new store and prints an invite; with one it lists the attachments, shows a
 * tampering relay being caught, and reads each back verified. Returns what it saw.
 */
export async function main(argv = process.argv.slice(2), env = process.env, log = console.log) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { relay: { type: "string" }, user: { type: "string" } },
    allowPositionals: true,
  });
  const password = env.WEFT_PASSWORD;
  if (!values.relay || !values.user || !password)
    throw new Error(
      "usage: WEFT_PASSWORD=… [WEFT_INVITE=…] index.mjs --relay URL --user NAME [FILE…]",
    );
  const invite = env.WEFT_INVITE || undefined;
  const store = await openAttachments({ relay: values.relay, user: values.user, password, invite });
  try {
    if (!invite) {
      const files =
        positionals.length > 0
          ? await Promise.all(positionals.map(async (f) => [basename(f), await readFile(f)]))
          : [
              ["photo.bin", randomBytes(3 * 1024 * 1024)],
              ["receipt.txt", new TextEncoder().encode("1 coffee, 2.40 EUR\n")],
            ];
      const attached = [];
      for (const [name, bytes] of files) {
        const entry = await store.attach(name, new Uint8Array(bytes));
        attached.push(entry);
        log(`attached ${name}: ${entry.size} bytes, content hash ${entry.contentHash}`);
      }
      const text = await store.invite();
      log(`invite (works once; send it privately): ${text}`);
      return { invite: text, attached };
    }
    const attachments = await store.list();
    log(`${attachments.length} attachments: ${attachments.map((a) => a.name).join(", ")}`);
    let tampering = "nothing to read";
    if (attachments.length > 0) {
      tampering = await store.readFromTamperingRelay(attachments[0].name).then(
        () => "accepted (this must not happen)",
        (error) => `refused: ${error.code} (${error.message})`,
      );
      log(`a relay that changes one byte of ${attachments[0].name}: ${tampering}`);
    }
    const read = [];
    for (const a of attachments) {
      const bytes = await store.read(a.name);
      read.push({ ...a, bytes });
      log(`read ${a.name}: ${bytes.length} bytes, content hash verified ${a.contentHash}`);
    }
    return { attachments: read, tampering };
  } finally {
    await store.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`attachments: ${error.message}`);
      process.exit(1);
    },
  );
}
