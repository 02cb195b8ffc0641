// Two automerge-repo Repos, each with the Weft adapters (live peers and the folder) on its own
// device's Replica, sync a document through a real relay process: live, and while one is offline
// (it catches up from the relay's log with the other device gone). (Ephemeral messages: the
// acceptance suite's broadcast test and the example's presence.) The relay's disk never holds
// the document's text.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type DocHandle, Repo } from "@automerge/automerge-repo";
import { generateDeviceIdentity, ready } from "@weft/crypto";
import { MemoryBlobStore, MemoryStateStore, RelayAccount, Replica } from "@weft/core";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { WeftNetworkAdapter, WeftPeersAdapter } from "../src/index.js";

interface Doc {
  title?: string;
  items?: string[];
}

let relay: RelayProcess;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
}, 30_000);
afterAll(async () => {
  await relay.dispose();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let n = 0;
/** A device of `user` with its own replica (joining with `invite`) and a Repo on it. */
async function device(user: string, invite?: string) {
  const name = `${user}-${++n}`;
  const password = `${name}-correct-horse`;
  const identity = generateDeviceIdentity();
  await RelayAccount.register({ relay: relay.url, user: name, password });
  const account = await RelayAccount.login({ relay: relay.url, user: name, password, identity });
  const { folderId, keyring } = invite
    ? await account.redeemInvite(invite)
    : await account.createFolder();
  const replica = await Replica.open({
    identity,
    folderId,
    keyring,
    state: new MemoryStateStore(),
    blobs: new MemoryBlobStore(),
    ...account.replicaOptions(folderId, { WebSocket }),
  });
  const errors: Error[] = [];
  replica.on("error", ({ error }) => errors.push(error));
  replica.start();
  const onError = (e: Error) => errors.push(e);
  const adapter = new WeftNetworkAdapter({ replica, onError });
  const repo = new Repo({ network: [new WeftPeersAdapter({ replica, onError }), adapter] });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await repo.shutdown();
    await replica.close();
  };
  cleanups.push(close);
  return {
    replica,
    repo,
    adapter,
    errors,
    close,
    invite: () => account.createInvite(keyring, { role: "editor" }),
  };
}

/** Resolves once `predicate(doc)` holds for the handle's document, checked after each change. */
function until<T>(handle: DocHandle<T>, predicate: (doc: T) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      const doc = handle.doc();
      if (doc !== undefined && predicate(doc)) {
        handle.off("change", check);
        resolve();
      }
    };
    handle.on("change", check);
    check();
  });
}

test("two repos sync a document through the relay, and one catches up after being offline", async () => {
  const ana = await device("ana");
  const ben = await device("ben", await ana.invite());

  const anaDoc = ana.repo.create<Doc>({ title: "groceries", items: ["milk"] });
  // Ben's repo asks its folder for a document it has never seen: it arrives from ana's device.
  const benDoc = await ben.repo.find<Doc>(anaDoc.url);
  await until(benDoc, (d) => d.items?.length === 1);
  expect(benDoc.doc().title).toBe("groceries");

  // Live, both ways.
  benDoc.change((d) => d.items!.push("eggs"));
  await until(anaDoc, (d) => d.items?.length === 2);

  // Ben goes offline and keeps editing; ana edits, makes sure the relay has it and leaves.
  ben.replica.stop();
  benDoc.change((d) => d.items!.push("bread"));
  anaDoc.change((d) => {
    d.title = "groceries for the weekend";
  });
  await ana.adapter.whenStored(anaDoc);
  const cleoInvite = await ana.invite(); // only the owner invites
  await ana.replica.syncOnce();
  await ana.close();

  // Back online with nobody else there: ana's edit comes from the relay's log, ben's goes up.
  ben.replica.start();
  await until(benDoc, (d) => d.title === "groceries for the weekend");
  expect(benDoc.doc().items).toEqual(["milk", "eggs", "bread"]);
  await ben.adapter.whenStored(benDoc);
  await ben.replica.syncOnce();

  // A third device that joins later gets both from the relay alone.
  const cleo = await device("cleo", cleoInvite);
  await ben.close();
  const cleoDoc = await cleo.repo.find<Doc>(anaDoc.url);
  await until(cleoDoc, (d) => d.items?.length === 3 && d.title === "groceries for the weekend");
  expect(cleo.errors).toEqual([]);

  // The relay stored all of it, sealed: its disk holds none of the text.
  for (const file of await filesUnder(relay.dir)) {
    const bytes = await readFile(file);
    for (const word of ["groceries", "weekend", "bread"])
      expect(bytes.includes(word), `${word} in ${file}`).toBe(false);
  }
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
