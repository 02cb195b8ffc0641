/**
 * Manifests: a file described as its list of keyed chunk ids and sizes plus a content hash,
 * computed in one pass over the bytes (DESIGN.md §3 "Content").
 */
import { chunkIdFromSha256, createSha256, ready, sha256, toHex } from "@weft/crypto";
import type { ChunkId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { Chunker, chunkBytes } from "./fastcdc.js";
import type { Chunk, ChunkerOptions } from "./fastcdc.js";

/** One chunk of a file as the index records it. */
export interface ManifestChunk {
  /** Keyed hash of the chunk's SHA-256 (see `chunkIdFromSha256` in @weft/crypto). */
  id: ChunkId;
  /** Plaintext length in bytes. */
  size: number;
}

/** A file's content: its chunks in order, its length, and its content hash. */
export interface Manifest {
  chunks: ManifestChunk[];
  /** Total length in bytes (the sum of the chunk sizes). */
  size: number;
  /**
   * Hex SHA-256 over the concatenation of the chunks' raw 32-byte SHA-256 digests, as Dropbox's
   * content hash is: it falls out of the same pass that names the chunks, and two files have the
   * same content hash exactly when they have the same bytes and the same chunking options.
   * The empty file has no chunks, so its content hash is the SHA-256 of the empty string.
   */
  contentHash: string;
}

/** Length of a folder's chunk-id subkey. */
const CHUNK_ID_KEY_BYTES = 32;

/** SHA-256 of the empty string: the content hash of every empty file. */
export const EMPTY_CONTENT_HASH =
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** What {@link buildManifest} hands to `onChunk` for every chunk, in file order. */
export interface ManifestChunkEvent {
  /** The chunk id that goes into the manifest. */
  id: ChunkId;
  /** The chunk's raw SHA-256 (32 bytes). */
  sha256: Uint8Array;
  /**
   * The chunk's bytes: a view into the caller's input or into a buffer that is reused for the
   * next chunk. Read (or seal) it before `onChunk` returns or its promise settles, and copy it
   * to keep it longer.
   */
  data: Uint8Array;
  /** Offset of the chunk in the file. */
  offset: number;
}

/** Options of {@link buildManifest}. */
export interface BuildManifestOptions {
  /** The folder's chunk-id subkey (`deriveFolderSubkeys(folderKey, epoch).chunkId`). */
  chunkIdKey: Uint8Array;
  /** Chunker sizes; every device of a folder must use the same ones or dedup is lost. */
  chunking?: ChunkerOptions;
  /**
   * Called once per chunk, in order, and awaited before the next chunk is read: the place to
   * seal and store it. A rejection aborts {@link buildManifest} with that error.
   */
  onChunk?: (chunk: ManifestChunkEvent) => void | Promise<void>;
}

/**
 * Chunks a file and names its chunks, in one pass: each chunk's SHA-256 is computed once and
 * serves both its chunk id and the file's content hash.
 *
 * Memory is bounded by the chunker (about 2 × maxSize + one input block) plus what `onChunk`
 * keeps, so a file of any size can be streamed through.
 *
 * @param source - the whole file, or its bytes as an async stream of blocks of any size
 * @throws WeftError INVALID_OPTIONS for bad chunking sizes or a chunk-id key that is not 32
 * bytes; whatever `onChunk` or `source` throws
 */
export async function buildManifest(
  source: AsyncIterable<Uint8Array> | Uint8Array,
  opts: BuildManifestOptions,
): Promise<Manifest> {
  // Cheap after the first call; keeps this usable without the caller knowing crypto's setup.
  await ready();
  const { chunkIdKey, onChunk } = opts;
  // Checked up front (crypto checks it again per chunk) so an empty file cannot hide a bad key.
  if (!(chunkIdKey instanceof Uint8Array) || chunkIdKey.length !== CHUNK_ID_KEY_BYTES) {
    throw new WeftError("INVALID_OPTIONS", `chunkIdKey must be ${CHUNK_ID_KEY_BYTES} bytes`);
  }
  const contentHash = createSha256();
  const chunks: ManifestChunk[] = [];
  let size = 0;

  const take = async (chunk: Chunk): Promise<void> => {
    const digest = sha256(chunk.data);
    const id = chunkIdFromSha256(chunkIdKey, digest);
    contentHash.update(digest);
    chunks.push({ id, size: chunk.data.length });
    size += chunk.data.length;
    if (onChunk) await onChunk({ id, sha256: digest, data: chunk.data, offset: chunk.offset });
  };

  if (source instanceof Uint8Array) {
    for (const chunk of chunkBytes(source, opts.chunking)) await take(chunk);
  } else {
    // Each chunk is fully handled before the next block is read, so chunks that span blocks
    // can share one assembly buffer (no allocation per chunk; `onChunk` is told not to keep it).
    const chunker = new Chunker(opts.chunking, { reuseBuffer: true });
    for await (const block of source) {
      for (const chunk of chunker.push(block)) await take(chunk);
    }
    for (const chunk of chunker.finish()) await take(chunk);
  }
  return { chunks, size, contentHash: toHex(contentHash.digest()) };
}

/**
 * One chunk of content as a scan found it, before any key names it: its raw SHA-256 and length.
 * {@link manifestFromDigests} turns a file's list of them into its manifest without reading the
 * file again.
 */
export interface ChunkDigest {
  /** The chunk's raw SHA-256 (32 bytes). */
  sha256: Uint8Array;
  /** Plaintext length in bytes. */
  size: number;
}

/**
 * A file's content hash and length without naming its chunks: the same value
 * {@link buildManifest} returns as `contentHash` for the same bytes and chunking options, but
 * with no chunk-id key. For a local scanner that must tell whether a file on disk differs from
 * what the index holds, or pair a deleted file with a new copy of it, before any key is at hand.
 * `chunks` are the same pass's chunk digests, for {@link manifestFromDigests}.
 *
 * Memory is bounded as in {@link buildManifest}: the chunker reuses one assembly buffer.
 *
 * @param source - the whole file, or its bytes as an async stream of blocks of any size
 * @param options - chunker sizes; must be the folder's, or the hash will not match the index's
 * @throws WeftError INVALID_OPTIONS for bad chunking sizes; whatever `source` throws
 */
export async function contentHashOf(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  options?: ChunkerOptions,
): Promise<{ contentHash: string; size: number; chunks: ChunkDigest[] }> {
  await ready();
  const contentHash = createSha256();
  const chunks: ChunkDigest[] = [];
  let size = 0;
  const take = (chunk: Chunk): void => {
    const digest = sha256(chunk.data);
    contentHash.update(digest);
    chunks.push({ sha256: digest, size: chunk.data.length });
    size += chunk.data.length;
  };
  if (source instanceof Uint8Array) {
    for (const chunk of chunkBytes(source, options)) take(chunk);
  } else {
    // Each chunk is hashed before the next block is pushed, so the reused buffer is safe.
    const chunker = new Chunker(options, { reuseBuffer: true });
    for await (const block of source) {
      for (const chunk of chunker.push(block)) take(chunk);
    }
    for (const chunk of chunker.finish()) take(chunk);
  }
  return { contentHash: toHex(contentHash.digest()), size, chunks };
}

/**
 * The manifest {@link buildManifest} gives for content whose chunks {@link contentHashOf} found
 * (same bytes, same chunking options), from those digests alone: nothing is read again. The
 * chunk ids are keyed hashes of the digests, so a digest that is not of the bytes names a chunk
 * no read verifies, never wrong content.
 *
 * @throws WeftError INVALID_OPTIONS for a chunk-id key that is not 32 bytes, or a digest that
 * is not 32 bytes
 */
export async function manifestFromDigests(
  digests: readonly ChunkDigest[],
  chunkIdKey: Uint8Array,
): Promise<Manifest> {
  await ready();
  if (!(chunkIdKey instanceof Uint8Array) || chunkIdKey.length !== CHUNK_ID_KEY_BYTES) {
    throw new WeftError("INVALID_OPTIONS", `chunkIdKey must be ${CHUNK_ID_KEY_BYTES} bytes`);
  }
  const contentHash = createSha256();
  const chunks: ManifestChunk[] = [];
  let size = 0;
  for (const { sha256: digest, size: n } of digests) {
    if (digest.length !== 32 || !Number.isSafeInteger(n) || n <= 0)
      throw new WeftError("INVALID_OPTIONS", "a chunk digest is 32 bytes of a non-empty chunk");
    contentHash.update(digest);
    chunks.push({ id: chunkIdFromSha256(chunkIdKey, digest), size: n });
    size += n;
  }
  return { chunks, size, contentHash: toHex(contentHash.digest()) };
}

/**
 * The chunk ids of `next` that `base` does not have, each once, in file order: what a device
 * that holds `base` must fetch to get `next` (or what a sync of an edit has to upload).
 */
export function newChunkIds(base: Manifest, next: Manifest): ChunkId[] {
  const have = new Set<ChunkId>(base.chunks.map((c) => c.id));
  const out: ChunkId[] = [];
  for (const { id } of next.chunks) {
    if (have.has(id)) continue;
    have.add(id);
    out.push(id);
  }
  return out;
}
