/**
 * Move detection: pairs records that vanished from their old paths with records that appeared
 * at new ones, by inode first (a rename, no hashing) and then by content hash (a copy then a
 * delete). Only unambiguous pairs are made: anything else stays a plain add and remove.
 */
import type { LocalFileState } from "./types.js";

/** What a new entry offers for pairing by inode. */
export interface InodeCandidate {
  path: string;
  kind: "file" | "dir";
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * Pairs new entries with gone records that have the same inode (and kind). A file pairs only
 * if its size and mtime are also unchanged, so its previous hash can be reused unread; a
 * directory needs only the inode. An inode held by several gone records or several new
 * entries (hard links) pairs nothing.
 *
 * @returns new path → the gone record it came from
 */
export function pairByInode(
  gone: readonly LocalFileState[],
  added: readonly InodeCandidate[],
): Map<string, LocalFileState> {
  const key = (r: { kind: string; ino: number }): string => `${r.kind}:${r.ino}`;
  const goneByKey = groupBy(gone, key);
  const addedByKey = groupBy(added, key);
  const pairs = new Map<string, LocalFileState>();
  for (const entry of added) {
    const k = key(entry);
    const from = only(goneByKey.get(k));
    if (from === undefined || only(addedByKey.get(k)) === undefined) continue;
    if (entry.kind === "file") {
      if (from.size !== entry.size || from.mtimeMs !== entry.mtimeMs || from.hash === null) {
        continue;
      }
    }
    pairs.set(entry.path, from);
  }
  return pairs;
}

/**
 * Pairs new files with gone files of the same content hash, when exactly one of each has it.
 * Empty files never pair: every empty file has the same hash, so it says nothing about where
 * one came from.
 *
 * @returns new path → the gone record it came from
 */
export function pairByHash(
  gone: readonly LocalFileState[],
  added: readonly LocalFileState[],
): Map<string, LocalFileState> {
  const pairable = (r: LocalFileState): boolean =>
    r.kind === "file" && r.size > 0 && r.hash !== null;
  const byHash = (r: LocalFileState): string => r.hash ?? "";
  const goneByHash = groupBy(gone.filter(pairable), byHash);
  const addedByHash = groupBy(added.filter(pairable), byHash);
  const pairs = new Map<string, LocalFileState>();
  for (const [hash, news] of addedByHash) {
    const to = only(news);
    const from = only(goneByHash.get(hash));
    if (to !== undefined && from !== undefined) pairs.set(to.path, from);
  }
  return pairs;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** The single element of `list`, or undefined when it has none or several. */
function only<T>(list: readonly T[] | undefined): T | undefined {
  return list?.length === 1 ? list[0] : undefined;
}
