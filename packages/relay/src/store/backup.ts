/**
 * Backup and restore of a relay's data directory, while the relay runs: the database through
 * SQLite's online backup API, then the chunk files.
 */
import { constants } from "node:fs";
import {
  chmod,
  copyFile,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { WeftError } from "@weft/core";
import { isFolderId } from "@weft/crypto";
import { listChunkIds } from "./chunk-listing.js";
import { SCHEMA_VERSION } from "./migrations.js";

/** What a backup holds; also written to `BACKUP.json` in it. */
export interface BackupSummary {
  /** When the database snapshot was taken (ISO 8601). */
  created: string;
  /** The database's schema version (migrations applied). */
  schemaVersion: number;
  folders: number;
  chunks: number;
  bytes: number;
  /** Chunks listed but deleted (garbage-collected) before they could be copied. */
  vanished: number;
}

const PAGE = 1000;
const MANIFEST = "BACKUP.json";

/**
 * Copies the relay data in `dataDir` to the new directory `out`, consistently, while a relay
 * may be running on it:
 *
 * 1. The database first, with SQLite's online backup API: one snapshot of every table, however
 *    much the relay writes meanwhile (WAL lets the copy read beside the writer).
 * 2. Then the chunks. A client uploads a file's chunks before it appends the envelope that
 *    names them, so every chunk the snapshot refers to is on disk by the time the snapshot is
 *    taken; chunks are immutable (content-addressed), so a copy made later is the same bytes.
 *    Chunks stored after the snapshot are copied too when the walk finds them (harmless extra).
 *    A chunk garbage-collected during the walk is counted as `vanished`: collection removes only
 *    chunks an owner declared unreferenced and nobody touched within the grace period.
 * 3. The JWT secret, so that devices' sign-ins stay valid after a restore.
 *
 * Everything goes into `out.partial` first, which becomes `out` only when complete.
 * @throws WeftError INVALID_OPTIONS when `dataDir` holds no relay or `out` exists; STORAGE on
 * a read or write failure
 */
export async function backupRelay(dataDir: string, out: string): Promise<BackupSummary> {
  const source = resolve(dataDir);
  const target = resolve(out);
  const dbFile = join(source, "relay.db");
  if (await exists(target))
    throw new WeftError("INVALID_OPTIONS", `${target} exists; a backup goes to a new path`);
  const partial = `${target}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true, mode: 0o700 });
  try {
    let db: Database.Database;
    try {
      db = new Database(dbFile, { fileMustExist: true });
    } catch (error) {
      throw new WeftError("INVALID_OPTIONS", `${source} holds no relay database (relay.db)`, {
        cause: error,
      });
    }
    let schemaVersion: number;
    let created: string;
    try {
      schemaVersion = db.pragma("user_version", { simple: true }) as number;
      created = new Date().toISOString();
      // After the first step, the rest in one: a step that sees the source written by another
      // connection starts over, so few steps finish soonest on a busy relay.
      await db.backup(join(partial, "relay.db"), { progress: () => 1_000_000_000 });
    } finally {
      db.close();
    }
    await chmod(join(partial, "relay.db"), 0o600);
    const secret = join(source, "jwt-secret");
    if (await exists(secret)) {
      await copyFile(secret, join(partial, "jwt-secret"));
      await chmod(join(partial, "jwt-secret"), 0o600);
    }
    const counts = await copyChunks(join(source, "chunks"), join(partial, "chunks"));
    const summary: BackupSummary = { created, schemaVersion, ...counts };
    checkDatabase(join(partial, "relay.db"), "seal");
    await writeFile(join(partial, MANIFEST), `${JSON.stringify(summary, null, 2)}\n`, {
      mode: 0o600,
    });
    await rename(partial, target);
    return summary;
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    if (error instanceof WeftError) throw error;
    throw new WeftError("STORAGE", `backup of ${source} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Restores a backup made by {@link backupRelay} into `dataDir`, which must not exist or be
 * empty (never over a live relay's data). Checks the database and that this relay can open its
 * schema before copying. Start the relay on `dataDir` afterwards.
 * @throws WeftError INVALID_OPTIONS for something that is not a backup, a backup from a newer
 * relay, or a non-empty `dataDir`
 */
export async function restoreRelay(backup: string, dataDir: string): Promise<BackupSummary> {
  const from = resolve(backup);
  const to = resolve(dataDir);
  let summary: BackupSummary;
  try {
    summary = JSON.parse(await readFile(join(from, MANIFEST), "utf8")) as BackupSummary;
  } catch (error) {
    throw new WeftError("INVALID_OPTIONS", `${from} is not a relay backup (no ${MANIFEST})`, {
      cause: error,
    });
  }
  if (summary.schemaVersion > SCHEMA_VERSION)
    throw new WeftError(
      "INVALID_OPTIONS",
      `the backup has schema version ${summary.schemaVersion}, newer than this relay knows ` +
        `(${SCHEMA_VERSION}); restore it with the relay version that made it`,
    );
  checkDatabase(join(from, "relay.db"));
  if ((await readdir(to).catch(() => [])).length > 0)
    throw new WeftError("INVALID_OPTIONS", `${to} is not empty; restore into a new directory`);
  await mkdir(dirname(to), { recursive: true });
  const partial = `${to}.partial`;
  await rm(partial, { recursive: true, force: true });
  try {
    await mkdir(partial, { mode: 0o700 });
    await copyFile(join(from, "relay.db"), join(partial, "relay.db"));
    await chmod(join(partial, "relay.db"), 0o600);
    if (await exists(join(from, "jwt-secret"))) {
      await copyFile(join(from, "jwt-secret"), join(partial, "jwt-secret"));
      await chmod(join(partial, "jwt-secret"), 0o600);
    }
    await copyChunks(join(from, "chunks"), join(partial, "chunks"));
    await rm(to, { recursive: true, force: true }); // empty, or absent
    await rename(partial, to);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw new WeftError("STORAGE", `restore into ${to} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return summary;
}

/** Copies every folder's chunks from `from` to `to` (same layout); counts what it copied. */
async function copyChunks(
  from: string,
  to: string,
): Promise<{ folders: number; chunks: number; bytes: number; vanished: number }> {
  const counts = { folders: 0, chunks: 0, bytes: 0, vanished: 0 };
  await mkdir(to, { mode: 0o700 });
  const folders = (await readdir(from).catch(() => [])).filter(isFolderId);
  for (const folder of folders) {
    counts.folders++;
    const made = new Set<string>();
    let after;
    for (;;) {
      const ids = await listChunkIds(join(from, folder), after, PAGE);
      if (ids.length === 0) break;
      after = ids[ids.length - 1];
      for (const id of ids) {
        const shard = join(folder, id.slice(0, 2), id.slice(2, 4));
        if (!made.has(shard)) {
          await mkdir(join(to, shard), { recursive: true, mode: 0o700 });
          made.add(shard);
        }
        const copy = join(to, shard, id);
        try {
          // A clone where the filesystem can (btrfs, XFS): instant, and no second copy on disk.
          await copyFile(join(from, shard, id), copy, constants.COPYFILE_FICLONE);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
          counts.vanished++;
          continue;
        }
        counts.chunks++;
        counts.bytes += (await stat(copy)).size;
      }
    }
  }
  return counts;
}

/**
 * SQLite's quick_check on `file`. With "seal" (a fresh backup) it first leaves WAL mode, so
 * the backup is one self-contained file (the relay turns WAL back on when it opens it).
 * @throws WeftError INVALID_OPTIONS when it is damaged or not a database
 */
function checkDatabase(file: string, seal?: "seal"): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: seal === undefined, fileMustExist: true });
    if (seal) db.pragma("journal_mode = DELETE");
    const result = db.pragma("quick_check", { simple: true });
    if (result !== "ok") throw new Error(String(result));
  } catch (error) {
    throw new WeftError("INVALID_OPTIONS", `${file} is not a sound relay database`, {
      cause: error,
    });
  } finally {
    db?.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}
