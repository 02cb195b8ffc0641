/** Version vectors: per-device counters, sorted by device, with a five-way comparison. */
import type { DeviceId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ByteReader, ByteWriter } from "./varint.js";

/**
 * How two version vectors relate. The two concurrent outcomes say which side a deterministic
 * tie-break favours, so that `a.compare(b)` and `b.compare(a)` are always mirror images
 * (as in Syncthing's `protocol.Vector`).
 */
export type Ordering = "equal" | "greater" | "lesser" | "concurrent-greater" | "concurrent-lesser";

/** JSON form: `[deviceId, counter]` pairs sorted by device id, counters ≥ 1. */
export type VersionVectorJson = readonly (readonly [string, number])[];

/** Longest device id accepted when decoding untrusted input. */
const MAX_DEVICE_ID_LENGTH = 128;
/** More devices than any folder will have; bounds the work an untrusted vector can cause. */
const MAX_ENTRIES = 4096;

/**
 * An immutable version vector. Counters of zero are never stored, so two vectors that mean
 * the same thing have the same entries and the same encoding.
 */
export class VersionVector {
  /** The empty vector: before any write. */
  static readonly EMPTY = new VersionVector([]);

  private constructor(private readonly entries: readonly (readonly [DeviceId, number])[]) {}

  /** Builds a vector from pairs in any order; validates devices and counters. */
  static from(pairs: Iterable<readonly [string, number]>): VersionVector {
    const map = new Map<string, number>();
    for (const [device, counter] of pairs) {
      checkEntry(device, counter);
      if (map.has(device))
        throw new WeftError("INVALID_RECORD", `device ${device} appears twice in a version vector`);
      if (counter > 0) map.set(device, counter);
    }
    const entries = [...map.entries()].sort((a, b) => cmpString(a[0], b[0]));
    return new VersionVector(entries as [DeviceId, number][]);
  }

  /** Parses the JSON form, strictly: sorted, unique, positive safe-integer counters. */
  static fromJSON(json: unknown): VersionVector {
    if (!Array.isArray(json))
      throw new WeftError("INVALID_RECORD", "version vector must be an array");
    if (json.length > MAX_ENTRIES)
      throw new WeftError("INVALID_RECORD", "version vector has too many devices");
    const entries: [DeviceId, number][] = [];
    for (const pair of json as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new WeftError(
          "INVALID_RECORD",
          "version vector entry must be a [device, counter] pair",
        );
      }
      const [device, counter] = pair as [unknown, unknown];
      if (typeof device !== "string" || typeof counter !== "number") {
        throw new WeftError("INVALID_RECORD", "version vector entry must be [string, number]");
      }
      checkEntry(device, counter);
      if (counter === 0)
        throw new WeftError("INVALID_RECORD", "version vector stores no zero counters");
      const prev = entries[entries.length - 1];
      if (prev && cmpString(prev[0], device) >= 0) {
        throw new WeftError(
          "INVALID_RECORD",
          "version vector entries must be sorted by device and unique",
        );
      }
      entries.push([device as DeviceId, counter]);
    }
    return new VersionVector(entries);
  }

  /** Decodes the compact binary form written by {@link encode}. */
  static decode(bytes: Uint8Array): VersionVector {
    const r = new ByteReader(bytes);
    const n = r.uint();
    if (n > MAX_ENTRIES)
      throw new WeftError("INVALID_ENCODING", "version vector has too many devices");
    const pairs: [string, number][] = [];
    for (let i = 0; i < n; i++) pairs.push([r.string(MAX_DEVICE_ID_LENGTH), r.uint()]);
    r.end();
    try {
      return VersionVector.fromJSON(pairs);
    } catch (cause) {
      throw new WeftError("INVALID_ENCODING", "malformed version vector", { cause });
    }
  }

  /** The counter of one device (0 when absent). */
  get(device: string): number {
    for (const [d, c] of this.entries) {
      if (d === device) return c;
    }
    return 0;
  }

  /** Devices with a counter, sorted. */
  get devices(): DeviceId[] {
    return this.entries.map(([d]) => d);
  }

  /** Number of devices with a non-zero counter. */
  get size(): number {
    return this.entries.length;
  }

  /**
   * A new vector with `device`'s counter raised by one, or to `atLeast` if that is higher
   * (a device that lost its state can bump past counters it may already have used).
   */
  increment(device: DeviceId, atLeast = 0): VersionVector {
    const next = Math.max(this.get(device) + 1, atLeast);
    checkEntry(device, next);
    const map = new Map<string, number>(this.entries);
    map.set(device, next);
    return VersionVector.from(map);
  }

  /** The least upper bound: the maximum counter per device. */
  merge(other: VersionVector): VersionVector {
    const out: [DeviceId, number][] = [];
    zip(this.entries, other.entries, (device, a, b) => out.push([device, Math.max(a, b)]));
    return new VersionVector(out);
  }

  /** Compares two vectors; see {@link Ordering}. */
  compare(other: VersionVector): Ordering {
    let greater = false;
    let lesser = false;
    zip(this.entries, other.entries, (_device, a, b) => {
      if (a > b) greater = true;
      else if (a < b) lesser = true;
    });
    if (greater && lesser) return this.concurrentSide(other);
    if (greater) return "greater";
    if (lesser) return "lesser";
    return "equal";
  }

  /** True when this vector has seen everything `other` has (greater or equal). */
  dominates(other: VersionVector): boolean {
    const o = this.compare(other);
    return o === "greater" || o === "equal";
  }

  /** True when neither vector has seen all of the other. */
  concurrentWith(other: VersionVector): boolean {
    const o = this.compare(other);
    return o === "concurrent-greater" || o === "concurrent-lesser";
  }

  /** True for the same counters. */
  equals(other: VersionVector): boolean {
    return this.compare(other) === "equal";
  }

  toJSON(): [string, number][] {
    return this.entries.map(([d, c]) => [d, c]);
  }

  /** Compact binary form: count, then (device, counter) pairs as varints, sorted by device. */
  encode(): Uint8Array {
    const w = new ByteWriter();
    w.uint(this.entries.length);
    for (const [d, c] of this.entries) {
      w.string(d);
      w.uint(c);
    }
    return w.finish();
  }

  toString(): string {
    return `{${this.entries.map(([d, c]) => `${d}:${c}`).join(", ")}}`;
  }

  /**
   * Concurrent vectors still need a side so that the outcome names a deterministic winner:
   * the larger total of counters, then the larger encoding byte-wise.
   */
  private concurrentSide(other: VersionVector): Ordering {
    const sum = (v: VersionVector): number => v.entries.reduce((s, [, c]) => s + c, 0);
    const diff = sum(this) - sum(other);
    if (diff !== 0) return diff > 0 ? "concurrent-greater" : "concurrent-lesser";
    return compareBytes(this.encode(), other.encode()) > 0
      ? "concurrent-greater"
      : "concurrent-lesser";
  }
}

/**
 * Walks two sorted vectors together, calling `visit` once per device in either, with 0 for a
 * device the vector does not have.
 */
function zip(
  a: readonly (readonly [DeviceId, number])[],
  b: readonly (readonly [DeviceId, number])[],
  visit: (device: DeviceId, a: number, b: number) => void,
): void {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x[0] < y[0])) {
      visit(x![0], x![1], 0);
      i++;
    } else if (x === undefined || y[0] < x[0]) {
      visit(y[0], 0, y[1]);
      j++;
    } else {
      visit(x[0], x[1], y[1]);
      i++;
      j++;
    }
  }
}

function checkEntry(device: string, counter: number): void {
  if (device.length === 0 || device.length > MAX_DEVICE_ID_LENGTH) {
    throw new WeftError(
      "INVALID_RECORD",
      `device id must have 1 to ${MAX_DEVICE_ID_LENGTH} characters`,
    );
  }
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new WeftError(
      "INVALID_RECORD",
      `version counter must be a non-negative safe integer, got ${counter}`,
    );
  }
}

/** Code-unit order: the same on every platform, unlike localeCompare. */
export function cmpString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}
