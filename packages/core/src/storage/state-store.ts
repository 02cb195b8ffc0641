/** The StateStore interface (a device's own bookkeeping: index snapshot, acks, sequence numbers) and its op checks. */
import { WeftError } from "../errors.js";
import type { StorageKey } from "./keys.js";
import { checkStorageData, checkStorageKey, checkStoragePrefix } from "./keys.js";

/** One write in a {@link StateStore.transaction}. */
export type StateOp =
  | { op: "save"; key: StorageKey; data: Uint8Array }
  | { op: "remove"; key: StorageKey }
  | { op: "removeRange"; prefix: StorageKey };

/** One entry returned by {@link StateStore.loadRange}. */
export interface StateEntry {
  /** The full key (a fresh array the caller may keep). */
  key: string[];
  /** The stored bytes (a copy the caller may change). */
  data: Uint8Array;
}

/**
 * Device-local state: a dumb, ordered key-value store of byte strings. It knows nothing of
 * indexes or acks; the engine decides what to keep under which key. Implementations: the
 * in-memory {@link MemoryStateStore} here, SQLite in @weft/node-agent; all pass the one
 * conformance suite in `@weft/core/conformance`.
 *
 * Keys are {@link StorageKey}s, ordered by {@link compareStorageKeys} (part by part, by code
 * point). Bytes go in and come out as copies: changing an array after `save`, or one returned by
 * `load`, never changes what is stored. Every method returns a Promise and reports failure by
 * rejecting (never by throwing synchronously): WeftError INVALID_OPTIONS for a malformed key or
 * value, WeftError STORAGE for a failure of the store itself (an I/O error, a closed store).
 */
export interface StateStore {
  /** The bytes stored under `key`, or undefined if there are none. */
  load(key: StorageKey): Promise<Uint8Array | undefined>;
  /** Stores `data` under `key`, replacing what was there. Durable once the Promise resolves. */
  save(key: StorageKey, data: Uint8Array): Promise<void>;
  /** Removes `key` if present; only that key, not the keys it is a prefix of. */
  remove(key: StorageKey): Promise<void>;
  /**
   * Every entry whose key starts with `prefix` (including `prefix` itself), in key order. The
   * empty prefix returns everything. `["a"]` matches `["a","b"]` but not `["ab"]`.
   */
  loadRange(prefix: StorageKey): Promise<StateEntry[]>;
  /** Removes every key that starts with `prefix` (including `prefix` itself). */
  removeRange(prefix: StorageKey): Promise<void>;
  /**
   * Applies `ops` in order, all or none: an index snapshot and the ack it covers land together or
   * not at all, even if the process dies midway. Every op is validated; if any is invalid or the
   * store fails, the Promise rejects and the store is as it was before the call.
   */
  transaction(ops: readonly StateOp[]): Promise<void>;
  /**
   * Releases the store. Further calls reject with WeftError STORAGE; closing again is a no-op.
   * Writes whose Promise resolved before are kept.
   */
  close(): Promise<void>;
}

/**
 * Throws unless `op` is a well-formed {@link StateOp} (its kind, key or prefix, and data).
 * Adapters call it for each op of a transaction before or while applying it.
 * @throws WeftError INVALID_OPTIONS naming the op's index
 */
export function checkStateOp(op: unknown, index: number): asserts op is StateOp {
  const what = `ops[${index}]`;
  if (typeof op !== "object" || op === null)
    throw new WeftError("INVALID_OPTIONS", `${what} must be an object`);
  const o = op as Record<string, unknown>;
  switch (o["op"]) {
    case "save":
      checkStorageKey(o["key"], `${what}.key`);
      checkStorageData(o["data"], `${what}.data`);
      return;
    case "remove":
      checkStorageKey(o["key"], `${what}.key`);
      return;
    case "removeRange":
      checkStoragePrefix(o["prefix"], `${what}.prefix`);
      return;
    default:
      throw new WeftError(
        "INVALID_OPTIONS",
        `${what}.op must be "save", "remove" or "removeRange"`,
      );
  }
}

/**
 * Throws unless `ops` is an array of well-formed {@link StateOp}s.
 * @throws WeftError INVALID_OPTIONS naming the first bad op's index
 */
export function checkStateOps(ops: unknown): asserts ops is readonly StateOp[] {
  if (!Array.isArray(ops)) throw new WeftError("INVALID_OPTIONS", "ops must be an array");
  for (let i = 0; i < ops.length; i++) checkStateOp(ops[i], i);
}
