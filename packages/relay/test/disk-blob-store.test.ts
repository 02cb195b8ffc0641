// DiskBlobStore: the shared BlobStore suite on a real directory, plus what only a directory has:
// the shard layout, leftovers of a crash, and counts rebuilt on open; and the relay's chunk-store
// suite (helpers/chunk-store-suite.ts), which the S3 store runs too.
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { runBlobStoreTests } from "@weft/core/conformance";
import type { ChunkId } from "@weft/crypto";
import { DiskBlobStore } from "../src/store/index.js";
import { runChunkStoreTests } from "./helpers/chunk-store-suite.js";

runBlobStoreTests("DiskBlobStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "weft-blobs-"));
  const path = join(dir, "chunks");
  return {
    store: await DiskBlobStore.open(path),
    reopen: () => DiskBlobStore.open(path),
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});

const id = (hex: string): ChunkId => hex.padEnd(64, "0") as ChunkId;

describe("DiskBlobStore on disk", () => {
  let dir: string;
  let store: DiskBlobStore | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "weft-blobs-"));
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  test("a chunk is the file <dir>/ab/cd/<id>, owner-only, with no temp file left", async () => {
    store = await DiskBlobStore.open(dir);
    const chunk = id("abcdef12");
    await store.put(chunk, Uint8Array.of(1, 2, 3));
    const path = join(dir, "ab", "cd", chunk);
    expect((await stat(path)).size).toBe(3);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "ab", "cd"))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir, "ab", "cd"))).toEqual([chunk]);
    expect(await readdir(dir)).toEqual(["ab"]);
  });

  test("temp files left by a crash are removed on open and not counted", async () => {
    const shard = join(dir, "ab", "cd");
    await mkdir(shard, { recursive: true });
    await writeFile(join(shard, ".tmp-0123456789abcdef"), new Uint8Array(100));
    await writeFile(join(dir, ".tmp-feedface"), new Uint8Array(7));
    await writeFile(join(shard, id("abcd")), Uint8Array.of(9, 9));
    store = await DiskBlobStore.open(dir);
    expect(await readdir(shard)).toEqual([id("abcd")]);
    expect(await readdir(dir)).toEqual(["ab"]);
    expect(await store.size()).toEqual({ count: 1, bytes: 2 });
  });

  test("size() is rebuilt on open, ignoring files that are not chunks in their shard", async () => {
    store = await DiskBlobStore.open(dir);
    await store.put(id("0001"), new Uint8Array(10));
    await store.put(id("0002"), new Uint8Array(20));
    await store.put(id("ff"), new Uint8Array(0));
    await store.put(id("1234"), new Uint8Array(5));
    // Several in one shard, so that the walk adds up sizes that arrive together.
    await store.put(id("00011"), new Uint8Array(7));
    await store.put(id("00012"), new Uint8Array(8));
    await store.delete([id("0002")]);
    await store.close();
    // A chunk id filed under the wrong shard, a foreign name and a foreign directory.
    await writeFile(join(dir, "00", "01", id("9999")), new Uint8Array(1000));
    await writeFile(join(dir, "00", "01", "notes.txt"), new Uint8Array(1000));
    await mkdir(join(dir, "lost+found"));
    store = await DiskBlobStore.open(dir);
    expect(await store.size()).toEqual({ count: 5, bytes: 30 });
    expect(await store.has([id("0001"), id("0002"), id("9999")])).toEqual([id("0002"), id("9999")]);
  });

  test("a range read of a large chunk returns just that range", async () => {
    store = await DiskBlobStore.open(dir);
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    await store.put(id("42"), big);
    const part = await store.get(id("42"), { start: (1 << 20) + 3, end: (1 << 20) + 8 });
    expect(part).toEqual(big.slice((1 << 20) + 3, (1 << 20) + 8));
  });

  test("close waits for writes under way", async () => {
    const writer = await DiskBlobStore.open(dir);
    store = writer;
    const puts = Array.from({ length: 20 }, (_, i) =>
      writer.put(id(i.toString(16).padStart(4, "0")), new Uint8Array(1000)),
    );
    await writer.close();
    await Promise.all(puts);
    await expect(writer.put(id("ff"), new Uint8Array(1))).rejects.toThrow(/closed/);
    const reopened = await DiskBlobStore.open(dir);
    expect(await reopened.size()).toEqual({ count: 20, bytes: 20_000 });
    await reopened.close();
  });
});

runChunkStoreTests("DiskBlobStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "weft-blobs-"));
  const chunkPath = (chunk: ChunkId): string =>
    join(dir, chunk.slice(0, 2), chunk.slice(2, 4), chunk);
  const setTime = async (path: string, ms: number): Promise<void> => {
    const then = new Date(Date.now() - ms);
    await utimes(path, then, then);
  };
  const names = (sub: string): Promise<string[]> =>
    readdir(join(dir, sub)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return [];
      throw e;
    });
  return {
    open: (options) => DiskBlobStore.open(dir, options),
    age: (chunk, ms) => setTime(chunkPath(chunk), ms),
    touchedAgo: async (chunk) => Date.now() - (await stat(chunkPath(chunk))).mtimeMs,
    ageQuarantined: (chunk, ms) => setTime(join(dir, ".quarantine", chunk), ms),
    agePartial: async (chunk, ms) => {
      for (const name of await names(".partial"))
        if (name.startsWith(chunk)) await setTime(join(dir, ".partial", name), ms);
    },
    partials: () => names(".partial"),
    quarantineFiles: () => names(".quarantine"),
    addForeign: async () => {
      await mkdir(join(dir, "00", "00"), { recursive: true });
      await writeFile(join(dir, "00", "00", "notes.txt"), "x");
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});
