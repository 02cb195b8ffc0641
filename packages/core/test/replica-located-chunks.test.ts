// Issue 14, the sender: a write whose content lies in a file on this device (`WriteOptions.source`)
// spools nothing. Each chunk's place is stored with the change, and the upload reads the chunk
// from there, checks it against its id and seals it then. A reopened replica (a process killed
// after the write) uploads from the stored places; a chunk whose file changed before its upload
// never reaches the relay, and the newer content written over it arrives on the other device.
import { randomBytes } from "node:crypto";
import { afterEach, expect, test } from "vitest";
import {
  type ChunkPlace,
  type LocalChunkSource,
  MemoryBlobStore,
  MemoryStateStore,
  Replica,
  contentHashOf,
} from "../src/index.js";
import type { MemoryHub } from "../src/testing/index.js";
import { hubFolder, syncOnHub } from "./helpers/hub-folder.js";

const chunking = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

let hub: MemoryHub | undefined;
afterEach(() => {
  hub?.close();
  hub = undefined;
});

/** "Files" by name, read by place as the agent reads its folder; knows no chunk by id. */
function fileSource(files: Map<string, Uint8Array>): LocalChunkSource {
  return {
    has: () => false,
    read: () => Promise.resolve(undefined),
    readAt: (p: ChunkPlace) =>
      Promise.resolve(files.get(p.source)?.slice(p.offset, p.offset + p.size)),
  };
}

/** A writer and a reader of one folder on a memory hub; the writer's state and spool persist. */
async function setup() {
  const folder = await hubFolder(3);
  hub = folder.hub;
  const { hub: h, folderId, keyring, writer, reader } = folder;
  const state = new MemoryStateStore();
  const spool = new MemoryBlobStore();
  const files = new Map<string, Uint8Array>();
  const errors: string[] = [];
  const open = async (identity: typeof writer, located: boolean) => {
    const r = await Replica.open({
      identity,
      folderId,
      keyring,
      state: identity === writer ? state : new MemoryStateStore(),
      blobs: identity === writer ? spool : new MemoryBlobStore(),
      chunking,
      connect: () => h.connect(),
      token: h.tokenFor(identity.deviceId),
      remoteBlobs: h.blobClient(identity.deviceId),
      reconnectDelayMs: { min: 5, max: 50 },
      ...(located ? { cacheChunks: false, localChunks: fileSource(files) } : {}),
    });
    r.on("error", ({ error, context }) => errors.push(`${context}: ${error.message}`));
    return r;
  };
  const sync = (r: Replica): Promise<void> => syncOnHub(h, r);

  return { h, writer, reader, state, spool, files, errors, open, sync };
}

test("a located write spools nothing, resumes after a restart from the stored places, and never sends a chunk its file no longer holds", async () => {
  const { h, writer, reader, spool, files, errors, open, sync } = await setup();
  const kept = new Uint8Array(randomBytes(64 * 1024));
  const first = new Uint8Array(randomBytes(64 * 1024));
  const second = new Uint8Array(randomBytes(48 * 1024));
  files.set("kept.bin", kept);
  files.set("edited.bin", first);
  // Written offline (the replica never started), then dropped as a killed process would be.
  const before = await open(writer, true);
  await before.writeFile("kept.bin", kept, { source: "kept.bin" });
  await before.writeFile("edited.bin", first, { source: "edited.bin" });
  const firstChunks = before.index.stat("edited.bin")!.version.manifest!.chunks.map((c) => c.id);
  expect((await spool.size()).count).toBe(0); // nothing sealed into the store
  await before.close();

  // The file changes before the upload; the restarted replica uploads from the stored places.
  files.set("edited.bin", second);
  const after = await open(writer, true);
  await sync(after);
  expect((await spool.size()).count).toBe(0);
  const relay = h.blobClient(reader.deviceId);
  // The old content's chunks are gone from the file: none was sent (no other bytes under its id).
  expect(await relay.has(firstChunks)).toEqual(firstChunks);
  expect(errors.some((e) => e.includes("edited.bin changed since it was recorded"))).toBe(true);

  // The next scan writes what the file holds now; the other device gets both files.
  await after.writeFile("edited.bin", second, { source: "edited.bin" });
  await sync(after);
  const other = await open(reader, false);
  await sync(other);
  expect(await other.readFile("kept.bin")).toEqual(kept);
  expect(await other.readFile("edited.bin")).toEqual(second);
  await other.close();
  await after.close();
});

test("a located write given its scan's chunk digests reads none of its data, and the upload still checks every chunk", async () => {
  const { h, writer, reader, files, errors, open, sync } = await setup();
  const content = new Uint8Array(randomBytes(40 * 1024));
  const other = new Uint8Array(randomBytes(20 * 1024));
  files.set("a.bin", content);
  files.set("b.bin", other);
  const { chunks } = await contentHashOf(content, chunking);
  expect(chunks.length).toBeGreaterThan(1);
  // The scan hashed the file; the record must not read it again.
  const unread = {
    [Symbol.asyncIterator]: () => {
      throw new Error("the data was read");
    },
  };
  const w = await open(writer, true);
  await w.writeFile("a.bin", unread, { source: "a.bin", chunks });
  expect(w.stat("a.bin")!.contentHash).toBe((await contentHashOf(content, chunking)).contentHash);
  // Digests that are not of the file's bytes name chunks the upload never finds there.
  const wrong = (await contentHashOf(new Uint8Array(randomBytes(other.length)), chunking)).chunks;
  await w.writeFile("b.bin", unread, { source: "b.bin", chunks: wrong });
  await sync(w);
  const relay = h.blobClient(reader.deviceId);
  const wrongIds = w.index.stat("b.bin")!.version.manifest!.chunks.map((c) => c.id);
  expect(await relay.has(wrongIds)).toEqual(wrongIds); // none sent
  expect(errors.some((e) => e.includes("b.bin changed since it was recorded"))).toBe(true);
  const r = await open(reader, false);
  await sync(r);
  expect(await r.readFile("a.bin")).toEqual(content);
  await r.close();
  await w.close();
});
