/** File-system failures as WeftErrors, and flushing a directory entry to disk. */
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { WeftError } from "@weft/core";

/** The `code` of a Node.js system error (`ENOENT`, `ENOSPC`, …), if it has one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = error.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * `error` as a WeftError saying what failed: `DISK_FULL` for ENOSPC and EDQUOT (with `onFull`
 * appended, e.g. "nothing was replaced"), `STORAGE` for any other system error. A WeftError is
 * returned as it is.
 */
export function fsFailure(error: unknown, what: string, onFull = ""): WeftError {
  if (error instanceof WeftError) return error;
  const code = errnoCode(error);
  if (code === "ENOSPC" || code === "EDQUOT") {
    const full = code === "ENOSPC" ? "the disk is full" : "the disk quota is exceeded";
    return new WeftError("DISK_FULL", `${what}: ${full}${onFull ? `; ${onFull}` : ""}`, {
      cause: error,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new WeftError("STORAGE", `${what}: ${detail}`, { cause: error });
}

/**
 * fsyncs directory `dir`, so that an entry just created, renamed or removed in it survives a
 * power loss. Platforms that cannot open or fsync a directory (EINVAL, EISDIR; EPERM and
 * EACCES on Windows) are skipped: there the rename is as durable as the OS makes it.
 */
export async function fsyncDir(dir: string, what: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, "r");
  } catch (error) {
    if (cannotSyncDirs(error)) return;
    throw fsFailure(error, `${what} (opening its directory to flush it)`);
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!cannotSyncDirs(error)) throw fsFailure(error, `${what} (flushing its directory)`);
  } finally {
    await handle.close();
  }
}

function cannotSyncDirs(error: unknown): boolean {
  const code = errnoCode(error);
  if (code === "EINVAL" || code === "EISDIR") return true;
  return process.platform === "win32" && (code === "EPERM" || code === "EACCES");
}
