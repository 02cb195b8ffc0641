/** The StateStore conformance suite: every StateStore implementation runs it from its test file. */
import { describe, expect, test } from "vitest";
import type { StateEntry, StateStore, StorageKey } from "../storage/index.js";
import { MAX_KEY_PARTS, MAX_KEY_PART_BYTES } from "../storage/index.js";
import type { StoreSetup } from "./fixtures.js";
import { expectSameBytes, expectWeftError, patternBytes, useStoreFixture } from "./fixtures.js";

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const asKey = (value: unknown): StorageKey => value as StorageKey;
const summary = (entries: StateEntry[]): [string[], number[]][] =>
  entries.map((e) => [e.key, [...e.data]]);

/** Values that are not keys, and why, for the tests of validation. */
const BAD_KEYS: [string, unknown][] = [
  ["no parts", []],
  ["an empty part", ["a", ""]],
  ["a NUL", ["a\0b"]],
  ["a part over the byte limit", ["x".repeat(MAX_KEY_PART_BYTES + 1)]],
  ["a multi-byte part over the byte limit", ["€".repeat(86)]],
  ["too many parts", Array.from({ length: MAX_KEY_PARTS + 1 }, () => "a")],
  ["a lone surrogate", ["\ud800x"]],
  ["a part that is not a string", ["a", 1]],
  ["a string instead of an array", "a"],
  ["undefined", undefined],
];
const BAD_DATA: [string, unknown][] = [
  ["a string", "abc"],
  ["a plain array", [1, 2, 3]],
  ["an ArrayBuffer", new ArrayBuffer(3)],
  ["undefined", undefined],
];

/**
 * Registers the {@link StateStore} conformance suite with vitest: call it at the top level of a
 * test file, e.g. `runStateStoreTests("MemoryStateStore", async () => ({ store: new
 * MemoryStateStore(), teardown: async () => {} }))`. `setup` runs before each test and must
 * return an empty store; give `reopen` to run the tests of persistence too. The tests share one
 * fixture at a time, so do not run them with `describe.concurrent`.
 *
 * Imports vitest: `@weft/core/conformance` needs vitest (a peer dependency) installed.
 */
export function runStateStoreTests(name: string, setup: StoreSetup<StateStore>): void {
  describe(`StateStore conformance: ${name}`, () => {
    const h = useStoreFixture(setup);

    describe("values", () => {
      test("a key that was never saved loads as undefined", async () => {
        expect(await h.store.load(["nothing", "here"])).toBeUndefined();
      });

      test("a saved value loads back byte for byte", async () => {
        await h.store.save(["a"], bytes(1, 2, 3));
        await h.store.save(["empty"], new Uint8Array(0));
        expect(await h.store.load(["a"])).toEqual(bytes(1, 2, 3));
        // An empty value is a value, not an absence.
        expect(await h.store.load(["empty"])).toEqual(new Uint8Array(0));
      });

      test("saving again replaces the value", async () => {
        await h.store.save(["a"], bytes(1, 2, 3));
        await h.store.save(["a"], bytes(9));
        expect(await h.store.load(["a"])).toEqual(bytes(9));
        expect(await h.store.loadRange([])).toHaveLength(1);
      });

      test("a value saved from a view into a larger array is just the viewed bytes", async () => {
        const big = bytes(0, 1, 2, 3, 4, 5);
        await h.store.save(["view"], big.subarray(2, 4));
        expect(await h.store.load(["view"])).toEqual(bytes(2, 3));
      });

      test("remove deletes that key only, not the keys under it", async () => {
        await h.store.save(["a"], bytes(1));
        await h.store.save(["a", "b"], bytes(2));
        await h.store.save(["b"], bytes(3));
        await h.store.remove(["a"]);
        expect(await h.store.load(["a"])).toBeUndefined();
        expect(summary(await h.store.loadRange([]))).toEqual([
          [["a", "b"], [2]],
          [["b"], [3]],
        ]);
      });

      test("removing a key that is not there is not an error", async () => {
        await h.store.remove(["never", "saved"]);
        await h.store.removeRange(["never"]);
        expect(await h.store.loadRange([])).toEqual([]);
      });

      test("concurrent saves all land", async () => {
        const keys = Array.from({ length: 100 }, (_, i) => ["c", String(i).padStart(3, "0")]);
        await Promise.all(keys.map((k, i) => h.store.save(k, bytes(i))));
        const all = await h.store.loadRange(["c"]);
        expect(all.map((e) => e.key)).toEqual(keys);
        expect(all.map((e) => e.data[0])).toEqual(keys.map((_, i) => i));
      });
    });

    describe("ranges and order", () => {
      test("loadRange returns only keys under the prefix, in order", async () => {
        // Saved out of order, with near misses on both sides of the prefix ["a"].
        for (const key of [["b"], ["a", "c"], ["ab"], ["a", "b", "c"], ["a"], ["a", "b"], ["0"]])
          await h.store.save(key, bytes(key.length));
        const under = await h.store.loadRange(["a"]);
        expect(under.map((e) => e.key)).toEqual([["a"], ["a", "b"], ["a", "b", "c"], ["a", "c"]]);
        expect((await h.store.loadRange(["a", "b"])).map((e) => e.key)).toEqual([
          ["a", "b"],
          ["a", "b", "c"],
        ]);
        expect(await h.store.loadRange(["a", "b", "c", "d"])).toEqual([]);
        expect(await h.store.loadRange(["zzz"])).toEqual([]);
      });

      test("keys sort part by part, by Unicode code point", async () => {
        // "\uffff" is one UTF-16 unit and "😀" two, yet U+FFFF < U+1F600: code point order, which
        // is what a store comparing UTF-8 bytes gets.
        const sorted = [
          ["a"],
          ["a", "b"],
          ["a", "b", "c"],
          ["a", "c"],
          ["ab"],
          ["b"],
          ["z"],
          ["é"],
          ["\uffff"],
          ["😀"],
          ["😀", "a"],
        ];
        const shuffled = [6, 2, 9, 0, 10, 4, 1, 8, 3, 7, 5].map((i) => sorted[i] as string[]);
        for (const key of shuffled) await h.store.save(key, bytes(1));
        expect((await h.store.loadRange([])).map((e) => e.key)).toEqual(sorted);
      });

      test("removeRange removes exactly the keys under the prefix", async () => {
        for (const key of [["a"], ["a", "b"], ["a", "b", "c"], ["ab"], ["b"]])
          await h.store.save(key, bytes(1));
        await h.store.removeRange(["a", "b"]);
        expect((await h.store.loadRange([])).map((e) => e.key)).toEqual([["a"], ["ab"], ["b"]]);
        await h.store.removeRange(["a"]);
        expect((await h.store.loadRange([])).map((e) => e.key)).toEqual([["ab"], ["b"]]);
        await h.store.removeRange([]);
        expect(await h.store.loadRange([])).toEqual([]);
      });
    });

    describe("transactions", () => {
      test("a transaction applies its operations in order, all together", async () => {
        await h.store.save(["old"], bytes(0));
        await h.store.transaction([
          { op: "save", key: ["a", "1"], data: bytes(1) },
          { op: "save", key: ["a", "2"], data: bytes(2) },
          { op: "removeRange", prefix: ["a"] },
          { op: "save", key: ["a", "3"], data: bytes(3) },
          { op: "save", key: ["b"], data: bytes(4) },
          { op: "remove", key: ["b"] },
          { op: "remove", key: ["old"] },
          { op: "save", key: ["c"], data: bytes(5) },
          { op: "save", key: ["c"], data: bytes(6) },
        ]);
        expect(summary(await h.store.loadRange([]))).toEqual([
          [["a", "3"], [3]],
          [["c"], [6]],
        ]);
      });

      test("an empty transaction changes nothing", async () => {
        await h.store.save(["a"], bytes(1));
        await h.store.transaction([]);
        expect(summary(await h.store.loadRange([]))).toEqual([[["a"], [1]]]);
      });

      test("a failed transaction leaves nothing behind", async () => {
        await h.store.save(["keep"], bytes(1));
        await h.store.save(["range", "x"], bytes(2));
        const before = summary(await h.store.loadRange([]));
        const good = [
          { op: "save", key: ["new"], data: bytes(3) },
          { op: "save", key: ["keep"], data: bytes(4) },
          { op: "remove", key: ["keep"] },
          { op: "removeRange", prefix: ["range"] },
        ] as const;
        // The bad op comes last, after ops that would already have changed the h.store.
        for (const bad of [
          { op: "save", key: [""], data: bytes(5) },
          { op: "save", key: ["k"], data: "not bytes" },
          { op: "remove", key: ["a\0b"] },
          { op: "removeRange", prefix: "range" },
          { op: "rename", key: ["keep"] },
          null,
        ]) {
          await expectWeftError(
            h.store.transaction([...good, bad] as unknown as Parameters<
              StateStore["transaction"]
            >[0]),
            "INVALID_OPTIONS",
          );
          expect(summary(await h.store.loadRange([]))).toEqual(before);
        }
      });
    });

    describe("copies", () => {
      test("data passed to save can be changed afterwards without changing what is stored", async () => {
        const data = bytes(1, 2, 3);
        const key = ["k"];
        await h.store.save(key, data);
        data.fill(0);
        key[0] = "other";
        const txData = bytes(4, 5);
        await h.store.transaction([{ op: "save", key: ["t"], data: txData }]);
        txData.fill(0);
        expect(summary(await h.store.loadRange([]))).toEqual([
          [["k"], [1, 2, 3]],
          [["t"], [4, 5]],
        ]);
      });

      test("a Node Buffer passed to save or a transaction is copied too (its slice() is a view)", async ({
        skip,
      }) => {
        skip(typeof Buffer === "undefined", "no Buffer here (a browser)");
        const data = Buffer.from([1, 2, 3]);
        await h.store.save(["k"], data);
        await h.store.transaction([{ op: "save", key: ["t"], data }]);
        data.fill(0);
        expect(summary(await h.store.loadRange([]))).toEqual([
          [["k"], [1, 2, 3]],
          [["t"], [1, 2, 3]],
        ]);
      });

      test("data returned by load and loadRange can be changed without changing what is stored", async () => {
        await h.store.save(["k", "1"], bytes(1, 2, 3));
        const loaded = await h.store.load(["k", "1"]);
        loaded?.fill(0);
        const [entry] = await h.store.loadRange(["k"]);
        entry?.data.fill(0);
        entry?.key.push("extra");
        expect(await h.store.load(["k", "1"])).toEqual(bytes(1, 2, 3));
        expect(summary(await h.store.loadRange(["k"]))).toEqual([
          [
            ["k", "1"],
            [1, 2, 3],
          ],
        ]);
      });
    });

    describe("validation", () => {
      test("malformed keys are refused with INVALID_OPTIONS", async () => {
        for (const [why, key] of BAD_KEYS) {
          const k = asKey(key);
          await expectWeftError(h.store.load(k), "INVALID_OPTIONS").catch(rethrowWith(why));
          await expectWeftError(h.store.save(k, bytes(1)), "INVALID_OPTIONS").catch(
            rethrowWith(why),
          );
          await expectWeftError(h.store.remove(k), "INVALID_OPTIONS").catch(rethrowWith(why));
          await expectWeftError(
            h.store.transaction([{ op: "save", key: k, data: bytes(1) }]),
            "INVALID_OPTIONS",
          ).catch(rethrowWith(why));
          // The empty key is a valid prefix (it matches everything); the others are not.
          if (Array.isArray(key) && key.length === 0) continue;
          await expectWeftError(h.store.loadRange(k), "INVALID_OPTIONS").catch(rethrowWith(why));
          await expectWeftError(h.store.removeRange(k), "INVALID_OPTIONS").catch(rethrowWith(why));
        }
        expect(await h.store.loadRange([])).toEqual([]);
      });

      test("values that are not bytes are refused with INVALID_OPTIONS", async () => {
        for (const [why, data] of BAD_DATA) {
          await expectWeftError(h.store.save(["k"], data as Uint8Array), "INVALID_OPTIONS").catch(
            rethrowWith(why),
          );
        }
        expect(await h.store.load(["k"])).toBeUndefined();
      });

      test("keys at the limits are accepted", async () => {
        const keys = [
          Array.from({ length: MAX_KEY_PARTS }, (_, i) => `p${i}`),
          ["x".repeat(MAX_KEY_PART_BYTES)],
          ["€".repeat(MAX_KEY_PART_BYTES / 3)],
          ["😀".repeat(63) + "abc"],
          ["\u0001", " ", "\u007f\u0080"],
        ];
        for (const [i, key] of keys.entries()) await h.store.save(key, bytes(i));
        for (const [i, key] of keys.entries()) expect(await h.store.load(key)).toEqual(bytes(i));
        const all = await h.store.loadRange([]);
        expect(all).toHaveLength(keys.length);
        for (const key of keys) expect(all.map((e) => e.key)).toContainEqual(key);
      });
    });

    describe("size", () => {
      test("1,000 keys and 1 MiB values round-trip", async () => {
        const keys = Array.from({ length: 1000 }, (_, i) => ["many", String(i).padStart(4, "0")]);
        await h.store.transaction(
          keys.map((key, i) => ({ op: "save", key, data: patternBytes(16, i) })),
        );
        for (let i = 0; i < 10; i++)
          await h.store.save(["more", String(i)], patternBytes(8, 1000 + i));
        const big = [patternBytes(1 << 20, 1), patternBytes(1 << 20, 2)];
        await h.store.save(["big", "1"], big[0] as Uint8Array);
        await h.store.transaction([{ op: "save", key: ["big", "2"], data: big[1] as Uint8Array }]);

        const many = await h.store.loadRange(["many"]);
        expect(many.map((e) => e.key)).toEqual(keys);
        many.forEach((e, i) => expect(e.data).toEqual(patternBytes(16, i)));
        expect(await h.store.load(["many", "0500"])).toEqual(patternBytes(16, 500));
        expectSameBytes(await h.store.load(["big", "1"]), big[0] as Uint8Array);
        const bigs = await h.store.loadRange(["big"]);
        expect(bigs).toHaveLength(2);
        bigs.forEach((e, i) => expectSameBytes(e.data, big[i] as Uint8Array));
        await h.store.removeRange(["many"]);
        expect(await h.store.loadRange(["many"])).toEqual([]);
        expect(await h.store.loadRange([])).toHaveLength(12);
      });
    });

    describe("closing", () => {
      test("a closed store refuses every call, and closing twice is fine", async () => {
        await h.store.save(["a"], bytes(1));
        await h.store.close();
        await h.store.close();
        await expectWeftError(h.store.load(["a"]), "STORAGE");
        await expectWeftError(h.store.save(["a"], bytes(2)), "STORAGE");
        await expectWeftError(h.store.remove(["a"]), "STORAGE");
        await expectWeftError(h.store.loadRange([]), "STORAGE");
        await expectWeftError(h.store.removeRange([]), "STORAGE");
        await expectWeftError(h.store.transaction([]), "STORAGE");
      });
    });

    describe("persistence (skipped for stores that keep nothing)", () => {
      test("a saved value survives reopening", async ({ skip }) => {
        skip(!h.canReopen(), "this store has no reopen");
        await h.store.save(["a"], bytes(1, 2));
        await h.store.save(["a", "b"], new Uint8Array(0));
        await h.store.save(["gone"], bytes(3));
        await h.store.remove(["gone"]);
        await h.store.save(["😀"], bytes(4));
        await h.store.save(["é"], bytes(5));
        await h.reopen();
        expect(await h.store.load(["a"])).toEqual(bytes(1, 2));
        expect(await h.store.load(["gone"])).toBeUndefined();
        expect(summary(await h.store.loadRange([]))).toEqual([
          [["a"], [1, 2]],
          [["a", "b"], []],
          [["é"], [5]],
          [["😀"], [4]],
        ]);
      });

      test("a committed transaction survives reopening, whole", async ({ skip }) => {
        skip(!h.canReopen(), "this store has no reopen");
        await h.store.save(["ack"], bytes(1));
        await h.store.save(["pending", "1"], bytes(1));
        await h.store.transaction([
          { op: "save", key: ["index", "snapshot"], data: patternBytes(100_000, 7) },
          { op: "save", key: ["ack"], data: bytes(2) },
          { op: "removeRange", prefix: ["pending"] },
        ]);
        await h.reopen();
        expectSameBytes(await h.store.load(["index", "snapshot"]), patternBytes(100_000, 7));
        expect(await h.store.load(["ack"])).toEqual(bytes(2));
        expect(await h.store.loadRange(["pending"])).toEqual([]);
      });

      test("a reopened store can be written and reopened again", async ({ skip }) => {
        skip(!h.canReopen(), "this store has no reopen");
        await h.store.save(["n"], bytes(1));
        await h.reopen();
        await h.store.save(["n"], bytes(2));
        await h.reopen();
        expect(await h.store.load(["n"])).toEqual(bytes(2));
      });
    });
  });
}

function rethrowWith(why: string): (error: unknown) => never {
  return (error: unknown) => {
    throw new Error(`with ${why}: ${String(error)}`, { cause: error });
  };
}
