// The relay's chunk-store behaviours every FolderChunkStore must have (touch and GC grace,
// quarantine and restore, quota, listing, resumable uploads), run by disk-blob-store.test.ts
// and s3-chunk-store.test.ts against a real directory and a real s3rver.
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ProtocolError } from "@weft/core";
import type { ChunkId } from "@weft/crypto";
import type { ChunkStoreOptions, FolderChunkStore } from "../../src/store/index.js";

/** One place a store lives, and the ways a test reaches behind it. */
export interface ChunkStorePlace {
  /** Opens the store (again) at this place. */
  open(options?: ChunkStoreOptions): Promise<FolderChunkStore>;
  /** Makes the chunk look last touched `ms` ago. */
  age(id: ChunkId, ms: number): Promise<void>;
  /** How long ago the chunk was last touched (ms). */
  touchedAgo(id: ChunkId): Promise<number>;
  /** Makes the chunk in quarantine look put there `ms` ago. */
  ageQuarantined(id: ChunkId, ms: number): Promise<void>;
  /** Makes the unfinished upload of `id` look last written `ms` ago. */
  agePartial(id: ChunkId, ms: number): Promise<void>;
  /** What unfinished uploads hold in storage (file or object names; empty when none). */
  partials(): Promise<string[]>;
  /** What quarantine holds in storage (names; empty when none). */
  quarantineFiles(): Promise<string[]>;
  /** Puts something that is not a chunk among the chunks (a foreign name). */
  addForeign(): Promise<void>;
  /** Removes the place. */
  dispose(): Promise<void>;
}

const HOUR = 3600_000;
const id = (hex: string): ChunkId => hex.padEnd(64, "0") as ChunkId;

/** Registers the suite: `place` makes a new empty place before each test. */
export function runChunkStoreTests(name: string, place: () => Promise<ChunkStorePlace>): void {
  describe(`FolderChunkStore: ${name}: touch, GC, quota, listing, resumable parts`, () => {
    let at: ChunkStorePlace;
    let store: FolderChunkStore | undefined;
    const open = async (options?: ChunkStoreOptions): Promise<FolderChunkStore> => {
      await store?.close();
      store = await at.open(options);
      return store;
    };
    beforeEach(async () => {
      at = await place();
    });
    afterEach(async () => {
      await store?.close();
      store = undefined;
      await at.dispose();
    });

    test("has() and a repeated put touch a chunk; collect deletes only chunks past the grace", async () => {
      const s = await open();
      const [a, b, c, d] = [id("0a"), id("0b"), id("0c"), id("0d")];
      for (const x of [a, b, c]) await s.put(x, new Uint8Array(10));
      for (const x of [a, b, c]) await at.age(x, 2 * HOUR);
      expect(await s.has([b, d])).toEqual([d]); // touches b
      await s.put(c, new Uint8Array(10)); // already there: touches c
      expect(await at.touchedAgo(b)).toBeLessThan(60_000);
      expect(await s.collect([a, b, c, d, a], HOUR)).toEqual({ deleted: [a], kept: [b, c] });
      expect(await s.size()).toEqual({ count: 2, bytes: 20 });
      // Grace 0 (what delete() uses) removes however fresh.
      expect(await s.collect([b], 0)).toEqual({ deleted: [b], kept: [] });
      await s.delete([c]);
      expect(await s.size()).toEqual({ count: 0, bytes: 0 });
    });

    test("a quota refuses the put that would exceed it, also among parallel puts", async () => {
      const s = await open({ quota: 100 });
      expect(s.quota).toBe(100);
      await s.put(id("01"), new Uint8Array(60));
      const over = await s.put(id("02"), new Uint8Array(41)).catch((e: unknown) => e);
      expect(over).toBeInstanceOf(ProtocolError);
      expect((over as ProtocolError).wireCode).toBe("quota_exceeded");
      expect((over as Error).message).toMatch(/60 bytes .* 100 bytes quota .* 41 bytes/);
      // An existing chunk costs nothing, and exactly fitting is allowed.
      expect(await s.add(id("01"), new Uint8Array(60))).toBe("existing");
      await s.put(id("03"), new Uint8Array(40));
      await s.delete([id("03")]);
      // Three parallel puts of 20 bytes into 40 free: two fit, the third is refused.
      const results = await Promise.allSettled(
        ["04", "05", "06"].map((x) => s.put(id(x), new Uint8Array(20))),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
      expect(await s.size()).toEqual({ count: 3, bytes: 100 });
      // The running total is counted again on open; no quota means none.
      const reopened = await open();
      expect([reopened.quota, await reopened.size()]).toEqual([null, { count: 3, bytes: 100 }]);
      await reopened.put(id("07"), new Uint8Array(1000));
    });

    test("listIds pages in id order, skipping what is not a chunk", async () => {
      const s = await open();
      const ids = ["ff", "0001", "00", "0002", "1234", "12345"].map(id).sort();
      for (const x of [...ids].reverse()) await s.put(x, Uint8Array.of(1));
      await at.addForeign();
      await s.putPart(id("77"), 0, 10, new Uint8Array(5)); // unfinished: not a chunk
      expect(await s.listIds(undefined, 100)).toEqual(ids);
      const pages: ChunkId[][] = [];
      let after: ChunkId | undefined;
      for (;;) {
        const page = await s.listIds(after, 4);
        pages.push(page);
        if (page.length < 4) break;
        after = page[page.length - 1];
      }
      expect(pages).toEqual([ids.slice(0, 4), ids.slice(4)]);
      expect(await s.listIds(ids[ids.length - 1], 4)).toEqual([]);
    });

    test("putPart appends at the received count, and the last part makes the chunk", async () => {
      const s = await open({ quota: 1000 });
      const chunk = id("abcd");
      const data = Uint8Array.from({ length: 25 }, (_, i) => i);
      expect(await s.putPart(chunk, 0, 25, data.subarray(0, 10))).toEqual({
        status: "partial",
        received: 10,
      });
      expect(await s.uploadProgress(chunk)).toEqual({ received: 10, complete: false });
      expect(await s.putPart(chunk, 20, 25, data.subarray(20))).toMatchObject({
        status: "conflict",
        received: 10,
      });
      expect(await s.putPart(chunk, 0, 25, data.subarray(0, 10))).toMatchObject({
        status: "conflict",
        received: 10,
      });
      expect(await s.putPart(chunk, 10, 30, data.subarray(10, 20))).toMatchObject({
        status: "conflict",
        reason: expect.stringContaining("25 bytes") as unknown,
      });
      // Parts are not chunks: not there, not counted.
      expect([await s.has([chunk]), await s.size()]).toEqual([[chunk], { count: 0, bytes: 0 }]);
      // The upload goes on in a store opened anew (another relay, or this one restarted).
      const other = await open({ quota: 1000 });
      expect(await other.putPart(chunk, 10, 25, data.subarray(10, 20))).toEqual({
        status: "partial",
        received: 20,
      });
      expect(await other.putPart(chunk, 20, 25, data.subarray(20))).toEqual({ status: "stored" });
      expect(await other.get(chunk)).toEqual(data);
      expect(await other.size()).toEqual({ count: 1, bytes: 25 });
      expect(await other.uploadProgress(chunk)).toEqual({ received: 25, complete: true });
      expect(await at.partials()).toEqual([]);
      // A part of a stored chunk: nothing to do.
      expect(await other.putPart(chunk, 0, 25, data.subarray(0, 5))).toEqual({
        status: "existing",
      });
      // The quota counts the whole chunk, from the first part.
      const big = await other
        .putPart(id("beef"), 0, 2000, new Uint8Array(10))
        .catch((e: unknown) => e);
      expect((big as ProtocolError).wireCode).toBe("quota_exceeded");
    });

    test("a whole put drops an unfinished upload; stale partials go on open", async () => {
      let s = await open();
      const [x, y] = [id("01"), id("02")];
      await s.putPart(x, 0, 100, new Uint8Array(10));
      await s.put(x, new Uint8Array(100));
      expect(await s.uploadProgress(x)).toEqual({ received: 100, complete: true });
      await s.putPart(y, 0, 100, new Uint8Array(10));
      expect(await at.partials()).toHaveLength(1);
      // Reopened: still resumable.
      s = await open();
      expect(await s.uploadProgress(y)).toEqual({ received: 10, complete: false });
      // Untouched for a day: removed on open.
      await s.close();
      await at.agePartial(y, 25 * HOUR);
      s = await open();
      expect(await s.uploadProgress(y)).toEqual({ received: 0, complete: false });
      expect(await at.partials()).toEqual([]);
    });

    test("collect moves chunks to quarantine: any use restores them, at most a quota's worth, open purges expired ones", async () => {
      let s = await open({ quota: 100, quarantineMs: HOUR });
      const [a, b, c, d, e, f] = [id("0a"), id("0b"), id("0c"), id("0d"), id("0e"), id("0f")];
      await s.put(f, new Uint8Array(100));
      await s.collect([f], 0);
      for (const x of [a, b, c, d]) await s.put(x, new Uint8Array(20));
      expect(await s.collect([a, b, c, d, e], 0)).toEqual({ deleted: [a, b, c, d], kept: [] });
      // Gone from the chunks, the listing, the size and the quota; held in quarantine, at
      // most a quota's worth (f, the oldest, went early).
      expect(await s.size()).toEqual({ count: 0, bytes: 0 });
      expect(await s.listIds(undefined, 10)).toEqual([]);
      expect(s.quarantined()).toEqual({ count: 4, bytes: 80 });
      expect(await s.has([f])).toEqual([f]);
      // A has-check, a put, a read and an upload probe each bring one back, touched.
      expect(await s.has([a])).toEqual([]);
      expect(await s.add(b, new Uint8Array(20))).toBe("existing");
      expect(await s.get(c)).toEqual(new Uint8Array(20));
      expect(await s.listIds(undefined, 10)).toEqual([a, b, c]);
      expect([await s.size(), s.quarantined()]).toEqual([
        { count: 3, bytes: 60 },
        { count: 1, bytes: 20 },
      ]);
      expect(await at.touchedAgo(a)).toBeLessThan(60_000);
      // Reopened within the quarantine time: d is still restorable.
      s = await open({ quarantineMs: HOUR });
      expect(s.quarantined()).toEqual({ count: 1, bytes: 20 });
      expect(await s.uploadProgress(d)).toEqual({ received: 20, complete: true });
      await s.collect([d], 0);
      await s.close();
      // Past it: purged on open, and then really absent.
      await at.ageQuarantined(d, 2 * HOUR);
      s = await open({ quarantineMs: HOUR });
      expect(s.quarantined()).toEqual({ count: 0, bytes: 0 });
      expect(await at.quarantineFiles()).toEqual([]);
      expect(await s.has([d])).toEqual([d]);
      // delete() (the BlobStore contract) deletes at once, without quarantine.
      await s.delete([a]);
      expect([await s.has([a]), s.quarantined().count]).toEqual([[a], 0]);
    });

    test("unfinished uploads count against the quota by their declared totals", async () => {
      const s = await open({ quota: 100 });
      await s.putPart(id("01"), 0, 60, new Uint8Array(1));
      // What an account quota counts of the folder: the upload by its declared total.
      expect(s.usedBytes()).toBe(60);
      // 60 declared of 100: a second upload of 60 does not fit, nor does a whole put of 41.
      const second = await s.putPart(id("02"), 0, 60, new Uint8Array(1)).catch((e: unknown) => e);
      expect((second as ProtocolError).wireCode).toBe("quota_exceeded");
      const whole = await s.put(id("03"), new Uint8Array(41)).catch((e: unknown) => e);
      expect((whole as ProtocolError).wireCode).toBe("quota_exceeded");
      // The upload under way goes on and completes; then 40 bytes fit.
      expect(await s.putPart(id("01"), 1, 60, new Uint8Array(59))).toEqual({ status: "stored" });
      await s.put(id("03"), new Uint8Array(40));
      expect(await s.size()).toEqual({ count: 2, bytes: 100 });
      expect(s.usedBytes()).toBe(100);
    });
  });
}
