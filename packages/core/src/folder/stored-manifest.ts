/**
 * Manifests as stored in a slot, decoded only when read. Loading a large index validates every
 * manifest (sizes add up, no empty chunk) but turns chunk ids and content hashes into strings
 * only for the files someone looks at: those strings and their objects were about a third of a
 * loaded index's memory and decode time.
 */
import type { ChunkId } from "@weft/crypto";
import type { Manifest, ManifestChunk } from "../chunking/index.js";
import { WeftError } from "../errors.js";
import { ByteReader } from "../model/varint.js";

/** Most chunks one manifest may list (a 4 TiB file at the 4 MiB maximum chunk size). */
export const MAX_CHUNKS = 1_000_000;

const latin1 = new TextDecoder("latin1");
const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");

function hexAt(buf: Uint8Array, at: number): string {
  const out = new Uint8Array(64);
  for (let i = 0; i < 32; i++) {
    const b = buf[at + i]!;
    out[2 * i] = HEX_DIGITS[b >> 4]!;
    out[2 * i + 1] = HEX_DIGITS[b & 15]!;
  }
  return latin1.decode(out);
}

/**
 * A manifest read from a slot's bytes: validated when loaded, its chunk ids and content hash
 * turned into strings only when first read (most files of a large index are never looked at).
 */
export class StoredManifest implements Manifest {
  private decodedChunks: ManifestChunk[] | undefined;
  private decodedHash: string | undefined;

  private constructor(
    private readonly buf: Uint8Array,
    /** Where the manifest's encoding starts (its chunk count) and ends (after the hash). */
    private readonly start: number,
    private readonly end: number,
    readonly size: number,
  ) {}

  /**
   * Reads and validates a manifest at the reader's position: `count`, `count` × (32-byte id,
   * size), total size, 32-byte content hash. Throws INVALID_RECORD when the sizes are wrong.
   */
  static read(r: ByteReader): StoredManifest {
    const start = r.position;
    const n = r.uint();
    if (n > MAX_CHUNKS)
      throw new WeftError("INVALID_RECORD", `a manifest has at most ${MAX_CHUNKS} chunks`);
    let total = 0;
    for (let i = 0; i < n; i++) {
      r.skip(32);
      const size = r.uint();
      if (size < 1) throw new WeftError("INVALID_RECORD", "a chunk has at least one byte");
      total += size;
    }
    const size = r.uint();
    if (size !== total)
      throw new WeftError("INVALID_RECORD", "manifest size must equal the sum of its chunk sizes");
    r.skip(32);
    return new StoredManifest(r.buffer, start, r.position, size);
  }

  /** The encoded manifest, to copy into a new slot without decoding it. */
  get encoded(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  get contentHash(): string {
    return (this.decodedHash ??= hexAt(this.buf, this.end - 32));
  }

  get chunks(): ManifestChunk[] {
    if (!this.decodedChunks) {
      const r = new ByteReader(this.buf.subarray(this.start, this.end));
      const n = r.uint();
      const chunks = new Array<ManifestChunk>(n);
      for (let i = 0; i < n; i++) {
        const id = hexAt(r.buffer, r.position) as ChunkId;
        r.skip(32);
        chunks[i] = { id, size: r.uint() };
      }
      this.decodedChunks = chunks;
    }
    return this.decodedChunks;
  }

  toJSON(): Manifest {
    return { chunks: this.chunks, size: this.size, contentHash: this.contentHash };
  }
}
