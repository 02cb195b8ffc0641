import { createHash } from "node:crypto";
import { ready } from "@weft/crypto";
import { beforeAll, describe, expect, test } from "vitest";
import {
  Chunker,
  DEFAULT_CHUNKER_OPTIONS,
  EMPTY_CONTENT_HASH,
  buildManifest,
  chunkBytes,
  chunkStream,
  newChunkIds,
  resolveChunkerOptions,
} from "../src/chunking/index.js";
import type { Chunk, ChunkerOptions, Manifest } from "../src/chunking/index.js";
import { GEAR } from "../src/chunking/fastcdc.js";
import { WeftError } from "../src/errors.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL: ChunkerOptions = { minSize: 64, avgSize: 256, maxSize: 1024 };
const KEY = new Uint8Array(32).fill(7);

/**
 * Deterministic pseudo-random bytes (mulberry32, written little-endian so the bytes are the
 * same on every machine): the pinned boundaries below depend on them.
 */
function seededBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let s = seed | 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
  let i = 0;
  for (; i + 4 <= length; i += 4) view.setInt32(i, next(), true);
  for (; i < length; i++) out[i] = next() & 255;
  return out;
}

const ends = (chunks: Chunk[]): number[] => chunks.map((c) => c.offset + c.data.length);
const sha256Hex = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `data` as an asynchronous source of `size`-byte blocks, one tick per block like real I/O. */
async function* blocksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) {
    await Promise.resolve();
    yield data.slice(at, at + size);
  }
}

function expectWithinBounds(chunks: Chunk[], total: number, opts: ChunkerOptions): void {
  const { minSize, maxSize } = resolveChunkerOptions(opts);
  chunks.forEach((c, i) => {
    if (i < chunks.length - 1) expect(c.data.length).toBeGreaterThanOrEqual(minSize);
    expect(c.data.length).toBeLessThanOrEqual(maxSize);
    expect(c.data.length).toBeGreaterThan(0);
  });
  expect(chunks.reduce((n, c) => n + c.data.length, 0)).toBe(total);
}

beforeAll(async () => {
  await ready();
});

describe("FastCDC boundaries are frozen", () => {
  // These pins are the storage format: if one changes, every existing file re-chunks and stops
  // deduplicating against its old chunks. Change them only with a format version bump.
  test("the gear table is the one generated from the fixed seed", () => {
    const bytes = new Uint8Array(GEAR.length * 4);
    const view = new DataView(bytes.buffer);
    GEAR.forEach((v, i) => view.setInt32(i * 4, v, true));
    expect(sha256Hex(bytes)).toBe(
      "8072b4d7c811e8693f96a521cf4d63cd836b6838db80e96046c5cb78222aaa2f",
    );
    expect([GEAR[0], GEAR[1], GEAR[255]]).toEqual([1076819877, 2108912472, 395140545]);
  });

  test("a seeded 16 MiB input cuts at the pinned offsets with the default sizes", () => {
    expect(ends(chunkBytes(seededBytes(1, 16 * MiB)))).toEqual([
      863083, 2017551, 3943762, 5238900, 5657196, 6708147, 7952281, 9171014, 10831187, 11888493,
      13243891, 14439235, 14855564, 15157331, 16475830, 16777216,
    ]);
  });

  test("a seeded 64 KiB input cuts at the pinned offsets with small sizes", () => {
    const cuts = ends(chunkBytes(seededBytes(2, 64 * KiB), SMALL));
    expect(cuts.length).toBe(219);
    expect(cuts.slice(0, 12)).toEqual([
      339, 645, 907, 1166, 1435, 1748, 2084, 2347, 2680, 2973, 3231, 3521,
    ]);
    expect(sha256Hex(new TextEncoder().encode(cuts.join(",")))).toBe(
      "88c9b3a4edb8c97826c38c5d45041b6c245a5a55bcb5abfabd568aea3fbcf86a",
    );
  });
});

describe("chunk sizes", () => {
  test("every chunk but the last is at least minSize, none exceeds maxSize, nothing is lost", () => {
    const data = seededBytes(3, 32 * MiB);
    expectWithinBounds(chunkBytes(data), data.length, {});
    const small = seededBytes(4, 256 * KiB);
    expectWithinBounds(chunkBytes(small, SMALL), small.length, SMALL);
  });

  test("all-zero input has no content to cut on, so it is cut at maxSize", () => {
    const zeros = new Uint8Array(10 * MiB);
    const sizes = chunkBytes(zeros).map((c) => c.data.length);
    expect(sizes).toEqual([4 * MiB, 4 * MiB, 2 * MiB]);
  });

  test("inputs no longer than minSize are one chunk; the empty input is no chunk", () => {
    expect(chunkBytes(new Uint8Array(0))).toEqual([]);
    const one = chunkBytes(seededBytes(5, DEFAULT_CHUNKER_OPTIONS.minSize));
    expect(one.map((c) => c.data.length)).toEqual([DEFAULT_CHUNKER_OPTIONS.minSize]);
  });

  test("random data averages about avgSize per chunk", () => {
    const data = seededBytes(6, 64 * MiB);
    const n = chunkBytes(data).length;
    const mean = data.length / n;
    expect(mean).toBeGreaterThan(0.9 * MiB);
    expect(mean).toBeLessThan(1.4 * MiB);
  });
});

describe("chunking options", () => {
  test.each<[ChunkerOptions, RegExp]>([
    [{ minSize: 1024, avgSize: 1024, maxSize: 4096 }, /minSize < avgSize < maxSize/],
    [{ minSize: 64, avgSize: 8192, maxSize: 4096 }, /minSize < avgSize < maxSize/],
    [{ minSize: 16 }, /minSize must be an integer/],
    [{ avgSize: 1.5 * MiB + 0.5 }, /avgSize must be an integer/],
    [{ maxSize: 2 * 1024 * MiB }, /maxSize must be an integer/],
  ])("%o is refused with a clear error", (opts, message) => {
    const attempt = (): Chunker => new Chunker(opts);
    expect(attempt).toThrow(WeftError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (e) {
      expect((e as WeftError).code).toBe("INVALID_OPTIONS");
    }
  });

  test("avgSize need not be a power of two", () => {
    const opts = { minSize: 100 * KiB, avgSize: 700 * KiB, maxSize: 3000 * KiB };
    const data = seededBytes(7, 16 * MiB);
    expectWithinBounds(chunkBytes(data, opts), data.length, opts);
  });
});

describe("streaming", () => {
  test("any block size gives the one-shot boundaries; chunks inside a block are views", async () => {
    const data = seededBytes(8, 12 * MiB + 123);
    const expected = ends(chunkBytes(data));
    for (const size of [1 * MiB, 64 * KiB + 1, 4 * MiB + 7]) {
      const got: Chunk[] = [];
      for await (const c of chunkStream(blocksOf(data, size))) got.push(c);
      expect(ends(got)).toEqual(expected);
      expect(sha256Hex(concat(got.map((c) => c.data)))).toBe(sha256Hex(data));
    }
    // One-shot chunks share the input's memory: no copy for chunks that lie inside one block.
    expect(chunkBytes(data).every((c) => c.data.buffer === data.buffer)).toBe(true);
  });

  test("push after finish is an error; finish twice is harmless", () => {
    const c = new Chunker(SMALL);
    c.push(seededBytes(9, 100));
    expect(c.finish().map((x) => x.data.length)).toEqual([100]);
    expect(c.finish()).toEqual([]);
    expect(() => c.push(new Uint8Array(1))).toThrow(/after finish/);
  });

  test("streaming 256 MiB in 64 KiB blocks keeps memory bounded", async () => {
    const total = 256 * MiB;
    const block = 64 * KiB;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < total / block; i++) {
        await Promise.resolve();
        yield seededBytes(1000 + i, block);
      }
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    const manifest = await buildManifest(source(), {
      chunkIdKey: KEY,
      onChunk: () => {
        peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    expect(manifest.size).toBe(total);
    // The chunker holds < maxSize (4 MiB) plus a block. The rest of the growth is garbage
    // (dropped blocks and chunk copies) that V8 frees lazily, measured at 40–50 MiB here;
    // keeping the input, or even half of it, would exceed the bound.
    expect(peak - before).toBeLessThan(100 * MiB);
  });
});

describe("manifests", () => {
  test("the empty file has no chunks and the SHA-256 of the empty string as content hash", async () => {
    const fromBytes = await buildManifest(new Uint8Array(0), { chunkIdKey: KEY });
    const fromStream = await buildManifest(blocksOf(new Uint8Array(0), 1), { chunkIdKey: KEY });
    const expected: Manifest = { chunks: [], size: 0, contentHash: sha256Hex(new Uint8Array(0)) };
    expect(fromBytes).toEqual(expected);
    expect(fromStream).toEqual(expected);
    expect(EMPTY_CONTENT_HASH).toBe(expected.contentHash);
  });

  test("content hash = SHA-256 of the chunks' SHA-256s; stream and bytes agree; onChunk sees every chunk", async () => {
    const data = seededBytes(10, 9 * MiB);
    const seen: { offset: number; size: number; sha: string }[] = [];
    const m = await buildManifest(data, {
      chunkIdKey: KEY,
      onChunk: async ({ id, sha256, data: bytes, offset }) => {
        expect(id).toMatch(/^[0-9a-f]{64}$/);
        expect(Buffer.from(sha256).toString("hex")).toBe(sha256Hex(bytes));
        seen.push({ offset, size: bytes.length, sha: sha256Hex(bytes) });
        await Promise.resolve();
      },
    });
    const chunks = chunkBytes(data);
    expect(seen.map((s) => s.offset)).toEqual(chunks.map((c) => c.offset));
    expect(m.size).toBe(data.length);
    expect(m.chunks.map((c) => c.size)).toEqual(chunks.map((c) => c.data.length));
    const digests = concat(chunks.map((c) => createHash("sha256").update(c.data).digest()));
    expect(m.contentHash).toBe(sha256Hex(digests));
    expect(await buildManifest(blocksOf(data, 300 * KiB), { chunkIdKey: KEY })).toEqual(m);
  });

  test("chunk ids are keyed: another folder key gives other ids for the same bytes", async () => {
    const data = seededBytes(11, 3 * MiB);
    const a = await buildManifest(data, { chunkIdKey: KEY });
    const b = await buildManifest(data, { chunkIdKey: new Uint8Array(32).fill(8) });
    expect(a.contentHash).toBe(b.contentHash);
    expect(newChunkIds(a, b)).toHaveLength(b.chunks.length);
  });

  test("a chunk-id key of the wrong length is refused, even for an empty file", async () => {
    const bad = buildManifest(new Uint8Array(0), { chunkIdKey: new Uint8Array(16) });
    await expect(bad).rejects.toThrow(/chunkIdKey must be 32 bytes/);
  });

  test("an error thrown by onChunk aborts the manifest", async () => {
    const data = seededBytes(12, 2 * MiB);
    const failing = buildManifest(data, {
      chunkIdKey: KEY,
      chunking: SMALL,
      onChunk: () => Promise.reject(new Error("disk full")),
    });
    await expect(failing).rejects.toThrow("disk full");
  });
});

describe("what an edit costs", () => {
  const original = seededBytes(13, 64 * MiB);

  test("inserting a few bytes near the start of a 64 MiB file re-sends at most 2 chunks", async () => {
    const edited = concat([
      original.subarray(0, 1000),
      seededBytes(14, 5),
      original.subarray(1000),
    ]);
    const before = await buildManifest(original, { chunkIdKey: KEY });
    const after = await buildManifest(edited, { chunkIdKey: KEY });
    expect(before.chunks.length).toBeGreaterThan(40);
    expect(newChunkIds(before, after).length).toBeLessThanOrEqual(2);
    expect(after.size).toBe(before.size + 5);
  });

  test("appending changes only the tail: every chunk but the old last one is kept", async () => {
    const grown = concat([original, seededBytes(15, 3 * MiB)]);
    const before = await buildManifest(original, { chunkIdKey: KEY });
    const after = await buildManifest(grown, { chunkIdKey: KEY });
    const kept = before.chunks.slice(0, -1);
    expect(after.chunks.slice(0, kept.length)).toEqual(kept);
    // The old last chunk may grow or re-cut; the 3 MiB appended add at most a few chunks.
    expect(newChunkIds(before, after).length).toBeLessThanOrEqual(5);
  });
});
