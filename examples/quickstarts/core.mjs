// Two devices edit one Yjs document, end to end encrypted through a relay that only sees
// ciphertext. Needs @weft/core, @weft/crypto and ws (Node 20 has no WebSocket of its own); not
// @automerge/automerge, which only apps opening Automerge documents install.
//
//   npx weft-relay --port 8787 &       # or, in the repo: npm start
//   WEFT_RELAY=http://127.0.0.1:8787 node core.mjs
import { randomUUID } from "node:crypto";
import { generateDeviceIdentity, ready } from "@weft/crypto";
import { MemoryBlobStore, MemoryStateStore, RelayAccount, Replica } from "@weft/core";
import { WebSocket } from "ws";

const relay = process.env.WEFT_RELAY ?? "http://127.0.0.1:8787";
await ready();

/** A new device of a new account (throwaway name and password); `invite` joins a folder. */
async function device(name, invite) {
  const user = `${name}-${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  await RelayAccount.register({ relay, user, password });
  const identity = generateDeviceIdentity();
  const account = await RelayAccount.login({ relay, user, password, identity });
  const { folderId, keyring } = invite
    ? await account.redeemInvite(invite)
    : await account.createFolder();
  const sync = account.replicaOptions(folderId, { WebSocket });
  // Memory stores: state is gone on exit. @weft/sqlite-store keeps it in a file.
  const replica = await Replica.open({
    identity,
    folderId,
    keyring,
    state: new MemoryStateStore(),
    blobs: new MemoryBlobStore(),
    ...sync,
  });
  replica.start();
  const close = async () => {
    await replica.close();
    await sync.remoteBlobs.close();
  };
  return { account, keyring, replica, close };
}

const ana = await device("ana");
const ben = await device("ben", await ana.account.createInvite(ana.keyring));

// replica.doc(name) is a Y.Doc: edit it as any Yjs document; Weft stores, seals and sends.
const anaDoc = await ana.replica.doc("notes");
const benDoc = await ben.replica.doc("notes");
anaDoc.getText("body").insert(0, "hello from ana");

const text = benDoc.getText("body");
await new Promise((resolve) => {
  const check = () => text.toString() === "hello from ana" && resolve();
  benDoc.on("update", check);
  check();
});
console.log(`ben sees: ${text.toString()}`);

await ana.close();
await ben.close();
