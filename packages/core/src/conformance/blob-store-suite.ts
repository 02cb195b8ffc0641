/** The BlobStore conformance suite: every BlobStore implementation runs it from its test file. */
import type { ChunkId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import type { BlobStore, ByteRange } from "../storage/index.js";
import type { StoreSetup } from "./fixtures.js";
import { expectSameBytes, expectWeftError, patternBytes, useStoreFixture } from "./fixtures.js";

/** A well-formed chunk id made from a number, so tests can name chunks 0, 1, 2, … */
const id = (n: number): ChunkId => n.toString(16).padStart(64, "0") as ChunkId;
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

const BAD_IDS: [string, unknown][] = [
  ["upper-case hex", "A".repeat(64)],
  ["63 characters", "0".repeat(63)],
  ["65 characters", "0".repeat(65)],
  ["non-hex", "g".repeat(64)],
  ["a path", "../" + "0".repeat(61)],
  ["a number", 7],
  ["undefined", undefined],
];

/** Options of {@link runBlobStoreTests}. */
export interface BlobStoreTestOptions {
  /**
   * How many small chunks the bulk round-trip stores one by one (default 1000): fewer for a
   * store whose every request is a network round-trip (an S3 server in a test).
   */
  manyChunks?: number;
}

/**
 * Registers the {@link BlobStore} conformance suite with vitest: call it at the top level of a
 * test file, e.g. `runBlobStoreTests("MemoryBlobStore", async () => ({ store: new
 * MemoryBlobStore(), teardown: async () => {} }))`. `setup` runs before each test and must
 * return an empty store; give `reopen` to run the tests of persistence too. The tests share one
 * fixture at a time, so do not run them with `describe.concurrent`.
 *
 * Imports vitest: `@weft/core/conformance` needs vitest (a peer dependency) installed.
 */
export function runBlobStoreTests(
  name: string,
  setup: StoreSetup<BlobStore>,
  options: BlobStoreTestOptions = {},
): void {
  const many = options.manyChunks ?? 1000;
  describe(`BlobStore conformance: ${name}`, () => {
    const h = useStoreFixture(setup);

    describe("chunks", () => {
      test("a chunk that was put reads back byte for byte", async () => {
        await h.store.put(id(1), bytes(1, 2, 3));
        await h.store.put(id(2), new Uint8Array(0));
        expect(await h.store.get(id(1))).toEqual(bytes(1, 2, 3));
        expect(await h.store.get(id(2))).toEqual(new Uint8Array(0));
      });

      test("a chunk that was never put reads as undefined", async () => {
        expect(await h.store.get(id(1))).toBeUndefined();
        expect(await h.store.get(id(1), { start: 0, end: 10 })).toBeUndefined();
      });

      test("putting an id that is already there changes nothing", async () => {
        await h.store.put(id(1), bytes(1, 2, 3));
        await h.store.put(id(1), bytes(9, 9, 9, 9, 9));
        expect(await h.store.get(id(1))).toEqual(bytes(1, 2, 3));
        expect(await h.store.size()).toEqual({ count: 1, bytes: 3 });
      });

      test("concurrent puts of the same and different ids all settle", async () => {
        const ids = Array.from({ length: 50 }, (_, i) => id(i % 25));
        await Promise.all(ids.map((x) => h.store.put(x, patternBytes(100, 1))));
        expect(await h.store.size()).toEqual({ count: 25, bytes: 2500 });
      });

      test("delete removes those chunks and ignores ids it lacks", async () => {
        await h.store.put(id(1), bytes(1));
        await h.store.put(id(2), bytes(2, 2));
        await h.store.put(id(3), bytes(3, 3, 3));
        await h.store.delete([id(1), id(3), id(99), id(1)]);
        expect(await h.store.get(id(1))).toBeUndefined();
        expect(await h.store.get(id(2))).toEqual(bytes(2, 2));
        expect(await h.store.has([id(1), id(2), id(3)])).toEqual([id(1), id(3)]);
        expect(await h.store.size()).toEqual({ count: 1, bytes: 2 });
        await h.store.delete([]);
        // A deleted chunk can be put again.
        await h.store.put(id(1), bytes(7));
        expect(await h.store.get(id(1))).toEqual(bytes(7));
      });

      test("size counts the chunks and their bytes", async () => {
        expect(await h.store.size()).toEqual({ count: 0, bytes: 0 });
        await h.store.put(id(1), patternBytes(1000, 1));
        await h.store.put(id(2), patternBytes(24, 2));
        await h.store.put(id(3), new Uint8Array(0));
        expect(await h.store.size()).toEqual({ count: 3, bytes: 1024 });
      });
    });

    describe("has", () => {
      test("has() returns only the missing ids, once each, in the order asked", async () => {
        await h.store.put(id(2), bytes(2));
        await h.store.put(id(4), bytes(4));
        expect(await h.store.has([id(5), id(2), id(1), id(5), id(4), id(3), id(1)])).toEqual([
          id(5),
          id(1),
          id(3),
        ]);
        expect(await h.store.has([id(2), id(4), id(2)])).toEqual([]);
      });

      test("has() of no ids is empty", async () => {
        expect(await h.store.has([])).toEqual([]);
      });
    });

    describe("ranges", () => {
      test("a range read returns exactly those bytes", async () => {
        const chunk = patternBytes(1000, 3);
        await h.store.put(id(1), chunk);
        expect(await h.store.get(id(1), { start: 0, end: 1000 })).toEqual(chunk);
        expect(await h.store.get(id(1), { start: 10, end: 20 })).toEqual(chunk.slice(10, 20));
        expect(await h.store.get(id(1), { start: 999, end: 1000 })).toEqual(chunk.slice(999));
        expect(await h.store.get(id(1), { start: 5, end: 5 })).toEqual(new Uint8Array(0));
      });

      test("a range past the end is clamped to the chunk", async () => {
        const chunk = patternBytes(100, 4);
        await h.store.put(id(1), chunk);
        expect(await h.store.get(id(1), { start: 90, end: 1000 })).toEqual(chunk.slice(90));
        expect(await h.store.get(id(1), { start: 100, end: 200 })).toEqual(new Uint8Array(0));
        expect(await h.store.get(id(1), { start: 500, end: 600 })).toEqual(new Uint8Array(0));
      });

      test("an invalid range is refused with INVALID_OPTIONS", async () => {
        await h.store.put(id(1), patternBytes(100, 5));
        const bad: unknown[] = [
          { start: -1, end: 10 },
          { start: 10, end: 5 },
          { start: 1.5, end: 10 },
          { start: 0, end: Number.NaN },
          { start: 0, end: Infinity },
          { start: "0", end: 10 },
          { start: 0 },
          null,
        ];
        for (const range of bad) {
          await expectWeftError(h.store.get(id(1), range as ByteRange), "INVALID_OPTIONS");
          // The same whether or not the chunk is there.
          await expectWeftError(h.store.get(id(2), range as ByteRange), "INVALID_OPTIONS");
        }
      });
    });

    describe("copies", () => {
      test("bytes passed to put can be changed afterwards without changing what is stored", async () => {
        const chunk = bytes(1, 2, 3);
        await h.store.put(id(1), chunk);
        chunk.fill(0);
        expect(await h.store.get(id(1))).toEqual(bytes(1, 2, 3));
      });

      test("a Node Buffer passed to put is copied too (its slice() is a view)", async ({
        skip,
      }) => {
        skip(typeof Buffer === "undefined", "no Buffer here (a browser)");
        const chunk = Buffer.from([1, 2, 3]);
        await h.store.put(id(1), chunk);
        chunk.fill(0);
        expect(await h.store.get(id(1))).toEqual(bytes(1, 2, 3));
      });

      test("bytes returned by get can be changed without changing what is stored", async () => {
        await h.store.put(id(1), bytes(1, 2, 3));
        (await h.store.get(id(1)))?.fill(0);
        (await h.store.get(id(1), { start: 1, end: 3 }))?.fill(0);
        expect(await h.store.get(id(1))).toEqual(bytes(1, 2, 3));
      });

      test("a chunk put from a view into a larger array is just the viewed bytes", async () => {
        await h.store.put(id(1), bytes(0, 1, 2, 3, 4).subarray(1, 3));
        expect(await h.store.get(id(1))).toEqual(bytes(1, 2));
        expect(await h.store.size()).toEqual({ count: 1, bytes: 2 });
      });
    });

    describe("validation", () => {
      test("malformed chunk ids are refused with INVALID_OPTIONS", async () => {
        for (const [, bad] of BAD_IDS) {
          const x = bad as ChunkId;
          await expectWeftError(h.store.put(x, bytes(1)), "INVALID_OPTIONS");
          await expectWeftError(h.store.get(x), "INVALID_OPTIONS");
          await expectWeftError(h.store.has([id(1), x]), "INVALID_OPTIONS");
          await expectWeftError(h.store.delete([id(1), x]), "INVALID_OPTIONS");
        }
        await expectWeftError(
          h.store.has("0".repeat(64) as unknown as ChunkId[]),
          "INVALID_OPTIONS",
        );
        expect(await h.store.size()).toEqual({ count: 0, bytes: 0 });
      });

      test("a chunk that is not bytes is refused with INVALID_OPTIONS", async () => {
        for (const bad of ["abc", [1, 2], new ArrayBuffer(2), undefined] as unknown[])
          await expectWeftError(h.store.put(id(1), bad as Uint8Array), "INVALID_OPTIONS");
        expect(await h.store.get(id(1))).toBeUndefined();
      });
    });

    describe("size", () => {
      test(`${many.toLocaleString("en-US")} chunks and a 4 MiB chunk round-trip`, async () => {
        const ids = Array.from({ length: many }, (_, i) => id(i));
        for (const [i, x] of ids.entries()) await h.store.put(x, patternBytes(1024, i));
        const big = patternBytes(4 << 20, 9);
        await h.store.put(id(5000), big);
        const asked = [...ids, ...Array.from({ length: many }, (_, i) => id(10_000 + i))];
        expect(await h.store.has(asked)).toEqual(asked.slice(many));
        const some = Math.floor((many * 7) / 9);
        expect(await h.store.get(id(some))).toEqual(patternBytes(1024, some));
        expectSameBytes(await h.store.get(id(5000)), big);
        expectSameBytes(
          await h.store.get(id(5000), { start: 3 << 20, end: 5 << 20 }),
          big.slice(3 << 20),
        );
        expect(await h.store.size()).toEqual({ count: many + 1, bytes: many * 1024 + (4 << 20) });
      });
    });

    describe("closing", () => {
      test("a closed store refuses every call, and closing twice is fine", async () => {
        await h.store.put(id(1), bytes(1));
        await h.store.close();
        await h.store.close();
        await expectWeftError(h.store.get(id(1)), "STORAGE");
        await expectWeftError(h.store.put(id(2), bytes(1)), "STORAGE");
        await expectWeftError(h.store.has([id(1)]), "STORAGE");
        await expectWeftError(h.store.delete([id(1)]), "STORAGE");
        await expectWeftError(h.store.size(), "STORAGE");
      });
    });

    describe("persistence (skipped for stores that keep nothing)", () => {
      test("chunks survive reopening, and deleted ones stay deleted", async ({ skip }) => {
        skip(!h.canReopen(), "this store has no reopen");
        await h.store.put(id(1), patternBytes(5000, 1));
        await h.store.put(id(2), bytes(2));
        await h.store.put(id(3), bytes(3));
        await h.store.delete([id(2)]);
        await h.reopen();
        expectSameBytes(await h.store.get(id(1)), patternBytes(5000, 1));
        expect(await h.store.has([id(1), id(2), id(3)])).toEqual([id(2)]);
        expect(await h.store.size()).toEqual({ count: 2, bytes: 5001 });
        // Still idempotent after reopening.
        await h.store.put(id(3), bytes(9, 9));
        expect(await h.store.get(id(3))).toEqual(bytes(3));
      });
    });
  });
}
