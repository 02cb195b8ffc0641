/** Storage keys: their limits, their order, and the checks every StateStore applies to them. */
import { WeftError } from "../errors.js";

/**
 * A key in a {@link StateStore}: a path of string parts, most general first, e.g.
 * `["index", "snapshot"]` or `["ack", relayId]`. A key doubles as a prefix: `loadRange(["ack"])`
 * returns every key that starts with the part `"ack"`.
 *
 * Each part is non-empty, at most {@link MAX_KEY_PART_BYTES} bytes of UTF-8, has no NUL and no
 * lone surrogate; a key has 1 to {@link MAX_KEY_PARTS} parts. The limits let an adapter encode a
 * key losslessly and compactly (NUL is free to act as a separator; a lone surrogate has no UTF-8
 * form, so two such keys could collide once encoded). Keys are ordered by
 * {@link compareStorageKeys}.
 */
export type StorageKey = readonly string[];

/** The most parts a {@link StorageKey} may have. */
export const MAX_KEY_PARTS = 16;
/** The most UTF-8 bytes one part of a {@link StorageKey} may have. */
export const MAX_KEY_PART_BYTES = 255;

const encoder = new TextEncoder();
// In a `u` regexp a surrogate pair is one code point, so this matches only lone surrogates.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Why `key` is not a valid {@link StorageKey} (or prefix, when `allowEmpty`), or undefined if it
 * is. For callers that want to test a key without catching.
 */
export function storageKeyProblem(key: unknown, allowEmpty = false): string | undefined {
  if (!Array.isArray(key)) return "must be an array of strings";
  if (key.length === 0 && !allowEmpty) return "must have at least one part";
  if (key.length > MAX_KEY_PARTS) return `must have at most ${MAX_KEY_PARTS} parts`;
  for (let i = 0; i < key.length; i++) {
    const part: unknown = key[i];
    if (typeof part !== "string") return `part ${i} must be a string`;
    if (part.length === 0) return `part ${i} must not be empty`;
    if (part.includes("\0")) return `part ${i} must not contain NUL`;
    if (LONE_SURROGATE.test(part)) return `part ${i} must be well-formed UTF-16`;
    // A UTF-16 code unit needs at most 3 UTF-8 bytes, so most parts skip the encode.
    if (part.length * 3 > MAX_KEY_PART_BYTES && encoder.encode(part).length > MAX_KEY_PART_BYTES)
      return `part ${i} must be at most ${MAX_KEY_PART_BYTES} bytes of UTF-8`;
  }
  return undefined;
}

/**
 * Throws unless `key` is a valid {@link StorageKey}.
 * @throws WeftError INVALID_OPTIONS naming the problem
 */
export function checkStorageKey(key: unknown, what = "key"): asserts key is StorageKey {
  const problem = storageKeyProblem(key, false);
  if (problem !== undefined) throw new WeftError("INVALID_OPTIONS", `${what} ${problem}`);
}

/**
 * Throws unless `prefix` is a valid prefix: a {@link StorageKey} or the empty key (which every
 * key starts with).
 * @throws WeftError INVALID_OPTIONS naming the problem
 */
export function checkStoragePrefix(prefix: unknown, what = "prefix"): asserts prefix is StorageKey {
  const problem = storageKeyProblem(prefix, true);
  if (problem !== undefined) throw new WeftError("INVALID_OPTIONS", `${what} ${problem}`);
}

/**
 * Throws unless `data` is a Uint8Array (a Buffer is one).
 * @throws WeftError INVALID_OPTIONS
 */
export function checkStorageData(data: unknown, what = "data"): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array))
    throw new WeftError("INVALID_OPTIONS", `${what} must be a Uint8Array`);
}

/**
 * The order of keys in every {@link StateStore}: part by part, and a key sorts before every
 * longer key it is a prefix of, so `["a","b"] < ["a","b","c"] < ["a","c"]` and
 * `["a","b"] < ["ab"]`. Parts compare by Unicode code point, which is the byte order of their
 * UTF-8: an adapter can then sort keys as bytes (SQLite's BLOB order, an LSM's key order) and
 * agree with the memory store. (JavaScript's `<` on strings compares UTF-16 code units instead,
 * which puts U+10000 and above before U+E000–U+FFFF.)
 * @returns negative, zero or positive, like a `sort` comparator
 */
export function compareStorageKeys(a: StorageKey, b: StorageKey): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareKeyParts(a[i] as string, b[i] as string);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Whether `key` starts with every part of `prefix` (so the empty prefix matches every key). */
export function keyHasPrefix(key: StorageKey, prefix: StorageKey): boolean {
  if (prefix.length > key.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

function compareKeyParts(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

// Code-unit order and code-point order differ only where a surrogate (D800–DFFF, part of a code
// point ≥ U+10000) meets a unit in E000–FFFF: moving surrogates above FFFF fixes that. Keys are
// well-formed, so two differing surrogates at the same index compare correctly among themselves.
function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/**
 * A copy of `bytes` that shares no memory with it. Not `bytes.slice()`: on a Node `Buffer`
 * (what `fs` returns, and a Uint8Array) `slice` is a view, so the caller's later writes would
 * change what the store holds.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}
