/** Reads one frame field by field: bounds and limits checked, errors naming the field. */
import type { ChunkId, FolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ByteReader } from "../model/varint.js";
import { ProtocolError } from "./errors.js";
import { frameLimits } from "./limits.js";
import type { MessageType, SoftwareInfo } from "./messages.js";

/** Chunk ids travel as their 32 raw bytes, half the size of their hex form. */
export const CHUNK_ID_BYTES = 32;

/**
 * Field-named, ProtocolError-throwing reads over the shared ByteReader. Byte fields are copied
 * out of the frame: a view would keep the whole frame alive, and a socket library may reuse
 * its receive buffer after the callback returns.
 */
export class FrameReader {
  private readonly r: ByteReader;
  // Strings must round-trip exactly: keep a leading U+FEFF instead of stripping it as a BOM.
  private static readonly utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  constructor(
    private readonly frame: Uint8Array,
    private readonly type: MessageType,
  ) {
    this.r = new ByteReader(frame);
    this.r.u8();
    this.r.u8();
  }

  uint(field: string): number {
    return this.guard(field, () => this.r.uint());
  }

  flag(field: string): boolean {
    const b = this.guard(field, () => this.r.u8());
    if (b > 1) throw this.bad(field, `presence flag must be 0 or 1, got ${b}`);
    return b === 1;
  }

  enumeration<T>(field: string, values: ReadonlyMap<number, T>): T {
    const n = this.guard(field, () => this.r.u8());
    const value = values.get(n);
    if (value === undefined) throw this.bad(field, `unknown value ${n}`);
    return value;
  }

  /** A length-prefixed byte field, at most `max` bytes, copied. */
  bytes(field: string, max: number): Uint8Array {
    // ByteReader checks the declared length against the bytes present; the limit is checked
    // here so that exceeding it is `too_large`, not a generic malformed-encoding error.
    const view = this.guard(field, () => this.r.bytes(Number.MAX_SAFE_INTEGER));
    if (view.length > max) {
      throw new ProtocolError(
        "too_large",
        `${this.type}.${field} is ${view.length} bytes, over the limit of ${max}`,
      );
    }
    return new Uint8Array(view); // a copy, and a plain Uint8Array even if the frame is a Buffer
  }

  string(field: string, maxBytes: number): string {
    const raw = this.bytes(field, maxBytes);
    try {
      return FrameReader.utf8.decode(raw);
    } catch (cause) {
      throw new ProtocolError("bad_frame", `${this.type}.${field} is not valid UTF-8`, { cause });
    }
  }

  folderId(): FolderId {
    return this.string("folderId", 26) as FolderId;
  }

  software(field: string): SoftwareInfo {
    const name = this.string(`${field}.name`, frameLimits.maxSoftwareInfoBytes);
    return { name, version: this.string(`${field}.version`, frameLimits.maxSoftwareInfoBytes) };
  }

  /**
   * An array length, checked against its limit and against what the frame could hold at
   * `minItemBytes` per item, so a lying count fails before any item is read.
   */
  count(field: string, max: number, minItemBytes: number): number {
    const n = this.uint(field);
    if (n > max) {
      throw new ProtocolError(
        "too_large",
        `${this.type}.${field} has ${n} items, over the limit of ${max}`,
      );
    }
    if (n * minItemBytes > this.frame.length) {
      throw this.bad(
        field,
        `declares ${n} items, more than the ${this.frame.length}-byte frame holds`,
      );
    }
    return n;
  }

  chunkIds(field: string): ChunkId[] {
    const n = this.count(field, frameLimits.maxChunkIdsPerCheck, CHUNK_ID_BYTES);
    const ids: ChunkId[] = [];
    for (let i = 0; i < n; i++)
      ids.push(this.guard(`${field}[${i}]`, () => this.r.hex(CHUNK_ID_BYTES)) as ChunkId);
    return ids;
  }

  end(): void {
    this.guard("frame", () => this.r.end());
  }

  private bad(field: string, what: string): ProtocolError {
    return new ProtocolError("bad_frame", `${this.type}.${field} ${what}`);
  }

  /** Runs a ByteReader call, turning its WeftError into a ProtocolError naming the field. */
  private guard<T>(field: string, read: () => T): T {
    try {
      return read();
    } catch (error) {
      if (error instanceof WeftError && error.code === "INVALID_ENCODING") {
        throw new ProtocolError("bad_frame", `${this.type}.${field}: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}
