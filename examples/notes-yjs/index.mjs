#!/usr/bin/env node
// Shared notes: a Yjs document synced end to end through a real relay, which only ever sees
// ciphertext. The first instance creates the notes and prints an invite; others join with it.
// Every instance edits at once, offline or not, and all converge; each shows who else is here
// (Yjs awareness, sent as sealed ephemeral messages and never stored).
//
//   npm start    # the relay, on http://127.0.0.1:8787
//   WEFT_PASSWORD=… node examples/notes-yjs/index.mjs --relay http://127.0.0.1:8787 --user ana
//   WEFT_PASSWORD=… WEFT_INVITE='weft1:…' node examples/notes-yjs/index.mjs --relay … --user ben
import { generateDeviceIdentity, ready } from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  ProtocolError,
  RelayAccount,
  Replica,
  WeftProvider,
} from "@weft/core";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { clearTimeout } from "node:timers";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import * as Y from "yjs";

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
 * Opens the shared notes on `relay` as `user`: creates them (and a folder to hold them) or,
 * given an invite, joins the notes someone else created. State lives in memory, so each run is
 * a new device; an app would pass its own StateStore and BlobStore to keep it.
 */
export async function openNotes({ relay, user, password, invite, name = user, onError }) {
  await ready();
  const identity = generateDeviceIdentity();
  const account = await signIn(relay, user, password, identity);
  const { folderId, keyring } = invite
    ? await account.redeemInvite(invite)
    : await account.createFolder();
  const sync = account.replicaOptions(folderId, { WebSocket });
  const replica = await Replica.open({
    identity,
    folderId,
    keyring,
    state: new MemoryStateStore(),
    blobs: new MemoryBlobStore(),
    ...sync,
  });
  const report = onError ?? ((error) => console.warn(`notes: ${error.message}`));
  replica.on("error", ({ error, context }) => report(new Error(`${context}: ${error.message}`)));
  replica.start();
  // WeftProvider has y-websocket's shape: an app moving off y-websocket changes one line.
  const doc = new Y.Doc();
  const provider = new WeftProvider(replica, "notes", doc, { onError: report });
  provider.awareness.setLocalStateField("user", { name });
  const notes = doc.getArray("notes");

  const listeners = new Set();
  const changed = () => listeners.forEach((listener) => listener());
  doc.on("update", changed);
  provider.awareness.on("update", changed);
  const onChange = (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };

  const app = {
    deviceId: identity.deviceId,
    folderId,
    /** A one-time invite to these notes (owner only): it carries a secret, send it privately. */
    invite: (role = "editor") => account.createInvite(keyring, { role }),
    /** Adds a note. */
    add: (text) => notes.push([new Y.Text(text)]),
    /** Appends to note `index`: concurrent appends from several devices all survive. */
    append: (index, text) => {
      const note = notes.get(index);
      if (note === undefined) throw new Error(`there is no note ${index}`);
      note.insert(note.length, text);
    },
    /** The notes, as text. */
    notes: () => notes.toArray().map((note) => note.toString()),
    /** Names of the other instances here now. */
    present: () =>
      [...provider.awareness.getStates()]
        .filter(([client]) => client !== provider.awareness.clientID)
        .map(([, state]) => state.user?.name)
        .filter((n) => typeof n === "string")
        .sort(),
    /** Whether the notes have caught up with the relay since connecting. */
    synced: () => provider.synced,
    /** Stops syncing (edits go on locally and are sent on `goOnline`). */
    goOffline: () => replica.stop(),
    goOnline: () => replica.start(),
    onChange,
    /** Resolves once `predicate(app)` holds, checked after every change; rejects after `ms`. */
    until: (predicate, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(app)) return;
          clearTimeout(timer);
          off();
          resolve();
        };
        const timer = setTimeout(() => {
          off();
          reject(new Error(`timed out; notes: ${JSON.stringify(app.notes())}`));
        }, ms);
        const off = onChange(check);
        check();
      }),
    close: async () => {
      listeners.clear();
      provider.destroy(); // tells the others this instance left
      await replica.close();
      await sync.remoteBlobs.close();
    },
  };
  return app;
}

/**
 * The command line: `--relay URL --user NAME`; the password from WEFT_PASSWORD and an invite
 * from WEFT_INVITE (or, with `--join`, the first line of stdin), never from argv where other
 * users of the machine can read them. Each line typed adds a note; `+N text` appends to note N.
 */
export async function main(argv = process.argv.slice(2), env = process.env, io = {}) {
  const input = io.input ?? process.stdin;
  const say = io.log ?? console.log;
  const { values } = parseArgs({
    args: argv,
    options: { relay: { type: "string" }, user: { type: "string" }, join: { type: "boolean" } },
  });
  const password = env.WEFT_PASSWORD;
  if (!values.relay || !values.user || !password)
    throw new Error("usage: WEFT_PASSWORD=… [WEFT_INVITE=…] index.mjs --relay URL --user NAME");
  // One reader for all of stdin: with --join its first line is the invite, the rest are notes.
  const lines = createInterface({ input })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value;
  const invite = env.WEFT_INVITE || (values.join ? (await next())?.trim() : undefined);
  const notes = await openNotes({ relay: values.relay, user: values.user, password, invite });
  say(`${values.user} is device ${notes.deviceId}`);
  if (!invite) say(`invite (works once; send it privately): ${await notes.invite()}`);
  let shown = "";
  let here;
  const show = () => {
    const now = JSON.stringify(notes.notes());
    if (now !== shown) say(`notes: ${(shown = now)}`);
    const who = notes.present().join(", ");
    if (who !== here) say(`here: ${(here = who) || "nobody else"}`);
  };
  notes.onChange(show);
  show();
  for (let line = await next(); line !== undefined; line = await next()) {
    const append = /^\+(\d+) (.*)$/.exec(line);
    if (append) notes.append(Number(append[1]), append[2]);
    else if (line.trim() !== "") notes.add(line.trim());
  }
  await notes.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`notes: ${error.message}`);
      process.exit(1);
    },
  );
}
