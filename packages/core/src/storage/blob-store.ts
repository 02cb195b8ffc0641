/** The BlobStore interface: encrypted chunks by chunk id, plus the checks every implementation applies. */
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";
import { WeftError } from "../errors.js";

/** A byte range of a chunk: `start` inclusive, `end` exclusive, as in `Uint8Array.subarray`. */
export interface ByteRange {
  /** First byte to return (0-based). */
  start: number;
  /** One past the last byte to return; clamped to the chunk's length. */
  end: number;
}

/** How much a {@link BlobStore} holds. */
export interface BlobStoreSize {
  /** Number of chunks. */
  count: number;
  /** Total bytes of those chunks. */
  bytes: number;
}

/**
 * Sealed chunks, by {@link ChunkId}: on a device's disk, on the relay, in memory for tests and
 * apps with no disk. It stores opaque bytes and never opens or checks them (a chunk is verified
 * by whoever opens it), so the same store serves the relay, which has no key.
 *
 * Chunks are immutable: an id names one content, so a second `put` of an id is a no-op. Bytes go
 * in and come out as copies. Every method returns a Promise and reports failure by rejecting:
 * WeftError INVALID_OPTIONS for a malformed id, bytes or range, WeftError STORAGE for a failure of
 * the store itself (an I/O error, a closed store).
 */
export interface BlobStore {
  /**
   * Which of `ids` this store lacks: the "which of these do you lack" question of a transfer.
   * The missing ids come back in the order given, each once (duplicates in `ids` collapse).
   */
  has(ids: readonly ChunkId[]): Promise<ChunkId[]>;
  /** Stores a chunk. Idempotent: if `id` is present already, nothing changes. */
  put(id: ChunkId, bytes: Uint8Array): Promise<void>;
  /**
   * A chunk's bytes, or `range` of them, or undefined if the chunk is absent. A range reaching
   * past the end is clamped (so it may come back shorter, or empty).
   */
  get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined>;
  /** Removes the chunks with these ids; ids the store lacks are ignored. */
  delete(ids: readonly ChunkId[]): Promise<void>;
  /** How many chunks the store holds and their total size. */
  size(): Promise<BlobStoreSize>;
  /** Releases the store. Further calls reject with WeftError STORAGE; closing again is a no-op. */
  close(): Promise<void>;
  /**
   * Optional, for remote stores, where a request per small chunk costs more than its bytes:
   * stores several chunks at once (a bounded batch; see `HttpBlobStore.putMany`).
   */
  putMany?(chunks: readonly { id: ChunkId; bytes: Uint8Array }[]): Promise<void>;
  /** Optional, as `putMany`: the chunks of `ids` the store has; any left out are fetched with `get`. */
  getMany?(ids: readonly ChunkId[]): Promise<Map<ChunkId, Uint8Array>>;
}

/**
 * Throws unless `id` is a chunk id in canonical form (64 lower-case hex characters).
 * @throws WeftError INVALID_OPTIONS
 */
export function checkChunkId(id: unknown, what = "chunk id"): asserts id is ChunkId {
  if (!isChunkId(id))
    throw new WeftError("INVALID_OPTIONS", `${what} must be 64 lower-case hex characters`);
}

/**
 * Throws unless `ids` is an array of chunk ids.
 * @throws WeftError INVALID_OPTIONS naming the first bad id's index
 */
export function checkChunkIds(ids: unknown): asserts ids is readonly ChunkId[] {
  if (!Array.isArray(ids)) throw new WeftError("INVALID_OPTIONS", "ids must be an array");
  for (let i = 0; i < ids.length; i++) checkChunkId(ids[i], `ids[${i}]`);
}

/**
 * Checks `range` and clamps it to a chunk of `length` bytes; undefined means the whole chunk.
 * @returns `[start, end]` with `0 <= start <= end <= length`
 * @throws WeftError INVALID_OPTIONS unless `start` and `end` are integers with
 * `0 <= start <= end`
 */
export function resolveByteRange(range: ByteRange | undefined, length: number): [number, number] {
  if (range === undefined) return [0, length];
  if (typeof range !== "object" || range === null)
    throw new WeftError("INVALID_OPTIONS", "range must be an object { start, end }");
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0)
    throw new WeftError("INVALID_OPTIONS", "range.start must be a non-negative integer");
  if (!Number.isSafeInteger(end) || end < start)
    throw new WeftError("INVALID_OPTIONS", "range.end must be an integer no less than range.start");
  return [Math.min(start, length), Math.min(end, length)];
}
