/**
 * The body of the batch chunk routes (PROTOCOL.md "HTTP: blobs", `blobs/batch` and
 * `blobs/fetch`): many sealed chunks in one request or answer. A folder of small files has
 * thousands of chunks of a few KiB, and a request each costs more than the bytes.
 *
 * Layout, repeated: the chunk id (32 bytes, raw), its length (u32, big-endian), its bytes.
 */
import type { ChunkId } from "@weft/crypto";
import { fromHex, isChunkId, toHex } from "@weft/crypto";
import { ProtocolError } from "./errors.js";

/** Most chunks in one batch body. */
export const MAX_BATCH_CHUNKS = 1024;
/** Most bytes of one batch body (chunks and framing): what a client packs, what a relay answers. */
export const MAX_CHUNK_BATCH_BYTES = 16 * 1024 * 1024;
/** Chunks at most this large go in batches; larger ones move on their own (resumable). */
export const BATCH_CHUNK_LIMIT = 1024 * 1024;

const HEADER = 36;

/** One chunk of a batch. */
export interface BatchChunk {
  id: ChunkId;
  bytes: Uint8Array;
}

/** The bytes a chunk of `size` takes in a batch body. */
export function batchedSize(size: number): number {
  return HEADER + size;
}

/** Encodes chunks as one batch body. */
export function encodeChunkBatch(chunks: readonly BatchChunk[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += batchedSize(c.bytes.length);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const { id, bytes } of chunks) {
    out.set(fromHex(id), at);
    view.setUint32(at + 32, bytes.length);
    out.set(bytes, at + HEADER);
    at += HEADER + bytes.length;
  }
  return out;
}

/**
 * Decodes a batch body. The chunks share `body`'s memory (no copies).
 * @throws ProtocolError bad_frame when it is truncated or names a chunk twice; too_large over
 *   {@link MAX_BATCH_CHUNKS}
 */
export function decodeChunkBatch(body: Uint8Array): BatchChunk[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: BatchChunk[] = [];
  const seen = new Set<string>();
  let at = 0;
  while (at < body.length) {
    if (out.length === MAX_BATCH_CHUNKS)
      throw new ProtocolError("too_large", `a batch holds at most ${MAX_BATCH_CHUNKS} chunks`);
    if (body.length - at < HEADER)
      throw new ProtocolError("bad_frame", `batch entry ${out.length + 1} is truncated`);
    const id = toHex(body.subarray(at, at + 32));
    const size = view.getUint32(at + 32);
    if (body.length - at - HEADER < size)
      throw new ProtocolError("bad_frame", `batch entry ${out.length + 1} is truncated`);
    if (!isChunkId(id) || seen.has(id))
      throw new ProtocolError("bad_frame", `batch entry ${out.length + 1} repeats a chunk id`);
    seen.add(id);
    out.push({ id, bytes: body.subarray(at + HEADER, at + HEADER + size) });
    at += HEADER + size;
  }
  return out;
}
