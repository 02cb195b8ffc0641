/**
 * Sealing several queued writes of a strong folder in one envelope: which go together, and
 * replaying them on a copy of the index (strong-writes.ts sends what this makes).
 */
import * as Y from "yjs";
import { FolderIndex, type FolderIndexOptions } from "../folder/folder-index.js";
import type { FileId } from "../ids.js";
import type { HeadClaim } from "../protocol/messages.js";
import { claimsOf, headOf, runOp } from "./strong-claims.js";
import type { SentWrite } from "./strong-sent.js";
import type { StrongOp } from "./strong-types.js";

/**
 * Most queued writes sealed in one envelope. Each costs a copy of the index and a round trip
 * alone; 64 new files claim about 130 handles, within `maxHeadClaims` (a batch that claims more
 * is halved).
 */
export const MAX_BATCH = 64;

/**
 * The kinds of write sealed together. Not a remove or a move: each is sealed alone, so the
 * writes after it are sealed from an index that has what the relay answered. (The property
 * test first found a remove of a directory and a write under its name, in one change, meeting
 * a file another device made meanwhile in the old directory; the write now brings that
 * directory back rather than making a new one, `reviveDirs` in strong-claims.ts.)
 */
export const BATCHED: ReadonlySet<StrongOp["kind"]> = new Set(["write", "mkdir"]);

/** Queued writes replayed on a copy of the index: the update and claims, or which one failed. */
export type Replayed =
  | { failedAt?: undefined; copy: FolderIndex; update?: Uint8Array; claims: HeadClaim[] }
  | { failedAt: number; error: string };
/**
 * Runs `ops` in order on a copy of `index`. The shared index never holds a write the relay may
 * refuse: its Yjs items would stay in this device's clock, and every later update of the device
 * would wait on them everywhere.
 */
export function replay(
  index: FolderIndex,
  options: FolderIndexOptions,
  ops: readonly { op: StrongOp }[],
  headKey: () => Uint8Array,
): Replayed {
  const copy = FolderIndex.load(index.snapshot(), options);
  const updates: Uint8Array[] = [];
  copy.onLocalUpdate((u) => updates.push(u));
  for (const [i, { op }] of ops.entries()) {
    try {
      runOp(copy, op);
    } catch (error) {
      return { failedAt: i, error: error instanceof Error ? error.message : String(error) };
    }
  }
  if (updates.length === 0) return { copy, claims: [] };
  const update = updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates);
  return { copy, update, claims: claimsOf(index, copy, headKey()) };
}

/** What a sealed change made of each key (see `SentWrite.made`), as `copy` shows it. */
export function madeOf(copy: FolderIndex, keys: Iterable<string>): SentWrite["made"] {
  const made: SentWrite["made"] = {};
  for (const key of keys) {
    if (key.startsWith("file:")) made[key] = [key, headOf(copy.file(key.slice(5) as FileId))];
    else {
      const entry = copy.stat(key.slice(5));
      made[key] = entry ? [`file:${entry.fileId}`, headOf(copy.file(entry.fileId))] : [key, null];
    }
  }
  return made;
}
