/** How the SQLite stores open their files: private (0700 directory, 0600 file), WAL, fsync per commit. */
import { closeSync, fchmodSync, mkdirSync, openSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { WeftError, storageError } from "@weft/core";

/**
 * Opens (creating) the database file `file`, made readable by the owner only, in WAL mode with
 * `synchronous = FULL`, or `NORMAL` when the caller makes each commit durable itself with a
 * {@link WalSync} (`options.walSync`); with `options.autoVacuum`, a new file gives pages freed
 * by deletes back to the disk at each `PRAGMA incremental_vacuum`. `label` names the store in errors ("SQLite state store").
 * @throws WeftError STORAGE when WAL is unavailable; the driver's error when the file cannot be opened
 */
export function openPrivateDatabase(
  file: string,
  label: string,
  options: { walSync?: boolean; autoVacuum?: boolean } = {},
): Database.Database {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  restrictFile(file);
  const db = new Database(file);
  try {
    // Before WAL mode: that writes the header, and then a new file can no longer take it.
    if (options.autoVacuum) db.pragma("auto_vacuum = INCREMENTAL");
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
    db.pragma(options.walSync ? "synchronous = NORMAL" : "synchronous = FULL");
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * A failure of the store at `file` while it did `what`, by core's one policy ({@link storageError}):
 * WeftErrors pass through, a full disk is `DISK_FULL` in words a person reads in `weft status`,
 * anything else `STORAGE` naming the operation and the error's code, never SQLite's own message
 * (it can quote SQL and values); the original error is the cause.
 */
export function stateStoreError(label: string, file: string, what: string, error: unknown): Error {
  return storageError(`${label} ${file}: ${what}`, error, {
    diskFullHint: "free some space on the disk that holds WEFT_HOME and weft carries on",
  });
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

/**
 * Makes a WAL-mode database's commits durable off the event loop. With `synchronous = FULL`
 * SQLite fsyncs the WAL inside every COMMIT, and better-sqlite3 runs COMMIT on the main thread:
 * in `bench:sync` the agent's event loop stood still in fsync for ~20% of the run (sender and
 * receiver alike), while reads, hashing and sealing of other files waited. With `NORMAL`, a
 * commit only writes its frames to the WAL (SQLite still fsyncs around every checkpoint); a
 * store then calls {@link sync} and resolves its callers once the WAL file is fdatasynced on
 * libuv's thread pool. A caller sees exactly what FULL gave it: its promise resolves only once
 * its commit is on disk, and commits reach the disk in order (the WAL is append-only between
 * checkpoints, and a checkpoint syncs it first). Syncs that are asked for while one runs share
 * the next one: a group commit.
 */
export class WalSync {
  private handle: Promise<FileHandle> | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  /** @param file - the database file (its WAL is `file-wal`) */
  constructor(private readonly file: string) {}

  /** Resolves once every commit made before the call is on disk. */
  sync(): Promise<void> {
    if (this.queued) return this.queued; // not started yet, so it covers this caller's commit
    if (!this.running) return this.start();
    const queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    this.queued = queued;
    return queued;
  }

  /** Closes the WAL's file handle (after the last sync). */
  async close(): Promise<void> {
    await this.queued?.catch(() => undefined);
    await this.running?.catch(() => undefined);
    const handle = this.handle;
    this.handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }

  private start(): Promise<void> {
    const run = (async () => {
      const fh = await this.open();
      await fh.datasync();
    })().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  /**
   * The WAL's handle, opened at the first sync (SQLite creates the file at the first commit),
   * with the directory synced once so that the new file's name survives a power cut too.
   */
  private open(): Promise<FileHandle> {
    this.handle ??= (async () => {
      const fh = await open(`${this.file}-wal`, "r");
      const dir = await open(dirname(this.file), "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return fh;
    })();
    const handle = this.handle;
    // A failed open is tried again at the next sync.
    handle.catch(() => {
      if (this.handle === handle) this.handle = undefined;
    });
    return handle;
  }
}
