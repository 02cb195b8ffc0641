/** Chunks on their way to and from a blob store: compressed when it pays, sealed, and verified on the way back. */
import {
  type ChunkId,
  CryptoError,
  type FolderId,
  type FolderKeyring,
  type FolderSubkeys,
  CHUNK_OVERHEAD,
  chunkIdFromSha256,
  openChunk,
  sealChunk,
  sealedChunkEpoch,
  sha256,
} from "@weft/crypto";
import { deflateSync, inflateSync } from "fflate";
import { HTTP_BLOB_MAX_BYTES } from "../client/blob-routes.js";
import { WeftError } from "../errors.js";
import type { RawDeflate, RawInflate } from "./types.js";

// Formats of a sealed chunk's plaintext (its first byte). 0 and 1 are what versions before
// padding sealed; they still open, and nothing seals them any more.
const RAW = 0;
const DEFLATE = 1;
const PADDED_RAW = 2;
const PADDED_DEFLATE = 3;
/** A padded plaintext's header: format u8 ‖ body length u32 BE. */
const PADDED_HEADER = 5;
/** Chunks smaller than this are never worth a deflate header and the trial. */
const MIN_COMPRESS_BYTES = 512;
/**
 * How much of a chunk is test-compressed before committing to the whole. Small: deflate finds
 * text's redundancy within a few hundred bytes, and a folder of small files pays the trial per
 * file.
 */
const SAMPLE_BYTES = 1024;
/** Entropy of a sample above which a chunk is stored as it is (see `worthCompressing`). */
const MAX_SAMPLE_BITS_PER_BYTE = 7.2;

/**
 * Keys of a folder by epoch, derived once (`FolderKeyring.subkeys` copies on every call), and
 * the inflate that opening a chunk uses.
 */
export class ChunkKeys {
  private readonly cache = new Map<number, FolderSubkeys>();
  /**
   * @param inflate - raw INFLATE for compressed chunks (default: fflate's JavaScript one); a
   *   receiver opens every chunk twice (on download, and when writing the file), so a native
   *   one matters (see {@link RawInflate})
   */
  constructor(
    readonly folderId: FolderId,
    private readonly keyring: FolderKeyring,
    readonly inflate: RawInflate = (data, size) => inflateSync(data, { out: new Uint8Array(size) }),
  ) {}

  /** The newest epoch: new content is sealed under it. */
  get epoch(): number {
    return this.keyring.latestEpoch;
  }

  /**
   * The epoch under which `data` is the plaintext chunk `id` names, or undefined when it is not
   * (a chunk read from a local file carries no epoch; its id is keyed with one).
   */
  epochOf(id: ChunkId, data: Uint8Array): number | undefined {
    const digest = sha256(data);
    const epochs = this.keyring.epochs;
    for (let i = epochs.length - 1; i >= 0; i--)
      if (chunkIdFromSha256(this.subkeys(epochs[i]!).chunkId, digest) === id) return epochs[i];
    return undefined;
  }

  subkeys(epoch: number): FolderSubkeys {
    let keys = this.cache.get(epoch);
    if (!keys) {
      keys = this.keyring.subkeys(epoch);
      this.cache.set(epoch, keys);
    }
    return keys;
  }
}

/**
 * Seals one chunk's plaintext for storage. The sealed plaintext is `format u8 ‖ body length u32
 * BE ‖ body ‖ zeros`, where the body is the chunk as it is (format 2) or raw DEFLATE of it (3),
 * and the zeros pad the sealed chunk to its {@link paddedSealedLength}, so the relay learns a
 * Padmé bucket of the size, not the size. A sample's entropy decides first whether compressing
 * is worth a try, and the result is kept only when it saves at least 1/16: random and
 * already-compressed data (photos, archives, video: most bytes people sync) then costs a
 * histogram of 1 KiB, not a deflate pass, and text still shrinks. Deflate is fflate's pure
 * JavaScript unless a native one is given, so the same code runs in browsers.
 */
export function sealChunkData(
  keys: ChunkKeys,
  id: ChunkId,
  data: Uint8Array,
  compress: boolean | RawDeflate = true,
  /** The epoch whose key named `id` (default the newest: new content). */
  epoch = keys.epoch,
): Uint8Array {
  let body: Uint8Array | undefined;
  const deflate: RawDeflate =
    typeof compress === "function" ? compress : (d) => deflateSync(d, { level: 1 });
  if (compress && data.length >= MIN_COMPRESS_BYTES && worthCompressing(data)) {
    const packed = deflate(data);
    if (packed.length < data.length - (data.length >> 4)) body = packed;
  }
  const content = body ?? data;
  const unpadded = CHUNK_OVERHEAD + PADDED_HEADER + content.length;
  // One allocation, zero-filled: the padding costs no copy of its own.
  const plain = new Uint8Array(paddedSealedLength(unpadded) - CHUNK_OVERHEAD);
  plain[0] = body ? PADDED_DEFLATE : PADDED_RAW;
  new DataView(plain.buffer).setUint32(1, content.length, false);
  plain.set(content, PADDED_HEADER);
  return sealChunk(
    keys.subkeys(epoch).chunk,
    { chunkId: id, folderId: keys.folderId, epoch },
    plain,
  );
}

/**
 * Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PETS 2019): `length` rounded up so that only its top ⌊log2 E⌋ + 1 bits after the
 * leading one may be set, E = ⌊log2 length⌋. At most ~12% more (on bench:sync's tree 1.44% in
 * all, 6.2% for the worst chunk), and a size then tells O(log log length) bits.
 */
export function padme(length: number): number {
  if (length < 2) return length;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const step = 2 ** (e - s);
  return Math.ceil(length / step) * step;
}

/**
 * The length a chunk that would seal to `length` bytes unpadded is padded to: its
 * {@link padme} length, but never past {@link HTTP_BLOB_MAX_BYTES} (a chunk the relay would
 * take unpadded must stay one it takes), and never shorter than it was.
 */
export function paddedSealedLength(length: number): number {
  return Math.max(length, Math.min(padme(length), HTTP_BLOB_MAX_BYTES));
}

/**
 * Opens a sealed chunk and proves it is the chunk `id` names: the AEAD binds id, folder and
 * epoch, and the plaintext's keyed hash must give `id` again, so neither a tampering store nor a
 * member who sealed other bytes under this id can slip content in. Chunks sealed before padding
 * (formats 0 and 1, unpadded) still open.
 * @throws WeftError INTEGRITY when the bytes are not chunk `id` of `size` bytes
 */
export function openChunkData(
  keys: ChunkKeys,
  id: ChunkId,
  sealed: Uint8Array,
  size: number,
): Uint8Array {
  let plain: Uint8Array;
  let sub: FolderSubkeys;
  try {
    const epoch = sealedChunkEpoch(sealed);
    sub = keys.subkeys(epoch);
    plain = openChunk(sub.chunk, { chunkId: id, folderId: keys.folderId, epoch }, sealed);
  } catch (cause) {
    const why =
      cause instanceof CryptoError && cause.code === "BAD_KEY"
        ? "no key for its epoch"
        : "it does not open";
    throw new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… is corrupt or forged: ${why}`, {
      cause,
    });
  }
  const format = plain[0];
  let body: Uint8Array;
  if (format === RAW || format === DEFLATE) body = plain.subarray(1);
  else if (format === PADDED_RAW || format === PADDED_DEFLATE) body = unpad(id, plain);
  else throw new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… has unknown format ${format}`);
  let data = body;
  if (format === DEFLATE || format === PADDED_DEFLATE) {
    // One byte of room: a body that inflates past `size` (a bomb, or the wrong chunk) shows as
    // a length mismatch without ever allocating more than the manifest promised.
    try {
      data = keys.inflate(body, size + 1);
    } catch (cause) {
      throw new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… does not inflate`, { cause });
    }
  }
  if (data.length !== size)
    throw new WeftError(
      "INTEGRITY",
      `chunk ${id.slice(0, 12)}… is ${data.length} bytes, expected ${size}`,
    );
  if (chunkIdFromSha256(sub.chunkId, sha256(data)) !== id)
    throw new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… does not match its id`);
  return data;
}

/**
 * The body of a padded plaintext. The padding is refused unless it is exactly what
 * {@link sealChunkData} writes (zeros, up to the padded length of the body): sealing is then
 * canonical, and a member who holds the key cannot hide bytes, or a different size, in it.
 */
function unpad(id: ChunkId, plain: Uint8Array): Uint8Array {
  const bad = (why: string) =>
    new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… has bad padding: ${why}`);
  if (plain.length < PADDED_HEADER) throw bad("no length");
  const length = new DataView(plain.buffer, plain.byteOffset, plain.length).getUint32(1, false);
  const end = PADDED_HEADER + length;
  if (end > plain.length) throw bad(`a body of ${length} bytes does not fit`);
  const sealed = CHUNK_OVERHEAD + plain.length;
  if (sealed !== paddedSealedLength(CHUNK_OVERHEAD + end))
    throw bad(`${sealed} bytes is not the padded length for a body of ${length}`);
  let or = 0;
  for (let i = end; i < plain.length; i++) or |= plain[i]!;
  if (or !== 0) throw bad("not zeros");
  return plain.subarray(PADDED_HEADER, end);
}

/**
 * Whether a sample of `data` looks compressible: its bytes' entropy (order 0) is under
 * {@link MAX_SAMPLE_BITS_PER_BYTE}. Random and already-compressed data measure ~7.8 bits a byte
 * over 1 KiB, text ~4.5. A histogram costs a few microseconds; the deflate trial it replaces
 * set up a zlib stream per chunk (zlib was ~2.6 s of a sender's 63 s in bench:sync at scale
 * 0.1, full passes over text included). Order-0 entropy under 7.2 bits is what Huffman coding
 * alone turns into the ≥ 10% saving the trial asked for.
 */
function worthCompressing(data: Uint8Array): boolean {
  if (data.length <= 2 * SAMPLE_BYTES) return true; // the whole costs about what a trial would
  const counts = new Uint16Array(256);
  for (let i = 0; i < SAMPLE_BYTES; i++) counts[data[i]!]!++;
  let bits = 0;
  for (const c of counts) if (c > 0) bits -= c * Math.log2(c / SAMPLE_BYTES);
  return bits < MAX_SAMPLE_BITS_PER_BYTE * SAMPLE_BYTES;
}
