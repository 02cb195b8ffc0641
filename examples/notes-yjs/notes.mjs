// Shared notes, the part that runs anywhere (Node and browsers): sign in, open the folder's
// replica, and a Yjs array of notes with presence. index.mjs is the command line around it,
// web/ the page.
import { generateDeviceIdentity, ready } from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  ProtocolError,
  RelayAccount,
  Replica,
  WeftProvider,
} from "@weft/core";
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
 * given an invite, joins the notes someone else created. Each call is a new device. Its state
 * lives in memory unless `openStores({ deviceId, folderId })` gives a StateStore and a
 * BlobStore (the web page's are in IndexedDB). `WebSocket`: the class to connect with (default:
 * the global one, as in browsers and Node 22).
 */
export async function openNotes({
  relay,
  user,
  password,
  invite,
  name = user,
  onError,
  WebSocket,
  openStores,
}) {
  await ready();
  const identity = generateDeviceIdentity();
  const account = await signIn(relay, user, password, identity);
  const { folderId, keyring } = invite
    ? await account.redeemInvite(invite)
    : await account.createFolder();
  const sync = account.replicaOptions(folderId, WebSocket ? { WebSocket } : {});
  const { state, blobs } = openStores
    ? await openStores({ deviceId: identity.deviceId, folderId })
    : { state: new MemoryStateStore(), blobs: new MemoryBlobStore() };
  const replica = await Replica.open({ identity, folderId, keyring, state, blobs, ...sync });
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
