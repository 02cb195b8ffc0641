/** Removing a file that a peer deleted, but only if it is still the version the caller knows. */
import { unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { safeJoin } from "../names/index.js";
import { walkDirs } from "./dirs.js";
import { type Expected, lstatOrNull, matchesExpected, toExpected } from "./expected.js";
import { errnoCode, fsFailure, fsyncDir } from "./fs-errors.js";

/**
 * Removes the file (or symlink) at `relPath` if it still matches `expected`, then flushes its
 * directory. Otherwise nothing is touched and `current` says what is there (null: nothing), so
 * the caller can treat a local edit as a conflict rather than lose it. A directory is never
 * removed here.
 *
 * Between the check and the unlink there is a window of a few microseconds in which a local
 * write would be removed with the file: the same residual race rsync and Syncthing have, which
 * no POSIX call closes (there is no "unlink if unchanged").
 *
 * @throws WeftError `UNSAFE_PATH` for an unsafe path or a symlinked parent, `NOT_A_DIRECTORY`
 * when a parent is a file, `NOT_FOUND` when `root` does not exist, `STORAGE` when the file
 * system fails.
 */
export async function removeFile(
  root: string,
  relPath: string,
  expected: NonNullable<Expected>,
): Promise<{ removed: boolean; current: Expected }> {
  const target = safeJoin(root, relPath);
  const parent = await walkDirs(root, relPath, relPath.split("/").slice(0, -1), false);
  if (parent === null) return { removed: false, current: null };
  const stats = await lstatOrNull(target);
  if (!matchesExpected(stats, expected, true))
    return { removed: false, current: toExpected(stats) };
  const what = `could not remove ${JSON.stringify(relPath)}`;
  try {
    await unlink(target);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return { removed: false, current: null };
    throw fsFailure(error, what);
  }
  await fsyncDir(dirname(target), what);
  return { removed: true, current: null };
}
