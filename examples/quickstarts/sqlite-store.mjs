// @weft/sqlite-store in ten minutes: a Replica whose state and chunks live in two SQLite files.
// Write a file and a document, close everything (as a process that ends would), open the same
// files again and read them back. No relay here: add `...account.replicaOptions(folderId)` to
// Replica.open (see the @weft/core quickstart) and the same replica syncs, resuming unsent
// changes after a restart.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { Replica } from "@weft/core";
import { SqliteBlobStore, SqliteStateStore } from "@weft/sqlite-store";

await ready();
const dir = await mkdtemp(join(tmpdir(), "weft-quickstart-"));
const identity = generateDeviceIdentity();
const folderId = newFolderId();
const keyring = new FolderKeyring(folderId);
keyring.add(0, generateFolderKey());

/** Opens the replica on the files in `dir` (created on first use, mode 0600). */
async function open() {
  const state = await SqliteStateStore.open(join(dir, "replica.sqlite"));
  const blobs = await SqliteBlobStore.open(join(dir, "chunks.sqlite"));
  const replica = await Replica.open({ identity, folderId, keyring, state, blobs });
  const close = async () => {
    await replica.close(); // first the replica (it waits for its writes), then the stores
    await state.close();
    await blobs.close();
  };
  return { replica, close };
}

const first = await open();
await first.replica.writeFile("notes/today.md", new TextEncoder().encode("# Today\n"));
(await first.replica.doc("todo")).getArray("items").push(["water the plants"]);
await first.close();

const again = await open(); // what a new process on the same files sees
const file = await again.replica.readFile("notes/today.md"); // every chunk verified
const items = (await again.replica.doc("todo")).getArray("items").toArray();
console.log(
  `after reopening: ${JSON.stringify(new TextDecoder().decode(file))} ${JSON.stringify(items)}`,
);
await again.close();
await rm(dir, { recursive: true });
