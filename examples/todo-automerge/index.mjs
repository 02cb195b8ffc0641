#!/usr/bin/env node
// A shared todo list: an Automerge document synced end to end through a real relay, which only
// ever sees ciphertext. The first instance creates the list and prints an invite; others join
// with it. Edits made at the same time, online or offline, merge (titles are Automerge text, so
// two people typing into one title both keep their words); each instance shows who else is here
// through ephemeral messages, sealed like everything else and never stored.
//
//   npm start    # the relay, on http://127.0.0.1:8787
//   WEFT_PASSWORD=… node examples/todo-automerge/index.mjs --relay http://127.0.0.1:8787 --user ana
//   WEFT_PASSWORD=… WEFT_INVITE='weft1:…' node examples/todo-automerge/index.mjs --relay … --user ben
import * as A from "@automerge/automerge";
import { generateDeviceIdentity, randomBytes, ready, toHex } from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  ProtocolError,
  RelayAccount,
  Replica,
} from "@weft/core";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { clearInterval, clearTimeout, setInterval } from "node:timers";
import { TextDecoder, TextEncoder, parseArgs } from "node:util";
import { WebSocket } from "ws";

/** A device unheard of for this long has left (it says so when it closes; this is for crashes). */
const PRESENCE_TIMEOUT_MS = 30_000;
const HEARTBEAT_MS = 10_000;

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
 * Opens the shared todo list on `relay` as `user`: creates it or, given an invite, joins one.
 * The document's root maps a random id to `{ title, done, created }`: every device adds under
 * its own new keys, so nothing has to be created up front by both (which Automerge would merge
 * into two competing lists). State lives in memory; an app would pass its own stores.
 */
export async function openTodos({ relay, user, password, invite, name = user, onError }) {
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
  const report = onError ?? ((error) => console.warn(`todo: ${error.message}`));
  replica.on("error", ({ error, context }) => report(new Error(`${context}: ${error.message}`)));
  replica.start();
  const handle = await replica.automerge("todos");

  const listeners = new Set();
  const changed = () => listeners.forEach((listener) => listener());
  const onChange = (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  };
  handle.on("change", changed);

  // Presence: "hello" when connecting (peers answer, so a newcomer learns who is here), a
  // heartbeat, "bye" when closing. Forgotten when offline: the next hello brings them back.
  const peers = new Map(); // deviceId → { name, seen }
  const send = (kind) =>
    handle.sendEphemeral(new TextEncoder().encode(JSON.stringify({ kind, name })));
  handle.on("ephemeral", ({ payload, from }) => {
    let message;
    try {
      message = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return; // from a newer version of the app, say: presence is best effort
    }
    if (message.kind === "bye") peers.delete(from);
    else if (typeof message.name === "string")
      peers.set(from, { name: message.name, seen: Date.now() });
    if (message.kind === "hello") send("here");
    changed();
  });
  const offStatus = handle.channel.on("status", ({ status }) => {
    if (status === "connected") send("hello");
    else if (status === "disconnected" && peers.size > 0) {
      peers.clear();
      changed();
    }
  });
  if (handle.channel.status === "connected") send("hello");
  const heartbeat = setInterval(() => {
    send("here");
    for (const [id, peer] of peers)
      if (Date.now() - peer.seen > PRESENCE_TIMEOUT_MS) peers.delete(id);
    changed();
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const todo = (id) => {
    if (!Object.hasOwn(handle.doc(), id)) throw new Error(`there is no todo ${id}`);
    return id;
  };
  const app = {
    deviceId: identity.deviceId,
    folderId,
    /** A one-time invite to the list (owner only): it carries a secret, send it privately. */
    invite: (role = "editor") => account.createInvite(keyring, { role }),
    /** Adds a todo; resolves with its id once stored locally. */
    add: async (title) => {
      const id = toHex(randomBytes(6));
      await handle.change((d) => {
        d[id] = { title, done: false, created: Date.now() };
      });
      return id;
    },
    setDone: (id, done) => handle.change((d) => void (d[todo(id)].done = done)),
    /** Inserts text into a title at `index` (default: the end). */
    type: (id, text, index) =>
      handle.change((d) => {
        const title = d[todo(id)].title;
        A.splice(d, [id, "title"], index ?? title.length, 0, text);
      }),
    remove: (id) => handle.change((d) => void delete d[todo(id)]),
    /** The todos, oldest first. */
    todos: () =>
      Object.entries(handle.doc())
        .map(([id, t]) => ({
          id,
          title: String(t.title),
          done: t.done === true,
          created: t.created,
        }))
        .sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : 1))
        .map(({ id, title, done }) => ({ id, title, done })),
    /** Names of the other instances here now. */
    present: () => [...peers.values()].map((p) => p.name).sort(),
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
          reject(new Error(`timed out; todos: ${JSON.stringify(app.todos())}`));
        }, ms);
        const off = onChange(check);
        check();
      }),
    close: async () => {
      clearInterval(heartbeat);
      listeners.clear();
      offStatus();
      send("bye");
      handle.close();
      await replica.close();
      await sync.remoteBlobs.close();
    },
  };
  return app;
}

/**
 * The command line: `--relay URL --user NAME`; the password from WEFT_PASSWORD and an invite
 * from WEFT_INVITE (or, with `--join`, the first line of stdin), never from argv. Each line
 * typed adds a todo; `x N` ticks (or unticks) todo N; `+N text` types onto its title.
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
  // One reader for all of stdin: with --join its first line is the invite, the rest are todos.
  const lines = createInterface({ input })[Symbol.asyncIterator]();
  const next = async () => (await lines.next()).value;
  const invite = env.WEFT_INVITE || (values.join ? (await next())?.trim() : undefined);
  const list = await openTodos({ relay: values.relay, user: values.user, password, invite });
  say(`${values.user} is device ${list.deviceId}`);
  if (!invite) say(`invite (works once; send it privately): ${await list.invite()}`);
  let shown = "";
  let here;
  const show = () => {
    const now = JSON.stringify(list.todos().map((t) => `[${t.done ? "x" : " "}] ${t.title}`));
    if (now !== shown) say(`todos: ${(shown = now)}`);
    const who = list.present().join(", ");
    if (who !== here) say(`here: ${(here = who) || "nobody else"}`);
  };
  list.onChange(show);
  show();
  for (let line = await next(); line !== undefined; line = await next()) {
    const [, tick, plus, text] = /^(?:x (\d+)|\+(\d+) (.*))$/.exec(line.trim()) ?? [];
    const nth = (n) => list.todos()[Number(n) - 1]?.id;
    try {
      if (tick !== undefined) {
        const id = nth(tick);
        if (id) await list.setDone(id, !list.todos().find((t) => t.id === id).done);
      } else if (plus !== undefined) {
        const id = nth(plus);
        if (id) await list.type(id, text);
      } else if (line.trim() !== "") await list.add(line.trim());
    } catch (error) {
      say(`could not: ${error.message}`);
    }
  }
  await list.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(`todo: ${error.message}`);
      process.exit(1);
    },
  );
}
