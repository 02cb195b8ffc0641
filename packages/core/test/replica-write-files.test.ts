// Issue 14: a scan of many new files records them as one change (`Replica.writeFiles`): one
// index transaction, one stored update and one outbox entry, not one of each per file. A file
// that cannot be written is reported on its own and the others are still written; another
// device gets every file that was.
import { randomBytes } from "node:crypto";
import { afterEach, expect, test } from "vitest";
import { MemoryBlobStore, MemoryStateStore, Replica } from "../src/index.js";
import type { MemoryHub } from "../src/testing/index.js";
import { hubFolder, syncOnHub } from "./helpers/hub-folder.js";

let hub: MemoryHub | undefined;
afterEach(() => {
  hub?.close();
  hub = undefined;
});

test("writeFiles records many files as one change, leaves out only the file that fails, and every written file arrives", async () => {
  const folder = await hubFolder(5);
  hub = folder.hub;
  const { hub: h, folderId, keyring, writer, reader } = folder;
  const open = (identity: typeof writer, state: MemoryStateStore) =>
    Replica.open({
      identity,
      folderId,
      keyring,
      state,
      blobs: new MemoryBlobStore(),
      connect: () => h.connect(),
      token: h.tokenFor(identity.deviceId),
      remoteBlobs: h.blobClient(identity.deviceId),
      reconnectDelayMs: { min: 5, max: 50 },
    });
  const sync = (r: Replica): Promise<void> => syncOnHub(h, r);

  const state = new MemoryStateStore();
  const w = await open(writer, state);
  await w.mkdir("taken");
  const changes: number[] = [];
  w.on("change", ({ origin }) => origin === "local" && changes.push(1));
  const files = Array.from({ length: 40 }, (_, i) => ({
    path: `d${i % 4}/f${i}.txt`,
    data: new Uint8Array(randomBytes(100 + i)),
  }));
  const results = await w.writeFiles([
    ...files.map((f) => ({ ...f, options: { mode: 0o600 } })),
    { path: "taken", data: new Uint8Array([1]) }, // a directory is there
  ]);
  expect(results.slice(0, 40)).toEqual(files.map(() => undefined));
  expect(results[40]).toMatchObject({ code: "IS_A_DIRECTORY" });
  expect(changes).toHaveLength(1); // one change for the 40 files
  const outbox = await state.loadRange(["replica", "outbox"]);
  expect(outbox).toHaveLength(2); // the mkdir's and the batch's
  expect(w.stat("d1/f1.txt")?.size).toBe(101);

  await sync(w);
  const r = await open(reader, new MemoryStateStore());
  await sync(r);
  for (const f of files) expect(await r.readFile(f.path)).toEqual(f.data);
  expect(r.stat("taken")?.kind).toBe("dir");
  await r.close();
  await w.close();
});
