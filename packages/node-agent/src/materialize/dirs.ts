/** Directories inside the folder: created and removed without ever going through a symlink. */
import { mkdir, readdir, rmdir, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { WeftError } from "@weft/core";
import { safeJoin } from "../names/index.js";
import { lstatOrNull } from "./expected.js";
import { errnoCode, fsFailure, fsyncDir } from "./fs-errors.js";

/**
 * Walks the directories `segments` (the first `segments.length` components of `relPath`) from
 * `root` down, lstat-ing each: a symlink is refused, a file where a directory should be is an
 * error, and a missing one is created when `create` (and its parent flushed), otherwise the
 * walk stops. Returns the absolute path of the last directory, or null when one is missing.
 *
 * `root` itself may be a symlink (the user chose it) but must exist: a folder on an unmounted
 * drive is never re-created empty.
 *
 * Between the lstat of a component and its use, another local process could swap it for a
 * symlink; Node has no `openat`/`O_NOFOLLOW` walk to close that window. The threat this
 * guards against, a peer sending a symlink and then a file "inside" it, cannot race.
 */
export async function walkDirs(
  root: string,
  relPath: string,
  segments: readonly string[],
  create: boolean,
): Promise<string | null> {
  const base = resolve(root);
  await checkRoot(base, relPath);
  let current = base;
  for (const [i, segment] of segments.entries()) {
    const next = join(current, segment);
    const where = segments.slice(0, i + 1).join("/");
    let stats = await lstatOrNull(next);
    if (stats === null) {
      if (!create) return null;
      try {
        await mkdir(next);
        await fsyncDir(current, `could not create the directory ${JSON.stringify(where)}`);
      } catch (error) {
        // Created by someone else meanwhile: check what it is like any existing component.
        if (errnoCode(error) !== "EEXIST") {
          throw fsFailure(error, `could not create the directory ${JSON.stringify(where)}`);
        }
      }
      stats = await lstatOrNull(next);
    }
    if (stats === null) {
      throw new WeftError(
        "STORAGE",
        `the directory ${JSON.stringify(where)} vanished as it was made`,
      );
    }
    if (stats.isSymbolicLink()) {
      throw new WeftError(
        "UNSAFE_PATH",
        `refusing ${JSON.stringify(relPath)}: ${JSON.stringify(where)} is a symlink, and nothing is written through one`,
      );
    }
    if (!stats.isDirectory()) {
      throw new WeftError(
        "NOT_A_DIRECTORY",
        `cannot write ${JSON.stringify(relPath)}: ${JSON.stringify(where)} is a file, not a directory`,
      );
    }
    current = next;
  }
  return current;
}

async function checkRoot(base: string, relPath: string): Promise<void> {
  let ok: boolean;
  try {
    ok = (await stat(base)).isDirectory();
  } catch (error) {
    if (errnoCode(error) !== "ENOENT") throw fsFailure(error, `could not open the folder ${base}`);
    ok = false;
  }
  if (!ok) {
    throw new WeftError(
      "NOT_FOUND",
      `cannot write ${JSON.stringify(relPath)}: the folder ${base} is not there (an unmounted drive?)`,
    );
  }
}

/**
 * Makes the directory `relPath` and any missing parent (`mkdir -p` inside `root`). An existing
 * directory is fine.
 *
 * @throws WeftError `UNSAFE_PATH` for an unsafe path or a symlink on the way (the last
 * component included), `NOT_A_DIRECTORY` when a file is in the way, `NOT_FOUND` when `root`
 * does not exist, `DISK_FULL` or `STORAGE` when the file system fails.
 */
export async function makeDir(root: string, relPath: string): Promise<void> {
  safeJoin(root, relPath);
  await walkDirs(root, relPath, relPath.split("/"), true);
}

/**
 * Removes the directory `relPath` if it holds nothing but regular files for which
 * `isIgnorable(name)` is true (junk such as `.DS_Store` or `Thumbs.db`, which are removed
 * first). Anything else inside, a subdirectory or symlink included, keeps it, and nothing
 * else is ever removed. Which names are junk is the caller's policy: it should only be names
 * the user's ignore rules let weft delete.
 *
 * @returns true when the directory is gone (removed now, or it was not there), false when it
 * was kept (it holds something, or the path is a file or symlink, which are left alone).
 * @throws WeftError `UNSAFE_PATH` for an unsafe path or a symlinked parent, `NOT_A_DIRECTORY`
 * when a parent is a file, `NOT_FOUND` when `root` does not exist, `STORAGE` when the file
 * system fails.
 */
export async function removeDirIfEmpty(
  root: string,
  relPath: string,
  isIgnorable: (name: string) => boolean,
): Promise<boolean> {
  const target = safeJoin(root, relPath);
  const parent = await walkDirs(root, relPath, relPath.split("/").slice(0, -1), false);
  if (parent === null) return true;
  const stats = await lstatOrNull(target);
  if (stats === null) return true;
  if (!stats.isDirectory()) return false;
  const what = `could not remove the directory ${JSON.stringify(relPath)}`;
  let entries;
  try {
    entries = await readdir(target, { withFileTypes: true });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return true;
    throw fsFailure(error, what);
  }
  if (!entries.every((entry) => entry.isFile() && isIgnorable(entry.name))) return false;
  for (const entry of entries) {
    try {
      await unlink(join(target, entry.name));
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw fsFailure(error, what);
    }
  }
  try {
    await rmdir(target);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") return true;
    // Something was created inside meanwhile: it stays, and so does the directory.
    if (code === "ENOTEMPTY" || code === "EEXIST") return false;
    throw fsFailure(error, what);
  }
  await fsyncDir(dirname(target), what);
  return true;
}
