/** Compact binary encoding helpers (LEB128 varints up to 2^53, length-prefixed UTF-8). */
import { WeftError } from "../errors.js";

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });
/** Value of a lower-case hex digit; callers validate the string first. */
function nibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

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
    // Short ASCII strings (device ids, most names) are decoded in place: TextDecoder and a
    // subarray per string cost more than the rest of a record.
    const start = this.pos;
    const n = this.uint();
    if (n < 64 && n <= maxLength && this.pos + n <= this.buf.length) {
      let out = "";
      let i = this.pos;
      const end = i + n;
      for (; i < end; i++) {
        const c = this.buf[i]!;
        if (c > 0x7f) break;
        out += String.fromCharCode(c);
      }
      if (i === end) {
        this.pos = end;
        return out;
      }
    }
    this.pos = start;
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
    let out = "";
    for (let i = 0; i < n; i++) out += HEX[this.buf[this.pos++]!];
    return out;
  }

  end(): void {
    if (!this.done) throw this.error(`${this.buf.length - this.pos} trailing bytes`);
  }

  private error(what: string): WeftError {
    return new WeftError("INVALID_ENCODING", `malformed encoding at byte ${this.pos}: ${what}`);
  }
}
