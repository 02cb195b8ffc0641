/**
 * FastCDC content-defined chunking (Xia et al., USENIX ATC 2016 / IEEE TPDS 2020): a gear
 * rolling hash, cut-point skipping below `minSize`, and normalized chunking level 2.
 *
 * Boundaries are part of the storage format: two devices must cut the same bytes at the same
 * places or they stop sharing chunks. The gear table, the masks and the cut rule below are
 * therefore frozen; `test/chunking.test.ts` pins them.
 */
import { WeftError } from "../errors.js";

/** Sizes that steer the chunker. All in bytes; see {@link resolveChunkerOptions} for limits. */
export interface ChunkerOptions {
  /** No content-defined cut happens before this many bytes (only the file's last chunk is shorter). Default 256 KiB. */
  minSize?: number;
  /** The "normal size" where the cut condition switches from hard to easy: chunks cluster around it. Default 1 MiB. */
  avgSize?: number;
  /** A chunk is cut here whatever the content (e.g. runs of zeros). Default 4 MiB. */
  maxSize?: number;
}

/** {@link ChunkerOptions} with every field filled in and checked. */
export interface ResolvedChunkerOptions {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

/** One piece of the input: its byte offset in the whole stream and its bytes. */
export interface Chunk {
  /** Offset of the chunk's first byte from the start of the input. */
  offset: number;
  /**
   * The chunk's bytes: a view into the caller's input when the chunk lies inside one block,
   * else a copy (a new array, or the chunker's reused buffer; see {@link Chunker}).
   */
  data: Uint8Array;
}

/** Defaults from DESIGN.md §3: 256 KiB min / 1 MiB average / 4 MiB max. */
export const DEFAULT_CHUNKER_OPTIONS: ResolvedChunkerOptions = Object.freeze({
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
});

// Smallest size we accept: a cut depends on the last 32 bytes (the gear hash's window), so
// chunks not much longer than that would be cut by noise more than by content.
const MIN_MIN_SIZE = 64;
// Largest: a chunk that spans input blocks is assembled in one array of up to maxSize bytes,
// and avgSize < 2^30 keeps the harder mask (log2(avgSize) + 2 bits) within 32 bits.
const MAX_MAX_SIZE = 1024 * 1024 * 1024;

/**
 * Fills in defaults and validates.
 * @throws WeftError INVALID_OPTIONS, naming the option, when a size is not an integer in
 * [64 B, 1 GiB] or when `minSize < avgSize < maxSize` does not hold
 */
export function resolveChunkerOptions(opts: ChunkerOptions = {}): ResolvedChunkerOptions {
  const r = {
    minSize: opts.minSize ?? DEFAULT_CHUNKER_OPTIONS.minSize,
    avgSize: opts.avgSize ?? DEFAULT_CHUNKER_OPTIONS.avgSize,
    maxSize: opts.maxSize ?? DEFAULT_CHUNKER_OPTIONS.maxSize,
  };
  for (const [name, v] of Object.entries(r)) {
    if (!Number.isSafeInteger(v) || v < MIN_MIN_SIZE || v > MAX_MAX_SIZE) {
      throw new WeftError(
        "INVALID_OPTIONS",
        `chunker option ${name} must be an integer in [${MIN_MIN_SIZE}, ${MAX_MAX_SIZE}], got ${String(v)}`,
      );
    }
  }
  if (!(r.minSize < r.avgSize && r.avgSize < r.maxSize)) {
    throw new WeftError(
      "INVALID_OPTIONS",
      `chunker options must satisfy minSize < avgSize < maxSize, got ${r.minSize} / ${r.avgSize} / ${r.maxSize}`,
    );
  }
  return Object.freeze(r);
}

/**
 * The 256-entry gear table: one pseudo-random 32-bit value per byte value, generated at load
 * from a fixed seed by splitmix32 (integer-only arithmetic, so identical on every engine).
 * Stored as Int32Array so the hot loop stays in V8's int32 fast path (a Uint32Array read above
 * 2^31 would become a double). Exported for the pinning test only; not part of the API.
 */
export const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  let state = 0x57454654; // "WEFT"
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
})();

/** Whether an Int32Array read sees bytes in little-endian order (the word loop relies on it). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A mask of the `bits` highest bits of a 32-bit word, as an int32.
 *
 * Why the high bits: with `fp = (fp << 1) + GEAR[byte]`, bit k of fp depends on the last k+1
 * bytes only, so the top bits see the widest window (bit 31: 32 bytes). A cut happens where
 * `(fp & mask) === 0`, which for a random-looking fp has probability 2^-bits per byte.
 */
function highMask(bits: number): number {
  return bits >= 32 ? -1 : (0xffffffff << (32 - bits)) | 0;
}

/**
 * The two masks of normalized chunking, level 2. `bits = round(log2(avgSize))`, so avgSize
 * need not be a power of two: it is rounded to the nearest one for the masks and used as is
 * for the switch point. Below avgSize the mask has bits + 2 ones (a cut is 4× less likely than
 * 1/avg per byte), from avgSize on it has bits - 2 (4× more likely): chunk sizes crowd around
 * avgSize instead of spreading out geometrically, which is what improves dedup per the papers.
 */
export function chunkMasks(avgSize: number): { maskS: number; maskL: number } {
  const bits = Math.round(Math.log2(avgSize));
  return { maskS: highMask(Math.min(32, bits + 2)), maskL: highMask(Math.max(1, bits - 2)) };
}

/**
 * Splits a stream of blocks into content-defined chunks; the boundaries do not depend on how
 * the input is split into blocks.
 *
 * Memory: the chunk in progress is kept as views of the blocks it spans (< maxSize bytes of
 * data); the part of their buffers outside the chunk is bounded by maxSize too (a tail is
 * copied out of a buffer that would pin more), so at most about 2 × maxSize + the current block
 * is held, whatever the stream's length. Do not modify a block after passing it to
 * {@link Chunker.push} until the chunk containing its last byte has been returned.
 */
export class Chunker {
  private readonly minSize: number;
  private readonly avgSize: number;
  private readonly maxSize: number;
  private readonly maskS: number;
  private readonly maskL: number;
  /** Views of earlier blocks that belong to the chunk in progress. */
  private pending: Uint8Array[] = [];
  /** Bytes of the chunk in progress seen so far (the sum of `pending` lengths). */
  private pendingLen = 0;
  /** Gear hash of the chunk in progress; reset per chunk, so state never crosses a cut. */
  private fp = 0;
  /** Stream offset of the chunk in progress. */
  private offset = 0;
  private finished = false;
  /** Whether chunks that span blocks are assembled in {@link assembly} (see the constructor). */
  private readonly reuse: boolean;
  /** maxSize bytes, allocated on first use when `reuse` is set. */
  private assembly: Uint8Array | undefined;

  /**
   * @param opts - chunk sizes
   * @param reuseBuffer - assemble every chunk that spans blocks in one internal buffer instead
   * of a new array each time. Such a chunk's bytes are then only valid until the next
   * `push()`; for consumers that are done with each chunk before pushing more (as
   * `buildManifest` is), this saves an allocation per chunk and keeps memory flat.
   * @throws WeftError INVALID_OPTIONS on bad sizes (see {@link resolveChunkerOptions}).
   */
  constructor(opts?: ChunkerOptions, { reuseBuffer = false }: { reuseBuffer?: boolean } = {}) {
    this.reuse = reuseBuffer;
    const r = resolveChunkerOptions(opts);
    this.minSize = r.minSize;
    this.avgSize = r.avgSize;
    this.maxSize = r.maxSize;
    const { maskS, maskL } = chunkMasks(r.avgSize);
    this.maskS = maskS;
    this.maskL = maskL;
  }

  /**
   * Feeds the next block and returns every chunk that ends inside it. Chunks that lie inside
   * `block` are `subarray` views of it; a chunk that spans blocks (only ever the first one
   * returned) is copied into a new array, or into the reused buffer with `reuseBuffer`.
   */
  push(block: Uint8Array): Chunk[] {
    if (this.finished) throw new Error("Chunker.push called after finish()");
    const out: Chunk[] = [];
    const end = block.length;
    if (end === 0) return out;
    this.compactLastPending();
    let start = 0;
    while (start < end) {
      const cut = this.findCut(block, start, end);
      if (cut < 0) {
        // No boundary in the rest of this block: keep a view of it until the cut shows up.
        this.pending.push(block.subarray(start, end));
        this.pendingLen += end - start;
        break;
      }
      out.push(this.emit(block.subarray(start, cut)));
      start = cut;
    }
    return out;
  }

  /** Ends the input and returns the last chunk (shorter than minSize, possibly) if any bytes remain. */
  finish(): Chunk[] {
    if (this.finished) return [];
    this.finished = true;
    if (this.pendingLen === 0) return [];
    return [this.emit(new Uint8Array(0))];
  }

  /**
   * Once the next block has arrived, the tail of the previous block is copied out if keeping a
   * view would pin more than maxSize of other bytes in its buffer (a huge block, or a view of
   * a big buffer), so the buffer can be freed. Ordinary blocks are kept as views and copied
   * once, when the chunk is emitted. Deferred to here so a one-shot or final chunk stays a view.
   */
  private compactLastPending(): void {
    const last = this.pending.length - 1;
    const tail = this.pending[last];
    if (tail !== undefined && tail.buffer.byteLength - tail.byteLength > this.maxSize) {
      this.pending[last] = tail.slice();
    }
  }

  /** Closes the chunk in progress with `last` as its final part. */
  private emit(last: Uint8Array): Chunk {
    let data = last;
    if (this.pending.length === 1 && last.length === 0) {
      data = this.pending[0]!;
      this.pending = [];
    } else if (this.pending.length > 0) {
      const size = this.pendingLen + last.length;
      if (this.reuse) {
        this.assembly ??= new Uint8Array(this.maxSize);
        data = this.assembly.subarray(0, size);
      } else {
        data = new Uint8Array(size);
      }
      let at = 0;
      for (const part of this.pending) {
        data.set(part, at);
        at += part.length;
      }
      data.set(last, at);
      this.pending = [];
    }
    const chunk = { offset: this.offset, data };
    this.offset += data.length;
    this.pendingLen = 0;
    this.fp = 0;
    return chunk;
  }

  /**
   * Scans `buf[start, end)` as the continuation of the chunk in progress (`pendingLen` bytes
   * long so far). Returns the index in `buf` just past the cut, or -1 when the chunk goes on
   * past `end` (the hash is then kept in `fp`). A cut after chunk byte j makes a chunk of j + 1
   * bytes; bytes before `minSize` are not hashed at all (the FastCDC skip), so the hash is the
   * only state carried between blocks.
   */
  private findCut(buf: Uint8Array, start: number, end: number): number {
    const base = start - this.pendingLen; // index in buf of the chunk's (virtual) first byte
    let i = base + this.minSize;
    if (i < start) i = start;
    if (i >= end) return -1;
    const normalEnd = base + this.avgSize;
    if (i < normalEnd) {
      const cut = this.scan(buf, i, normalEnd < end ? normalEnd : end, this.maskS);
      if (cut >= 0) return cut;
      i = normalEnd;
      if (i >= end) return -1;
    }
    const hardEnd = base + this.maxSize;
    const cut = this.scan(buf, i, hardEnd < end ? hardEnd : end, this.maskL);
    if (cut >= 0) return cut;
    return hardEnd <= end ? hardEnd : -1;
  }

  /**
   * The hot loop: rolls the gear hash over `buf[i, lim)` starting from `this.fp` and returns
   * the index just past the first byte where `(fp & mask) === 0`, or -1 after saving the hash.
   *
   * Speed: V8 re-checks a typed array's bounds on every element read, so the aligned middle
   * part reads the input 4 bytes at a time through an Int32Array (one checked load instead of
   * four) and unpacks the bytes with shifts in the order they lie in memory on a little-endian
   * machine (a big-endian one takes the byte loop throughout). The result is byte-for-byte the
   * same as the one-byte loop used for the edges; the pinned-boundary tests hold it to that.
   */
  private scan(buf: Uint8Array, i: number, lim: number, mask: number): number {
    const gear = GEAR;
    let fp = this.fp;
    const off = buf.byteOffset;
    // Unaligned head: bytes until the absolute address is a multiple of 4.
    let headEnd = i + ((4 - ((off + i) & 3)) & 3);
    if (headEnd > lim) headEnd = lim;
    for (; i < headEnd; i++) {
      fp = ((fp << 1) + gear[buf[i]!]!) | 0;
      if ((fp & mask) === 0) return i + 1;
    }
    // Aligned middle: 8 bytes per iteration from two 32-bit loads (fewer checked reads and
    // loop tests per byte than one word at a time; about 10% faster here).
    const nWords = LITTLE_ENDIAN ? (lim - i) >> 2 : 0;
    if (nWords > 1) {
      const words = new Int32Array(buf.buffer, off + i, nWords);
      let w = 0;
      for (; w + 1 < words.length; w += 2) {
        const x = words[w]!;
        const y = words[w + 1]!;
        fp = ((fp << 1) + gear[x & 255]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 1;
        fp = ((fp << 1) + gear[(x >>> 8) & 255]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 2;
        fp = ((fp << 1) + gear[(x >>> 16) & 255]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 3;
        fp = ((fp << 1) + gear[x >>> 24]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 4;
        fp = ((fp << 1) + gear[y & 255]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 5;
        fp = ((fp << 1) + gear[(y >>> 8) & 255]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 6;
        fp = ((fp << 1) + gear[(y >>> 16) & 255]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 7;
        fp = ((fp << 1) + gear[y >>> 24]!) | 0;
        if ((fp & mask) === 0) return i + 4 * w + 8;
      }
      i += 4 * w;
    }
    // Tail: fewer than 8 bytes left.
    for (; i < lim; i++) {
      fp = ((fp << 1) + gear[buf[i]!]!) | 0;
      if ((fp & mask) === 0) return i + 1;
    }
    this.fp = fp;
    return -1;
  }
}

/**
 * Chunks a whole buffer at once. Every chunk is a `subarray` view of `data` (no copy).
 * Gives exactly the boundaries that {@link Chunker} and {@link chunkStream} give for the same
 * bytes split into blocks in any way.
 */
export function chunkBytes(data: Uint8Array, opts?: ChunkerOptions): Chunk[] {
  const c = new Chunker(opts);
  const out = c.push(data);
  for (const last of c.finish()) out.push(last);
  return out;
}

/**
 * Chunks an async stream of blocks (any sizes, empty blocks allowed). Yields each chunk as soon
 * as its end is known; memory stays within about 2 × maxSize + one block (see {@link Chunker})
 * whatever the stream's length. Each chunk that spans blocks is a new array, safe to keep.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  opts?: ChunkerOptions,
): AsyncGenerator<Chunk, void, undefined> {
  const c = new Chunker(opts);
  for await (const block of source) {
    yield* c.push(block);
  }
  yield* c.finish();
}
