/** Flushing a directory, so that an entry just created, renamed or removed in it is durable. */
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";

/**
 * fsyncs directory `dir`, so that an entry just created, renamed or removed in it survives a
 * power loss (a rename is only durable once its directory is). Platforms that cannot open or
 * fsync a directory (EINVAL, EISDIR; EPERM and EACCES on Windows) are skipped: there the entry
 * is as durable as the OS makes it.
 *
 * @throws the system error (ENOENT, EIO, …) for any other failure; callers say what it stopped
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, "r");
  } catch (error) {
    if (cannotSyncDirs(error)) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!cannotSyncDirs(error)) throw error;
  } finally {
    await handle.close();
  }
}

function cannotSyncDirs(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "EINVAL" || code === "EISDIR") return true;
  return process.platform === "win32" && (code === "EPERM" || code === "EACCES");
}
