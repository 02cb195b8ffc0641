/** What a caller believes is at a path, and whether the disk still agrees. */
import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import { fsFailure, errnoCode } from "./fs-errors.js";

/**
 * What the caller believes is on disk at a path: `null` = nothing is there. `mtimeMs` is whole
 * milliseconds (rounded down), the precision every platform's `stat` gives reliably.
 */
export type Expected = { size: number; mtimeMs: number; ino: number } | null;

/**
 * What is at `absPath` now, without following a symlink: `null` when nothing is (or a parent is
 * missing or not a directory). A directory or symlink is described by its own lstat, so a
 * caller comparing with what it recorded for a file sees a difference.
 *
 * `ino` is a JavaScript number: inode numbers above 2^53 (possible on some file systems) lose
 * precision, which can only make two different files look alike when they also agree on size
 * and mtime.
 */
export async function statExpected(absPath: string): Promise<Expected> {
  return toExpected(await lstatOrNull(absPath));
}

/** `lstat`, or null when nothing is at the path. */
export async function lstatOrNull(absPath: string): Promise<Stats | null> {
  try {
    return await lstat(absPath);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw fsFailure(error, `could not look at ${absPath}`);
  }
}

/** The {@link Expected} description of lstat results. */
export function toExpected(stats: Pick<Stats, "size" | "mtimeMs" | "ino"> | null): Expected {
  if (stats === null) return null;
  return { size: stats.size, mtimeMs: Math.floor(stats.mtimeMs), ino: stats.ino };
}

/**
 * Whether `stats` (what is on disk) is what `expected` describes: nothing, or a regular file
 * (or, when `allowSymlink`, a symlink) with the same size, whole-millisecond mtime and inode.
 */
export function matchesExpected(
  stats: Stats | null,
  expected: Expected,
  allowSymlink = false,
): boolean {
  if (stats === null || expected === null) return stats === null && expected === null;
  if (!stats.isFile() && !(allowSymlink && stats.isSymbolicLink())) return false;
  return (
    stats.size === expected.size &&
    Math.floor(stats.mtimeMs) === Math.floor(expected.mtimeMs) &&
    stats.ino === expected.ino
  );
}
