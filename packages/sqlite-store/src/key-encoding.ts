/** The byte encoding of StateStore keys in SQLite, chosen so that SQLite's BLOB order is key order. */
import type { StorageKey } from "@weft/core/storage";
import { checkStorageKey, checkStoragePrefix } from "@weft/core/storage";

const encoder = new TextEncoder();
// fatal: a key that is not UTF-8 means the file was damaged or written by something else.
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A key as bytes: each part's UTF-8 followed by one 0x00. Parts contain no NUL, so 0x00 sorts
 * below every byte of a part, and comparing two encodings with memcmp (SQLite's BLOB order)
 * compares the keys part by part, a shorter key first, each part by code point: exactly
 * `compareStorageKeys`. And a key starts with a prefix iff its encoding starts with the
 * prefix's, so a prefix is a contiguous byte range (see {@link encodePrefixRange}).
 * @throws WeftError INVALID_OPTIONS for an invalid key
 */
export function encodeKey(key: StorageKey, what = "key"): Buffer {
  checkStorageKey(key, what);
  return encodeParts(key);
}

/**
 * The byte range `[low, high)` holding exactly the keys that start with `prefix`, or undefined
 * for the empty prefix (every key). `low` is the prefix's encoding, which ends in 0x00; `high`
 * is the same with that last byte raised to 0x01: every key under the prefix lies between, and
 * nothing else does, since only 0x00 sorts below 0x01.
 * @throws WeftError INVALID_OPTIONS for an invalid prefix
 */
export function encodePrefixRange(
  prefix: StorageKey,
  what = "prefix",
): [Buffer, Buffer] | undefined {
  checkStoragePrefix(prefix, what);
  if (prefix.length === 0) return undefined;
  const low = encodeParts(prefix);
  const high = Buffer.from(low);
  high[high.length - 1] = 0x01;
  return [low, high];
}

/**
 * The key that {@link encodeKey} encoded as `bytes`.
 * @throws TypeError if the bytes are not such an encoding (damaged or foreign data)
 */
export function decodeKey(bytes: Uint8Array): string[] {
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0)
    throw new TypeError("stored key does not end with a separator");
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    if (i === start) throw new TypeError("stored key has an empty part");
    parts.push(decoder.decode(bytes.subarray(start, i)));
    start = i + 1;
  }
  return parts;
}

function encodeParts(parts: StorageKey): Buffer {
  const encoded = parts.map((p) => encoder.encode(p));
  const out = Buffer.alloc(encoded.reduce((n, e) => n + e.length + 1, 0));
  let at = 0;
  for (const e of encoded) {
    out.set(e, at);
    at += e.length + 1; // Buffer.alloc zero-fills: the separator is already there.
  }
  return out;
}
