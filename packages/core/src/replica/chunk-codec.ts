/** Chunks on their way to and from a blob store: compressed when it pays, sealed, and verified on the way back. */
import {
  type ChunkId,
  CryptoError,
  type FolderId,
  type FolderKeyring,
  type FolderSubkeys,
  chunkIdFromSha256,
  openChunk,
  sealChunk,
  sealedChunkEpoch,
  sha256,
} from "@weft/crypto";
import { deflateSync, inflateSync } from "fflate";
import { WeftError } from "../errors.js";
import type { RawDeflate, RawInflate } from "./types.js";

const RAW = 0;
const DEFLATE = 1;
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
 * Seals one chunk's plaintext for storage. The sealed plaintext is `format u8 ‖ body`, where
 * the body is the chunk as it is (0) or raw DEFLATE of it (1). A sample's entropy decides first
 * whether compressing is worth a try, and the result is kept only when it saves at least 1/16:
 * random and already-compressed data (photos, archives, video: most bytes people sync) then
 * costs a histogram of 1 KiB, not a deflate pass, and text still shrinks. Deflate is fflate's
 * pure JavaScript unless a native one is given, so the same code runs in browsers.
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
  const plain = new Uint8Array(1 + (body ?? data).length);
  plain[0] = body ? DEFLATE : RAW;
  plain.set(body ?? data, 1);
  return sealChunk(
    keys.subkeys(epoch).chunk,
    { chunkId: id, folderId: keys.folderId, epoch },
    plain,
  );
}

/**
 * Opens a sealed chunk and proves it is the chunk `id` names: the AEAD binds id, folder and
 * epoch, and the plaintext's keyed hash must give `id` again, so neither a tampering store nor a
 * member who sealed other bytes under this id can slip content in.
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
  let data: Uint8Array;
  if (plain[0] === RAW) data = plain.subarray(1);
  else if (plain[0] === DEFLATE) {
    // One byte of room: a body that inflates past `size` (a bomb, or the wrong chunk) shows as
    // a length mismatch without ever allocating more than the manifest promised.
    try {
      data = keys.inflate(plain.subarray(1), size + 1);
    } catch (cause) {
      throw new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… does not inflate`, { cause });
    }
  } else
    throw new WeftError("INTEGRITY", `chunk ${id.slice(0, 12)}… has unknown format ${plain[0]}`);
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
