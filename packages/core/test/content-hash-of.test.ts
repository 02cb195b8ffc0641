// contentHashOf: the key-free content hash a local scanner computes must be exactly the one
// buildManifest (and so the Replica) records for the same bytes and chunking options.
import { ready } from "@weft/crypto";
import { beforeAll, describe, expect, test } from "vitest";
import {
  EMPTY_CONTENT_HASH,
  buildManifest,
  contentHashOf,
  manifestFromDigests,
  type ChunkerOptions,
} from "../src/index.js";

const SMALL: ChunkerOptions = { minSize: 64, avgSize: 256, maxSize: 1024 };
const KEY = new Uint8Array(32).fill(3);

/** Deterministic pseudo-random bytes (xorshift32), so multi-chunk inputs cut at content points. */
function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 255;
  }
  return out;
}

/** `data` as an async stream of `size`-byte blocks. */
async function* blocksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) {
    await Promise.resolve();
    yield data.slice(at, at + size);
  }
}

beforeAll(async () => {
  await ready();
});

describe("contentHashOf", () => {
  test("the empty file hashes to EMPTY_CONTENT_HASH, like its manifest", async () => {
    const empty = new Uint8Array(0);
    const m = await buildManifest(empty, { chunkIdKey: KEY });
    expect(await contentHashOf(empty)).toEqual({
      contentHash: EMPTY_CONTENT_HASH,
      size: 0,
      chunks: [],
    });
    expect(m.contentHash).toBe(EMPTY_CONTENT_HASH);
    expect(await contentHashOf(blocksOf(empty, 10))).toEqual({
      contentHash: EMPTY_CONTENT_HASH,
      size: 0,
      chunks: [],
    });
    expect(await manifestFromDigests([], KEY)).toEqual(m);
  });

  test.each([1, 63, 64, 1000, 5000, 40_000])(
    "equals buildManifest's contentHash for %i bytes, whole or streamed",
    async (length) => {
      const data = bytes(length, length);
      const m = await buildManifest(data, { chunkIdKey: KEY, chunking: SMALL });
      if (length >= 5000) expect(m.chunks.length).toBeGreaterThan(3); // really multi-chunk
      const expected = { contentHash: m.contentHash, size: length };
      const whole = await contentHashOf(data, SMALL);
      expect(whole).toMatchObject(expected);
      // Its chunk digests give the same manifest without the bytes (the agent's record).
      expect(await manifestFromDigests(whole.chunks, KEY)).toEqual(m);
      for (const block of [1, 100, 777, 4096]) {
        const streamed = await contentHashOf(blocksOf(data, block), SMALL);
        expect(streamed).toMatchObject(expected);
        expect(streamed.chunks).toEqual(whole.chunks);
      }
    },
  );

  test("uses the default chunking when given none, as buildManifest does", async () => {
    const data = bytes(9, 3 * 1024 * 1024);
    const m = await buildManifest(data, { chunkIdKey: KEY });
    expect(m.chunks.length).toBeGreaterThan(1);
    expect((await contentHashOf(blocksOf(data, 65_536))).contentHash).toBe(m.contentHash);
  });

  test("depends on the chunking options, so the folder's must be passed", async () => {
    const data = bytes(5, 10_000);
    const a = await contentHashOf(data, SMALL);
    const b = await contentHashOf(data, { minSize: 128, avgSize: 512, maxSize: 2048 });
    expect(a.contentHash).not.toBe(b.contentHash);
  });

  test("rejects bad chunking options with INVALID_OPTIONS", async () => {
    await expect(
      contentHashOf(new Uint8Array(10), { minSize: 10, avgSize: 5, maxSize: 1 }),
    ).rejects.toMatchObject({ name: "WeftError", code: "INVALID_OPTIONS" });
  });
});
