/** Opening the relay's SQLite file (permissions, pragmas, migrations), and wrapping its errors. */
import { createHash } from "node:crypto";
import { closeSync, fchmodSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { WeftError, storageError } from "@weft/core";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";

/**
 * Opens the database at the absolute path `file`, creating it (mode 0600; its parent
 * directories 0700) if absent, in WAL mode with `synchronous = FULL` and foreign keys on, and
 * migrated to {@link SCHEMA_VERSION}.
 * @throws WeftError STORAGE naming the file (never a value or SQL) with the failure as cause
 */
export function openDatabase(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    restrictFile(file);
    db = new Database(file);
    configure(db, file);
    migrate(db, file);
    return db;
  } catch (error) {
    db?.close();
    throw storageError(`relay metadata store ${file}: open`, error);
  }
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

function configure(db: Database.Database, file: string): void {
  // WAL lets readers run beside the writer and makes a commit one append; refuse rather than
  // run without it (it fails on some network filesystems).
  const mode: unknown = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal")
    throw new WeftError("STORAGE", `relay metadata store ${file}: WAL mode unavailable`);
  // FULL: the relay answers as soon as a commit returns (`appended` with a seq, an issued
  // token); were the commit lost in a power cut after that, it could hand the same seq to
  // other bytes.
  db.pragma("synchronous = FULL");
  // Off by default in SQLite, per connection: the schema's references mean nothing without it.
  db.pragma("foreign_keys = ON");
  // Migration 2 hashes the invite ids already stored; SQLite has no hash function of its own.
  db.function("weft_sha256_hex", { deterministic: true }, (text: unknown) =>
    sha256Hex(String(text)),
  );
}

/** The hex SHA-256 of `text` (UTF-8): how invite ids are stored. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function migrate(db: Database.Database, file: string): void {
  const current: unknown = db.pragma("user_version", { simple: true });
  if (typeof current !== "number" || current > SCHEMA_VERSION)
    throw new WeftError(
      "STORAGE",
      `relay metadata store ${file} has schema version ${String(current)}, newer than this ` +
        `relay knows (${SCHEMA_VERSION}); upgrade the relay to open it`,
    );
  // One transaction per migration (user_version is transactional too): a crash leaves the file
  // at the last whole step, and the next open carries on from there.
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
