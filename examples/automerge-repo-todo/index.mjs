#!/usr/bin/env node
// An automerge-repo app, a shared todo list, synced end to end encrypted through a Weft relay:
// the Repo is plain automerge-repo; only its network adapters are Weft's. The relay keeps every
// change (sealed) so an instance that was offline catches up even when nobody else is online,
// and never sees a todo, a change or the document's id. The first instance creates a folder
// and the list and prints an invite and the list's URL; others join with both.
//
//   npm start    # the relay, on http://127.0.0.1:8787
//   WEFT_PASSWORD=… node examples/automerge-repo-todo/index.mjs --relay http://127.0.0.1:8787 --user ana
//   WEFT_PASSWORD=… WEFT_INVITE='weft1:…' node examples/automerge-repo-todo/index.mjs \
//     --relay http://127.0.0.1:8787 --user ben --doc automerge:…
import { Repo } from "@automerge/automerge-repo";
import { WeftNetworkAdapter, WeftPeersAdapter } from "@weft/automerge-repo";
import { generateDeviceIdentity, ready } from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  ProtocolError,
  RelayAccount,
  Replica,
} from "@weft/core";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { clearTimeout, setTimeout } from "node:timers";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";

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
 * Opens the todo list: with `invite` and `doc` joins one, otherwise creates a folder and a list.
 * The document is `{ todos: [{ title, done }] }`, made once by its creator (see the README).
 * State lives in memory; an app would pass a persistent StateStore (and a Repo storage).
 */
export async function openTodoRepo({ relay, user, password, invite, doc, name = user, onError }) {
  if ((invite === undefined) !== (doc === undefined))
    throw new Error("joining takes both an invite and the list's URL");
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

  // The folder keeps the documents (and catches up from the relay); the peers adapter adds the
  // Repos online right now: faster, and a list created a moment ago is found at once.
  const folder = new WeftNetworkAdapter({ replica, onError: report });
  const peers = new WeftPeersAdapter({ replica, onError: report });
  const repo = new Repo({ network: [peers, folder] });
  const handle = doc ? await repo.find(doc) : repo.create({ todos: [] });

  // Presence: each instance says its name when it opens and when a Repo joins.
  const present = new Map(); // peer id → name
  const hello = () => handle.broadcast({ name });
  handle.on("ephemeral-message", ({ senderId, message }) => {
    if (typeof message?.name !== "string") return;
    if (!present.has(senderId)) hello(); // a newcomer: tell it who is here
    present.set(senderId, message.name);
    changed();
  });
  // And to every Repo that turns up (the folder's copy of the hello reaches its device even
  // before its Repo has started syncing this list with this one).
  repo.networkSubsystem.on("peer", hello);
  repo.networkSubsystem.on("peer-disconnected", ({ peerId }) => {
    if (present.delete(peerId)) changed();
  });
  hello();

  const listeners = new Set();
  const changed = () => listeners.forEach((listener) => listener());
  handle.on("change", changed);

  const app = {
    url: handle.url,
    /** A one-time invite to the folder (owner only): it carries a secret, send it privately. */
    invite: (role = "editor") => account.createInvite(keyring, { role }),
    add: (title) => handle.change((d) => void d.todos.push({ title, done: false })),
    toggle: (index) => handle.change((d) => void (d.todos[index].done = !d.todos[index].done)),
    todos: () => (handle.doc()?.todos ?? []).map(({ title, done }) => ({ title, done })),
    /** Names of the other instances online now. */
    present: () => [...present.values()].sort(),
    /** Resolves once this device stored every change made so far (sent whenever online). */
    stored: () => folder.whenStored(handle),
    goOffline: () => replica.stop(),
    goOnline: () => replica.start(),
    /** Resolves once `predicate(app)` holds, checked after every change; rejects after `ms`. */
    until: (predicate, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(app)) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out; todos: ${JSON.stringify(app.todos())}`));
        }, ms);
        listeners.add(check);
        check();
      }),
    close: async () => {
      listeners.clear();
      await folder.whenStored(handle).catch(() => undefined);
      await replica.syncOnce().catch(() => undefined);
      await repo.shutdown();
      await replica.close();
      await sync.remoteBlobs.close();
    },
  };
  return app;
}

/**
 * The command line: `--relay URL --user NAME [--doc URL]`; the password from WEFT_PASSWORD and
 * an invite from WEFT_INVITE, never from argv. Each line typed adds a todo; `x N` ticks todo N.
 */
export async function main(argv = process.argv.slice(2), env = process.env, io = {}) {
  const say = io.log ?? console.log;
  const { values } = parseArgs({
    args: argv,
    options: { relay: { type: "string" }, user: { type: "string" }, doc: { type: "string" } },
  });
  const password = env.WEFT_PASSWORD;
  if (!values.relay || !values.user || !password)
    throw new Error(
      "usage: WEFT_PASSWORD=… [WEFT_INVITE=…] index.mjs --relay URL --user NAME [--doc URL]",
    );
  const invite = env.WEFT_INVITE || undefined;
  const list = await openTodoRepo({
    relay: values.relay,
    user: values.user,
    password,
    ...(invite ? { invite, doc: values.doc } : {}),
  });
  const show = () =>
    say(`todos: ${JSON.stringify(list.todos().map((t) => `[${t.done ? "x" : " "}] ${t.title}`))}`);
  if (!invite) {
    say(`invite (send it privately): ${await list.invite()}`);
    say(`list: ${list.url}`);
  }
  show();
  try {
    for await (const line of createInterface({ input: io.input ?? process.stdin })) {
      const tick = /^x\s+(\d+)$/.exec(line.trim());
      if (tick && Number(tick[1]) <= list.todos().length) list.toggle(Number(tick[1]) - 1);
      else if (line.trim()) list.add(line.trim());
      show();
    }
  } finally {
    await list.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`todo: ${error.message}`);
    process.exitCode = 1;
  });
}
