/** Compact binary encoding helpers (LEB128 varints up to 2^53, length-prefixed UTF-8). */
import { WeftError } from "../errors.js";

const textEncoder = new TextEncoder();
// ignoreBOM: a name may begin with U+FEFF, and it must decode to the same string everywhere.
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Value of a lower-case hex digit; callers validate the string first. */
function nibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}
const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");
const HEX_SCRATCH = new Uint8Array(128);
const latin1 = new TextDecoder("latin1");

/** Appends bytes to a growing buffer; used by every binary encoder in core. */
export class ByteWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /** Empties the writer, keeping its buffer (for encoders that reuse one writer). */
  reset(): void {
    this.len = 0;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Unsigned integer up to Number.MAX_SAFE_INTEGER, 7 bits per byte. */
  uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new WeftError("INVALID_ENCODING", `cannot encode ${n} as an unsigned varint`);
    }
    this.reserve(8);
    // Division, not bit shifts: shifts would truncate to 32 bits.
    while (n >= 0x80) {
      this.buf[this.len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.len++] = n;
  }

  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Bytes written as they are, with no length prefix. */
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  string(s: string): void {
    // ASCII fast path: TextEncoder costs an allocation and a call into C++ per string, which
    // dominated encoding records full of short device ids and names.
    const n = s.length;
    let ascii = n < 128;
    for (let i = 0; ascii && i < n; i++) if (s.charCodeAt(i) > 0x7f) ascii = false;
    if (!ascii) {
      this.bytes(textEncoder.encode(s));
      return;
    }
    this.uint(n);
    this.reserve(n);
    for (let i = 0; i < n; i++) this.buf[this.len++] = s.charCodeAt(i);
  }

  u8(n: number): void {
    this.reserve(1);
    this.buf[this.len++] = n & 0xff;
  }

  /** A hex string of known even length, written as raw bytes (half the size). */
  hex(s: string): void {
    this.reserve(s.length >> 1);
    for (let i = 0; i < s.length; i += 2)
      this.buf[this.len++] = (nibble(s.charCodeAt(i)) << 4) | nibble(s.charCodeAt(i + 1));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** Reads what ByteWriter wrote; every read is bounds-checked and throws INVALID_ENCODING. */
export class ByteReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  /** The buffer being read and the offset of the next byte (for lazy views into it). */
  get buffer(): Uint8Array {
    return this.buf;
  }

  get position(): number {
    return this.pos;
  }

  /** Skips `n` bytes, bounds-checked. */
  skip(n: number): void {
    if (this.pos + n > this.buf.length) throw this.error("truncated field");
    this.pos += n;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  uint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) throw this.error("truncated varint");
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(result)) throw this.error("varint exceeds 2^53");
        if (i > 0 && byte === 0) throw this.error("non-minimal varint");
        return result;
      }
      scale *= 0x80;
    }
    throw this.error("varint longer than 8 bytes");
  }

  bytes(maxLength: number): Uint8Array {
    const n = this.uint();
    if (n > maxLength) throw this.error(`field of ${n} bytes exceeds the limit of ${maxLength}`);
    if (this.pos + n > this.buf.length) throw this.error("truncated field");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(maxLength: number): string {
    const raw = this.bytes(maxLength);
    try {
      return textDecoder.decode(raw);
    } catch (cause) {
      throw new WeftError("INVALID_ENCODING", "invalid UTF-8 in string field", { cause });
    }
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw this.error("truncated");
    return this.buf[this.pos++]!;
  }

  /** `n` raw bytes as lower-case hex. */
  hex(n: number): string {
    if (this.pos + n > this.buf.length) throw this.error("truncated field");
    // Hex digits are written as ASCII into a scratch buffer and decoded once: string
    // concatenation left a rope of n cells per string (~900 bytes per chunk id), and
    // joining an array of pairs was the slowest part of decoding a record.
    const out = n * 2 <= HEX_SCRATCH.length ? HEX_SCRATCH : new Uint8Array(n * 2);
    for (let i = 0; i < n; i++) {
      const b = this.buf[this.pos++]!;
      out[2 * i] = HEX_DIGITS[b >> 4]!;
      out[2 * i + 1] = HEX_DIGITS[b & 15]!;
    }
    return latin1.decode(out.subarray(0, n * 2));
  }

  end(): void {
    if (!this.done) throw this.error(`${this.buf.length - this.pos} trailing bytes`);
  }

  private error(what: string): WeftError {
    return new WeftError("INVALID_ENCODING", `malformed encoding at byte ${this.pos}: ${what}`);
  }
}
