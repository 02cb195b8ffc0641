/** File-system failures as WeftErrors, and flushing a directory entry to disk. */
import { WeftError } from "@weft/core";
import { fsyncDir as coreFsyncDir } from "@weft/core/fs";

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
 * fsyncs directory `dir` (core's {@link coreFsyncDir}: skipped where a platform cannot), so that
 * an entry just created, renamed or removed in it survives a power loss; a failure is a
 * WeftError saying `what` it stopped.
 */
export async function fsyncDir(dir: string, what: string): Promise<void> {
  try {
    await coreFsyncDir(dir);
  } catch (error) {
    throw fsFailure(error, `${what} (flushing its directory)`);
  }
}
