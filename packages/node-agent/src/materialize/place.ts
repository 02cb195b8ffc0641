/** Placing downloaded content: temp file, verify, flush, and rename only over what was expected. */
import type { Stats } from "node:fs";
import { constants } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename, join } from "node:path";
import { WeftError } from "@weft/core";
import { safeJoin } from "../names/index.js";
import { walkDirs } from "./dirs.js";
import { type Expected, lstatOrNull, matchesExpected, toExpected } from "./expected.js";
import { errnoCode, fsFailure, fsyncDir } from "./fs-errors.js";
import { isTempName, tempName } from "./temp.js";

/** How {@link placeFile} writes a file and when it may replace what is there. */
export interface PlaceOptions {
  /** Permission bits to set; only `0o777` is kept (the executable bits, never setuid). */
  mode: number;
  /**
   * Modification time to set on the placed file (its access time is set to it too). A file
   * system may round it (HFS+ to the second, FAT to two); the result's `stat` says what stuck.
   */
  mtimeMs: number;
  /** The rename happens only if the path still matches this (null: only if nothing is there). */
  expected: Expected;
  /** When given, the number of bytes written must equal it (more is refused as it arrives). */
  size?: number;
  /** Stops the write between chunks; the temp file is removed and `signal.reason` thrown. */
  signal?: AbortSignal;
  /**
   * A resumable temp file's name (`partName`) instead of a fresh one: opened as it is (or
   * created), written over from the start and cut to length, and left in place when `source`
   * fails, so that a later attempt can take the chunks already in it.
   */
  resumeAs?: string;
}

/** What {@link placeFile} did. */
export type PlaceResult =
  | { placed: true; stat: { size: number; mtimeMs: number; ino: number; mode: number } }
  /** The local file changed (or is a directory or symlink): the caller treats it as a conflict. */
  | { placed: false; reason: "changed"; current: Expected };

/**
 * Writes `source` to `relPath` under `root` so that nothing half-written or unverified ever
 * replaces a file, and a local change is never overwritten.
 *
 * 1. Missing parent directories are created, never through a symlink (each existing component
 *    is lstat-ed: a symlink is `UNSAFE_PATH`, a file is `NOT_A_DIRECTORY`).
 * 2. The content goes to `<dir>/.weft-tmp-<16 hex>` (created exclusively, mode 0600). `source`
 *    verifies its own chunks: if it throws, the temp file is removed and its error rethrown
 *    unchanged. The byte count is checked against `size`, then mode and times are set and the
 *    file is fsynced and closed.
 * 3. The target is lstat-ed: unless it matches `expected` (same size, whole-millisecond mtime
 *    and inode; or absent for null) the temp file is removed and `{ placed: false, reason:
 *    "changed", current }` returned. A directory or symlink never matches. On a
 *    case-insensitive file system, `a.txt` finds an existing `A.txt` here too.
 * 4. The temp file is renamed over the target and the directory fsynced.
 *
 * Between the check in 3 and the rename in 4 there is a window of a few microseconds in which
 * a local write to the target would be replaced: the same residual race rsync and Syncthing
 * have, which no POSIX call closes (there is no "rename if unchanged").
 *
 * Whatever fails, the temp file is removed and the target left as it was.
 *
 * @throws the source's own error unchanged; `signal.reason` when aborted; WeftError
 * `UNSAFE_PATH` (an unsafe path, a symlink on the way, or a name reserved for temp files),
 * `NOT_A_DIRECTORY`, `NOT_FOUND` (no folder at `root`), `INTEGRITY` (the size is wrong),
 * `INVALID_ARGUMENT` (bad options), `DISK_FULL`, or `STORAGE` (any other I/O failure).
 */
export async function placeFile(
  root: string,
  relPath: string,
  source: AsyncIterable<Uint8Array>,
  options: PlaceOptions,
): Promise<PlaceResult> {
  const target = safeJoin(root, relPath);
  const segments = relPath.split("/");
  if (isTempName(basename(target))) {
    throw new WeftError(
      "UNSAFE_PATH",
      `refusing ${JSON.stringify(relPath)}: the name is reserved for weft's temporary files`,
    );
  }
  checkOptions(relPath, options);
  options.signal?.throwIfAborted();
  const what = `could not place ${JSON.stringify(relPath)}`;
  const dir = (await walkDirs(root, relPath, segments.slice(0, -1), true)) as string;

  const temp = join(dir, options.resumeAs ?? tempName());
  let handle: FileHandle | undefined;
  let tempExists = false;
  let finished = false;
  let keepTemp = false;
  try {
    try {
      handle = await open(
        temp,
        options.resumeAs ? constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW : "wx",
        0o600,
      );
    } catch (error) {
      throw fsFailure(error, what, "nothing was replaced");
    }
    tempExists = true;
    let written: number;
    try {
      written = await writeAll(handle, source, options, what);
    } catch (error) {
      // The source failed (the relay went away): what was written stays for the next attempt.
      keepTemp =
        options.resumeAs !== undefined &&
        !(error instanceof WeftError && error.code === "INTEGRITY");
      throw error;
    }
    // A resumed file may hold more than this content (it never does unless tampered with).
    if (options.resumeAs) await handle.truncate(written);
    if (options.size !== undefined && written !== options.size) {
      throw new WeftError(
        "INTEGRITY",
        `${what}: received ${written} bytes where ${options.size} were expected; nothing was replaced`,
      );
    }
    let stats: Stats;
    try {
      // Mode and times before the fsync, so that they are as durable as the content.
      await handle.chmod(options.mode & 0o777);
      const seconds = utimesSeconds(options.mtimeMs);
      await handle.utimes(seconds, seconds);
      await handle.sync();
      stats = await handle.stat();
      const closing = handle;
      handle = undefined;
      await closing.close();
    } catch (error) {
      throw fsFailure(error, what, "nothing was replaced");
    }
    options.signal?.throwIfAborted();

    const existing = await lstatOrNull(target);
    if (!matchesExpected(existing, options.expected)) {
      finished = true;
      return { placed: false, reason: "changed", current: toExpected(existing) };
    }
    try {
      await rename(temp, target);
    } catch (error) {
      throw fsFailure(error, what, "nothing was replaced");
    }
    tempExists = false;
    await fsyncDir(dir, `placed ${JSON.stringify(relPath)}, but it may not survive a power loss`);
    finished = true;
    // fstat of the temp file: the same inode, size and mtime the target now has, read before
    // anyone else could touch the target.
    return {
      placed: true,
      stat: { ...(toExpected(stats) as NonNullable<Expected>), mode: stats.mode & 0o777 },
    };
  } finally {
    await cleanUp(handle, tempExists && !keepTemp ? temp : undefined, finished, what);
  }
}

/** Streams `source` into `handle`, returning the byte count. */
async function writeAll(
  handle: FileHandle,
  source: AsyncIterable<Uint8Array>,
  options: PlaceOptions,
  what: string,
): Promise<number> {
  let written = 0;
  // for-await rethrows the source's own errors untouched, and calls its return() when the
  // body throws, so that a source holding a connection can let go of it.
  for await (const chunk of source) {
    options.signal?.throwIfAborted();
    if (options.size !== undefined && written + chunk.byteLength > options.size) {
      throw new WeftError(
        "INTEGRITY",
        `${what}: received more than the expected ${options.size} bytes; nothing was replaced`,
      );
    }
    let offset = 0;
    while (offset < chunk.byteLength) {
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset));
      } catch (error) {
        throw fsFailure(error, what, "nothing was replaced");
      }
      if (bytesWritten <= 0) throw new WeftError("STORAGE", `${what}: a write made no progress`);
      offset += bytesWritten;
    }
    written += chunk.byteLength;
  }
  return written;
}

/**
 * Closes the handle and removes the temp file if they are still there. When an error is
 * already on its way out, a failure here is not allowed to replace it (the error that
 * explains what went wrong matters more than the cleanup's); otherwise it is thrown.
 */
async function cleanUp(
  handle: FileHandle | undefined,
  temp: string | undefined,
  finished: boolean,
  what: string,
): Promise<void> {
  let failure: unknown;
  if (handle !== undefined) {
    await handle.close().catch((error: unknown) => (failure ??= error));
  }
  if (temp !== undefined) {
    await unlink(temp).catch((error: unknown) => {
      if (errnoCode(error) !== "ENOENT") failure ??= error;
    });
  }
  if (finished && failure !== undefined) {
    throw fsFailure(failure, `${what}: could not remove the temporary file ${temp ?? ""}`);
  }
}

/**
 * `mtimeMs` as the seconds `utimes` takes. libuv truncates to whole microseconds, and
 * `1577934245.678` is stored as `…677999…` in binary: passed as is, a whole millisecond would
 * come back one lower. Aiming at the middle of the microsecond keeps it exact (a double's
 * error at today's times is about 0.1 µs).
 */
function utimesSeconds(mtimeMs: number): number {
  return (Math.floor(mtimeMs * 1000) + 0.5) / 1e6;
}

function checkOptions(relPath: string, options: PlaceOptions): void {
  const bad = (what: string): WeftError =>
    new WeftError("INVALID_ARGUMENT", `cannot place ${JSON.stringify(relPath)}: ${what}`);
  const { mode, mtimeMs, size, expected } = options;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw bad(`invalid mode ${mode}`);
  if (!Number.isFinite(mtimeMs)) throw bad(`invalid mtime ${mtimeMs}`);
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
    throw bad(`invalid size ${size}`);
  }
  if (expected !== null && (typeof expected !== "object" || !Number.isFinite(expected.size))) {
    throw bad("invalid expected state");
  }
}
