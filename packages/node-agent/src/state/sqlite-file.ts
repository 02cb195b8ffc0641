/** How the agent opens its SQLite files: private (0700 directory, 0600 file), WAL, fsync per commit. */
import { closeSync, fchmodSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { WeftError } from "@weft/core";

/**
 * Opens (creating) the database file `file`, made readable by the owner only, in WAL mode with
 * `synchronous = FULL`. `label` names the store in errors ("SQLite state store").
 * @throws WeftError STORAGE when WAL is unavailable; the driver's error when the file cannot be opened
 */
export function openPrivateDatabase(file: string, label: string): Database.Database {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  restrictFile(file);
  const db = new Database(file);
  try {
    const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
    // WAL is what makes readers never block the writer and a commit one append; refuse rather
    // than silently run without it (it fails on some network filesystems).
    if (mode !== "wal")
      throw new WeftError(
        "STORAGE",
        `${label} ${file}: WAL mode unavailable (got ${String(mode)})`,
      );
    // A commit survives a power cut: what the stores hold may be the only copy (a change not yet
    // sent, a chunk not yet uploaded).
    db.pragma("synchronous = FULL");
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Wraps a failure with the store and path; WeftErrors (bad input, closed) pass through
 * unchanged. A full disk (SQLite's SQLITE_FULL, or ENOSPC/EDQUOT from the file system) is
 * `DISK_FULL` in words a person reads in `weft status`, not SQLite's "database or disk is full".
 */
export function storageError(label: string, file: string, what: string, error: unknown): Error {
  if (error instanceof WeftError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT")
    return new WeftError(
      "DISK_FULL",
      `${label} ${file}: ${what} failed: the disk is full (it holds WEFT_HOME); free some space and weft carries on`,
      { cause: error },
    );
  const reason = error instanceof Error ? error.message : String(error);
  return new WeftError("STORAGE", `${label} ${file}: ${what} failed: ${reason}`, { cause: error });
}

/** Creates the file 0600 if absent, and makes an existing one 0600 (it may predate us). */
function restrictFile(file: string): void {
  const fd = openSync(file, "a", 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}
