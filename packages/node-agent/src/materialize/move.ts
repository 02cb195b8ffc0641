/**
 * Moves on disk. When a plan writes content at a new path and removes a file holding that same
 * content (a rename or a move on another device), the file is given its new name instead of
 * being written again: a 200 MiB file renamed elsewhere is renamed here, not copied.
 */
import { chmod, link, unlink, utimes } from "node:fs/promises";
import { dirname } from "node:path";
import { safeJoin } from "../names/index.js";
import type { LocalFileState } from "../scan/index.js";
import { walkDirs } from "./dirs.js";
import { type Expected, lstatOrNull, matchesExpected } from "./expected.js";
import { errnoCode, fsFailure, fsyncDir } from "./fs-errors.js";
import type { MaterializePlan, RemoveDir, RemoveFile, WriteFile } from "./plan.js";

/** A write whose content is the file a removal of the same plan would delete. */
export interface Move {
  from: RemoveFile;
  to: WriteFile;
}

/**
 * Pairs each write to a path this device has no record of with a removal, among `sources`,
 * of a file recorded with the same content; each removal is used once. Writes over a recorded
 * file are not moves: they replace it only if it is still as recorded, which a move would skip.
 */
export function pairMoves(
  plan: MaterializePlan,
  sources: ReadonlySet<RemoveFile | RemoveDir>,
): Move[] {
  const byHash = new Map<string, RemoveFile[]>();
  for (const action of sources) {
    if (action.do !== "remove-file" || !action.recorded.hash) continue;
    const list = byHash.get(action.recorded.hash) ?? [];
    list.push(action);
    byHash.set(action.recorded.hash, list);
  }
  const moves: Move[] = [];
  for (const to of plan.files) {
    if (to.do !== "write" || to.recorded || !to.contentHash) continue;
    const from = byHash.get(to.contentHash)?.shift();
    if (from) moves.push({ from, to });
  }
  return moves;
}

/**
 * Gives `move.from`'s file the name `move.to.path`, with the tree's mode and mtime, if it is
 * still as recorded and nothing is at the new path; resolves with the new path's disk state,
 * or null when it did nothing (the caller writes the file the usual way, and removes the old
 * one only if it is still as recorded).
 *
 * The new name is made with `link` (which never replaces a file that appeared there since the
 * plan) and the old one then removed, so a kill between the two leaves both names on the same
 * file: the next pass adopts the new one (same content) and removes the old one (as recorded).
 * Between the check and the `link` there is the few-microsecond window `removeFile` has.
 */
export async function moveFile(
  root: string,
  move: Move,
  expected: NonNullable<Expected>,
): Promise<LocalFileState | null> {
  const { from, to } = move;
  const parents = (path: string) => path.split("/").slice(0, -1);
  if ((await walkDirs(root, from.path, parents(from.path), false)) === null) return null;
  if ((await walkDirs(root, to.path, parents(to.path), false)) === null) return null;
  const source = safeJoin(root, from.path);
  const target = safeJoin(root, to.path);
  if (!matchesExpected(await lstatOrNull(source), expected)) return null;
  try {
    await link(source, target);
  } catch (error) {
    // Something is at the new name, or this file system has no hard links: write it instead.
    const code = errnoCode(error);
    if (code === "EEXIST" || code === "EPERM" || code === "ENOTSUP" || code === "EXDEV")
      return null;
    throw fsFailure(error, `could not move ${JSON.stringify(from.path)}`);
  }
  const what = `could not move ${JSON.stringify(from.path)} to ${JSON.stringify(to.path)}`;
  try {
    await unlink(source);
    const now = await lstatOrNull(target);
    if (now && (now.mode & 0o777) !== to.mode) await chmod(target, to.mode);
    if (now && Math.floor(now.mtimeMs) !== Math.floor(to.mtimeMs))
      await utimes(target, now.atime, new Date(to.mtimeMs));
    await fsyncDir(dirname(target), what);
    if (dirname(source) !== dirname(target)) await fsyncDir(dirname(source), what);
  } catch (error) {
    throw fsFailure(error, what);
  }
  const placed = await lstatOrNull(target);
  if (!placed) return null;
  return {
    path: to.path,
    kind: "file",
    size: placed.size,
    mtimeMs: placed.mtimeMs,
    ino: placed.ino,
    mode: to.mode,
    hash: to.contentHash,
  };
}
