#!/usr/bin/env node
// Notes that survive a restart: a Replica whose state and chunks live in SQLite files
// (@weft/sqlite-store), so a new process on the same data directory has its notes before it
// connects, and syncs on from where the last one stopped: its unsent edits included.
//
//   npx weft-relay --port 8787 &      # or, in the repo: npm start
//   export WEFT_PASSWORD=…            # never in argv
//   node index.mjs --data ./ana --relay http://127.0.0.1:8787 --user ana --add "first" --invite
//   node index.mjs --data ./ana --offline --add "written offline"   # a restart, no network
//   node index.mjs --data ./ana                                     # a restart: sends it
//   WEFT_INVITE='weft1:…' node index.mjs --data ./ben --relay … --user ben
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TextDecoder, TextEncoder, parseArgs } from "node:util";
import {
  FolderKeyring,
  deviceIdentityFromSeeds,
  fromBase64Url,
  protectSecret,
  randomBytes,
  ready,
  toBase64Url,
  unprotectSecret,
} from "@weft/crypto";
import { ProtocolError, RelayAccount, Replica } from "@weft/core";
import { SqliteBlobStore, SqliteStateStore } from "@weft/sqlite-store";
import { WebSocket } from "ws";

/**
 * This device's settings in `<data>/device.json` (mode 0600): relay, user, folder, and its
 * secrets (the device's key seeds and the folder keys) sealed with the password (Argon2id and
 * XChaCha20-Poly1305), so that a restart without the network still has them.
 */
class DeviceFile {
  /** `secrets` is `{ seeds, keys: [[epoch, key], …] }`, base64url, as sealed in the file. */
  constructor(path, password, { relay, user, folderId }, secrets) {
    this.path = path;
    this.password = password;
    this.relay = relay;
    this.user = user;
    this.folderId = folderId;
    this.seeds = fromBase64Url(secrets.seeds);
    this.identity = deviceIdentityFromSeeds(this.seeds.slice(0, 32), this.seeds.slice(32));
    this.keyring = undefined;
    if (folderId !== undefined) {
      this.keyring = new FolderKeyring(folderId);
      for (const [epoch, key] of secrets.keys) this.keyring.add(epoch, fromBase64Url(key));
    }
  }

  /** Reads the file; on the first run (no file) makes a new device for `relay` and `user`. */
  static async open(data, password, { relay, user }) {
    const path = join(data, "device.json");
    let saved;
    try {
      saved = JSON.parse(await readFile(path, "utf8"));
    } catch (error) {
      if (error.code !== "ENOENT") throw error;
    }
    if (saved) {
      const sealed = unprotectSecret(fromBase64Url(saved.secrets), password);
      return new DeviceFile(path, password, saved, JSON.parse(new TextDecoder().decode(sealed)));
    }
    if (!relay || !user) throw new Error(`${path} is absent: pass --relay and --user`);
    // Written by save() once there is a folder: a run that fails before leaves nothing behind.
    const seeds = toBase64Url(randomBytes(64));
    return new DeviceFile(path, password, { relay, user }, { seeds, keys: [] });
  }

  /** Stores the folder and its keys (a temp file, then a rename: never half a file). */
  async save(folderId, keyring) {
    this.folderId = folderId;
    this.keyring = keyring;
    const keys = keyring.epochs.map((e) => [e, toBase64Url(keyring.folderKey(e))]);
    const secrets = JSON.stringify({ seeds: toBase64Url(this.seeds), keys });
    const json = {
      relay: this.relay,
      user: this.user,
      folderId,
      secrets: toBase64Url(protectSecret(new TextEncoder().encode(secrets), this.password)),
    };
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFile(`${this.path}.tmp`, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600 });
    await rename(`${this.path}.tmp`, this.path);
  }
}

/**
 * Opens the notes in `data`. The first run signs up (or in) and creates the folder, or joins
 * it with `invite`; later runs reopen the same files, and with `offline` do not connect at all.
 */
export async function openNotes({ data, password, relay, user, invite, offline = false }) {
  await ready();
  const device = await DeviceFile.open(data, password, { relay, user });
  const { identity } = device;
  let account;
  if (!offline || device.folderId === undefined) {
    try {
      await RelayAccount.register({ relay: device.relay, user: device.user, password });
    } catch (error) {
      // The name exists: the password decides at login.
      if (!(error instanceof ProtocolError && error.wireCode === "conflict")) throw error;
    }
    account = await RelayAccount.login({
      relay: device.relay,
      user: device.user,
      password,
      identity,
    });
  }
  if (device.folderId === undefined) {
    const { folderId, keyring } = invite
      ? await account.redeemInvite(invite)
      : await account.createFolder();
    await device.save(folderId, keyring);
  } else if (account) {
    // Keys of epochs made since (a member was removed) come from the relay, sealed to us.
    const keyring = await account.folderKeys(device.folderId, device.keyring);
    if (keyring.latestEpoch !== device.keyring.latestEpoch)
      await device.save(device.folderId, keyring);
  }
  const { folderId, keyring } = device;
  const sync = account ? account.replicaOptions(folderId, { WebSocket }) : undefined;
  // The two files that make a restart a restart: the replica's state and its chunks.
  const state = await SqliteStateStore.open(join(data, "replica.sqlite"));
  const blobs = await SqliteBlobStore.open(join(data, "chunks.sqlite"));
  const replica = await Replica.open({ identity, folderId, keyring, state, blobs, ...sync });
  if (sync) replica.start();
  const notes = (await replica.doc("notes")).getArray("notes");
  return {
    deviceId: identity.deviceId,
    /** A one-time invite to the notes (send it privately: it carries a secret). */
    invite: () => account.createInvite(keyring, { role: "editor" }),
    add: (text) => notes.push([text]),
    notes: () => notes.toArray(),
    /** Sends this device's edits and takes the others'; resolves when nothing is pending. */
    sync: () => (sync ? replica.syncOnce() : Promise.resolve()),
    close: async () => {
      await replica.close(); // waits until every edit is stored
      await state.close();
      await blobs.close();
      await sync?.remoteBlobs.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      data: { type: "string" },
      relay: { type: "string" },
      user: { type: "string" },
      add: { type: "string", multiple: true },
      offline: { type: "boolean" },
      invite: { type: "boolean" },
    },
  });
  const password = process.env.WEFT_PASSWORD;
  if (!values.data || !password) {
    console.error(
      "usage: WEFT_PASSWORD=… [WEFT_INVITE=…] node index.mjs --data DIR [--relay URL --user NAME]" +
        " [--add TEXT]… [--offline] [--invite]",
    );
    process.exit(2);
  }
  const notes = await openNotes({
    data: values.data,
    password,
    relay: values.relay,
    user: values.user,
    invite: process.env.WEFT_INVITE,
    offline: values.offline,
  });
  console.log(`stored: ${JSON.stringify(notes.notes())}`);
  for (const text of values.add ?? []) notes.add(text);
  await notes.sync();
  console.log(`notes: ${JSON.stringify(notes.notes())}`);
  if (values.invite) console.log(`invite: ${await notes.invite()}`);
  await notes.close();
}
