// DiskBlobStore: the shared BlobStore suite on a real directory, plus what only a directory has:
// the shard layout, leftovers of a crash, and counts rebuilt on open.
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { runBlobStoreTests } from "@weft/core/conformance";
import type { ChunkId } from "@weft/crypto";
import { ProtocolError } from "@weft/core";
import { DiskBlobStore } from "../src/store/index.js";

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

describe("DiskBlobStore: touch, GC, quota, listing, resumable parts", () => {
  let dir: string;
  let store: DiskBlobStore | undefined;
  const HOUR = 3600_000;
  const chunkPath = (chunk: ChunkId): string =>
    join(dir, chunk.slice(0, 2), chunk.slice(2, 4), chunk);
  /** Sets a chunk's last-touched time `ms` into the past. */
  const age = async (chunk: ChunkId, ms: number): Promise<void> => {
    const then = new Date(Date.now() - ms);
    await utimes(chunkPath(chunk), then, then);
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "weft-blobs-"));
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  test("has() and a repeated put touch a chunk; collect deletes only chunks past the grace", async () => {
    store = await DiskBlobStore.open(dir);
    const [a, b, c, d] = [id("0a"), id("0b"), id("0c"), id("0d")];
    for (const x of [a, b, c]) await store.put(x, new Uint8Array(10));
    for (const x of [a, b, c]) await age(x, 2 * HOUR);
    expect(await store.has([b, d])).toEqual([d]); // touches b
    await store.put(c, new Uint8Array(10)); // already there: touches c
    expect(Date.now() - (await stat(chunkPath(b))).mtimeMs).toBeLessThan(60_000);
    expect(await store.collect([a, b, c, d, a], HOUR)).toEqual({ deleted: [a], kept: [b, c] });
    expect(await store.size()).toEqual({ count: 2, bytes: 20 });
    // Grace 0 (what delete() uses) removes however fresh.
    expect(await store.collect([b], 0)).toEqual({ deleted: [b], kept: [] });
    await store.delete([c]);
    expect(await store.size()).toEqual({ count: 0, bytes: 0 });
  });

  test("a quota refuses the put that would exceed it, also among parallel puts", async () => {
    store = await DiskBlobStore.open(dir, { quota: 100 });
    expect(store.quota).toBe(100);
    await store.put(id("01"), new Uint8Array(60));
    const over = await store.put(id("02"), new Uint8Array(41)).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(ProtocolError);
    expect((over as ProtocolError).wireCode).toBe("quota_exceeded");
    expect((over as Error).message).toMatch(/60 bytes .* 100 bytes quota .* 41 bytes/);
    // An existing chunk costs nothing, and exactly fitting is allowed.
    expect(await store.add(id("01"), new Uint8Array(60))).toBe("existing");
    await store.put(id("03"), new Uint8Array(40));
    await store.delete([id("03")]);
    // Three parallel puts of 20 bytes into 40 free: two fit, the third is refused.
    const results = await Promise.allSettled(
      ["04", "05", "06"].map((x) => store!.put(id(x), new Uint8Array(20))),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    expect(await store.size()).toEqual({ count: 3, bytes: 100 });
    // The running total survives reopening; no quota means none.
    await store.close();
    store = await DiskBlobStore.open(dir);
    expect([store.quota, await store.size()]).toEqual([null, { count: 3, bytes: 100 }]);
    await store.put(id("07"), new Uint8Array(1000));
  });

  test("listIds pages in id order across shards, skipping what is not a chunk", async () => {
    store = await DiskBlobStore.open(dir);
    const ids = ["ff", "0001", "00", "0002", "1234", "12345"].map(id).sort();
    for (const x of [...ids].reverse()) await store.put(x, Uint8Array.of(1));
    await writeFile(join(dir, "00", "00", "notes.txt"), "x");
    await store.putPart(id("77"), 0, 10, new Uint8Array(5)); // unfinished: not a chunk
    expect(await store.listIds(undefined, 100)).toEqual(ids);
    const pages: ChunkId[][] = [];
    let after: ChunkId | undefined;
    for (;;) {
      const page = await store.listIds(after, 4);
      pages.push(page);
      if (page.length < 4) break;
      after = page[page.length - 1];
    }
    expect(pages).toEqual([ids.slice(0, 4), ids.slice(4)]);
    expect(await store.listIds(ids[ids.length - 1], 4)).toEqual([]);
  });

  test("putPart appends at the received count, and the last part makes the chunk", async () => {
    store = await DiskBlobStore.open(dir, { quota: 1000 });
    const chunk = id("abcd");
    const data = Uint8Array.from({ length: 25 }, (_, i) => i);
    expect(await store.putPart(chunk, 0, 25, data.subarray(0, 10))).toEqual({
      status: "partial",
      received: 10,
    });
    expect(await store.uploadProgress(chunk)).toEqual({ received: 10, complete: false });
    expect(await store.putPart(chunk, 20, 25, data.subarray(20))).toMatchObject({
      status: "conflict",
      received: 10,
    });
    expect(await store.putPart(chunk, 0, 25, data.subarray(0, 10))).toMatchObject({
      status: "conflict",
      received: 10,
    });
    expect(await store.putPart(chunk, 10, 30, data.subarray(10, 20))).toMatchObject({
      status: "conflict",
      reason: expect.stringContaining("25 bytes") as unknown,
    });
    // Parts are not chunks: not there, not counted.
    expect([await store.has([chunk]), await store.size()]).toEqual([
      [chunk],
      { count: 0, bytes: 0 },
    ]);
    expect(await store.putPart(chunk, 10, 25, data.subarray(10, 20))).toEqual({
      status: "partial",
      received: 20,
    });
    expect(await store.putPart(chunk, 20, 25, data.subarray(20))).toEqual({ status: "stored" });
    expect(await store.get(chunk)).toEqual(data);
    expect(await store.size()).toEqual({ count: 1, bytes: 25 });
    expect(await store.uploadProgress(chunk)).toEqual({ received: 25, complete: true });
    expect(await readdir(join(dir, ".partial"))).toEqual([]);
    // A part of a stored chunk: nothing to do.
    expect(await store.putPart(chunk, 0, 25, data.subarray(0, 5))).toEqual({ status: "existing" });
    // The quota counts the whole chunk, from the first part.
    const big = await store
      .putPart(id("beef"), 0, 2000, new Uint8Array(10))
      .catch((e: unknown) => e);
    expect((big as ProtocolError).wireCode).toBe("quota_exceeded");
  });

  test("a whole put drops an unfinished upload; stale partials go on open", async () => {
    store = await DiskBlobStore.open(dir);
    const [x, y] = [id("01"), id("02")];
    await store.putPart(x, 0, 100, new Uint8Array(10));
    await store.put(x, new Uint8Array(100));
    expect(await store.uploadProgress(x)).toEqual({ received: 100, complete: true });
    await store.putPart(y, 0, 100, new Uint8Array(10));
    expect(await readdir(join(dir, ".partial"))).toEqual([`${y}.100`]);
    await store.close();
    // Reopened an hour later: still resumable.
    store = await DiskBlobStore.open(dir);
    expect(await store.uploadProgress(y)).toEqual({ received: 10, complete: false });
    await store.close();
    // Untouched for a day: removed on open.
    const dayAgo = new Date(Date.now() - 25 * HOUR);
    await utimes(join(dir, ".partial", `${y}.100`), dayAgo, dayAgo);
    await writeFile(join(dir, ".partial", "junk"), "x");
    store = await DiskBlobStore.open(dir);
    expect(await store.uploadProgress(y)).toEqual({ received: 0, complete: false });
    expect(await readdir(join(dir, ".partial"))).toEqual([]);
  });

  test("collect moves chunks to quarantine: any use restores them, at most a quota's worth, open purges expired ones", async () => {
    store = await DiskBlobStore.open(dir, { quota: 100, quarantineMs: HOUR });
    const [a, b, c, d, e, f] = [id("0a"), id("0b"), id("0c"), id("0d"), id("0e"), id("0f")];
    await store.put(f, new Uint8Array(100));
    await store.collect([f], 0);
    for (const x of [a, b, c, d]) await store.put(x, new Uint8Array(20));
    expect(await store.collect([a, b, c, d, e], 0)).toEqual({ deleted: [a, b, c, d], kept: [] });
    // Gone from the chunks, the listing, the size and the quota; held in quarantine, at most
    // a quota's worth (f, the oldest, went early).
    expect(await store.size()).toEqual({ count: 0, bytes: 0 });
    expect(await store.listIds(undefined, 10)).toEqual([]);
    expect(store.quarantined()).toEqual({ count: 4, bytes: 80 });
    expect(await store.has([f])).toEqual([f]);
    // A has-check, a put, a read and an upload probe each bring one back, touched.
    expect(await store.has([a])).toEqual([]);
    expect(await store.add(b, new Uint8Array(20))).toBe("existing");
    expect(await store.get(c)).toEqual(new Uint8Array(20));
    expect(await store.listIds(undefined, 10)).toEqual([a, b, c]);
    expect([await store.size(), store.quarantined()]).toEqual([
      { count: 3, bytes: 60 },
      { count: 1, bytes: 20 },
    ]);
    expect(Date.now() - (await stat(chunkPath(a))).mtimeMs).toBeLessThan(60_000);
    await store.close();
    // Reopened within the quarantine time: d is still restorable.
    store = await DiskBlobStore.open(dir, { quarantineMs: HOUR });
    expect(store.quarantined()).toEqual({ count: 1, bytes: 20 });
    expect(await store.uploadProgress(d)).toEqual({ received: 20, complete: true });
    await store.collect([d], 0);
    await store.close();
    // Past it: purged on open, and then really absent.
    const twoHoursAgo = new Date(Date.now() - 2 * HOUR);
    await utimes(join(dir, ".quarantine", d), twoHoursAgo, twoHoursAgo);
    store = await DiskBlobStore.open(dir, { quarantineMs: HOUR });
    expect(store.quarantined()).toEqual({ count: 0, bytes: 0 });
    expect(await readdir(join(dir, ".quarantine"))).toEqual([]);
    expect(await store.has([d])).toEqual([d]);
    // delete() (the BlobStore contract) deletes at once, without quarantine.
    await store.delete([a]);
    expect([await store.has([a]), store.quarantined().count]).toEqual([[a], 0]);
  });

  test("unfinished uploads count against the quota by their declared totals", async () => {
    store = await DiskBlobStore.open(dir, { quota: 100 });
    await store.putPart(id("01"), 0, 60, new Uint8Array(1));
    // 60 declared of 100: a second upload of 60 does not fit, nor does a whole put of 41.
    const second = await store.putPart(id("02"), 0, 60, new Uint8Array(1)).catch((e: unknown) => e);
    expect((second as ProtocolError).wireCode).toBe("quota_exceeded");
    const whole = await store.put(id("03"), new Uint8Array(41)).catch((e: unknown) => e);
    expect((whole as ProtocolError).wireCode).toBe("quota_exceeded");
    // The upload under way goes on and completes; then 40 bytes fit.
    expect(await store.putPart(id("01"), 1, 60, new Uint8Array(59))).toEqual({ status: "stored" });
    await store.put(id("03"), new Uint8Array(40));
    expect(await store.size()).toEqual({ count: 2, bytes: 100 });
  });
});
