/**
 * SqliteStateStore: a Replica's StateStore, the agent's and any Node app's: one SQLite file in WAL
 * mode (better-sqlite3).
 */
import { resolve } from "node:path";
import type Database from "better-sqlite3";
import { WeftError } from "@weft/core";
import type { StateEntry, StateOp, StateStore, StorageKey } from "@weft/core/storage";
import { checkStateOp, checkStorageData } from "@weft/core/storage";
import { decodeKey, encodeKey, encodePrefixRange } from "./key-encoding.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import { WalSync, openPrivateDatabase, stateStoreError } from "./sqlite-file.js";

const LABEL = "SQLite state store";

type Db = Database.Database;
type Row = { key: Buffer; data: Buffer };

/** Prepared once per open file: better-sqlite3 statements are reusable and cheap to run. */
class Statements {
  readonly get;
  readonly put;
  readonly delete;
  readonly all;
  readonly range;
  readonly deleteAll;
  readonly deleteRange;

  constructor(db: Db) {
    this.get = db.prepare<[Buffer], { data: Buffer }>("SELECT data FROM state WHERE key = ?");
    this.put = db.prepare<[Buffer, Buffer]>(
      "INSERT INTO state (key, data) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data",
    );
    this.delete = db.prepare<[Buffer]>("DELETE FROM state WHERE key = ?");
    this.all = db.prepare<[], Row>("SELECT key, data FROM state ORDER BY key");
    this.range = db.prepare<[Buffer, Buffer], Row>(
      "SELECT key, data FROM state WHERE key >= ? AND key < ? ORDER BY key",
    );
    this.deleteAll = db.prepare("DELETE FROM state");
    this.deleteRange = db.prepare<[Buffer, Buffer]>("DELETE FROM state WHERE key >= ? AND key < ?");
  }
}

/**
 * A {@link StateStore} in one SQLite file, for the agent (and any Node program).
 *
 * - Keys are one BLOB column in the encoding of `key-encoding.ts`, whose byte order is the key
 *   order, so `loadRange`/`removeRange` are one index range scan.
 * - WAL journal, every commit fsynced before its Promise resolves (`synchronous = NORMAL` and
 *   the WAL fdatasynced off the event loop by `WalSync`, which gives callers what FULL
 *   gives them without stalling the process in every COMMIT).
 *   A killed process loses nothing either way (a commit is in the OS's cache once SQLite
 *   returns); the fsync also survives power loss and OS crashes, which matters because the engine
 *   acts on a commit at once: it sends envelopes numbered by a device sequence it just saved,
 *   and acks relay sequences it just applied. Were a commit to vanish after that, the device
 *   could reuse a sequence number for different content, or claim data it no longer has.
 *   NORMAL would save one fsync per commit; the engine should batch writes into transactions,
 *   so that the cost is per batch, not per file.
 * - The file (and with it SQLite's -wal and -shm files, which copy its mode) is 0600: it holds
 *   the folder index, with plaintext names.
 * - Synchronous underneath (better-sqlite3): each call runs to completion before the next, so
 *   calls never interleave. Every failure is a rejected Promise: WeftError INVALID_OPTIONS for
 *   bad input, WeftError STORAGE (with the file's path, the SQLite error as cause) for the rest.
 */
export class SqliteStateStore implements StateStore {
  private db: Db | undefined;
  private readonly sql: Statements;
  private readonly applyAll: (ops: readonly StateOp[]) => void;
  private readonly wal: WalSync;

  private constructor(
    /** The absolute path of the database file. */
    readonly path: string,
    db: Db,
  ) {
    this.db = db;
    this.wal = new WalSync(path);
    this.sql = new Statements(db);
    // Ops are checked while applied, inside the transaction: a bad op rolls back those before it.
    const txn = db.transaction((ops: readonly StateOp[]) => {
      ops.forEach((op, i) => {
        checkStateOp(op, i);
        this.apply(op, `ops[${i}]`);
      });
    });
    // IMMEDIATE takes the write lock at BEGIN (waiting out another writer for up to
    // better-sqlite3's 5 s busy timeout) rather than at the first write, midway through.
    this.applyAll = (ops) => txn.immediate(ops);
  }

  /**
   * Opens the store in the file at `path`, creating the file (mode 0600) and its parent
   * directories (mode 0700) if absent, and migrating its schema to the current version.
   * @throws WeftError INVALID_OPTIONS for an empty path; STORAGE if the file cannot be opened,
   * is not a SQLite database, or was written by a newer version of Weft
   */
  static open(path: string): Promise<SqliteStateStore> {
    return settle(() => {
      if (typeof path !== "string" || path === "")
        throw new WeftError("INVALID_OPTIONS", "path must be a non-empty string");
      const file = resolve(path);
      let db: Db | undefined;
      try {
        // Outboxes and sent envelopes come and go: a new file gives their pages back at close.
        db = openPrivateDatabase(file, LABEL, { walSync: true, autoVacuum: true });
        migrate(db, file);
        return new SqliteStateStore(file, db);
      } catch (error) {
        db?.close();
        throw stateStoreError(LABEL, file, "open", error);
      }
    });
  }

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.run("load", () => {
      const row = this.sql.get.get(encodeKey(key));
      return row === undefined ? undefined : ownBytes(row.data);
    });
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.write("save", () => this.apply({ op: "save", key, data }));
  }

  remove(key: StorageKey): Promise<void> {
    return this.write("remove", () => this.apply({ op: "remove", key }));
  }

  loadRange(prefix: StorageKey): Promise<StateEntry[]> {
    return this.run("loadRange", () => {
      const range = encodePrefixRange(prefix);
      const rows = range === undefined ? this.sql.all.all() : this.sql.range.all(...range);
      return rows.map((r) => ({ key: decodeKey(r.key), data: ownBytes(r.data) }));
    });
  }

  removeRange(prefix: StorageKey): Promise<void> {
    return this.write("removeRange", () => this.apply({ op: "removeRange", prefix }));
  }

  transaction(ops: readonly StateOp[]): Promise<void> {
    return this.write("transaction", () => {
      if (!Array.isArray(ops)) throw new WeftError("INVALID_OPTIONS", "ops must be an array");
      this.applyAll(ops);
    });
  }

  async close(): Promise<void> {
    await this.wal.close();
    return settle(() => {
      const db = this.db;
      this.db = undefined;
      if (db === undefined) return;
      try {
        db.pragma("incremental_vacuum");
        // Checkpoints the WAL into the main file and removes -wal and -shm.
        db.close();
      } catch (error) {
        throw stateStoreError(LABEL, this.path, "close", error);
      }
    });
  }

  /** One op, outside or inside a transaction; checks its key and data as it goes. */
  private apply(op: StateOp, what?: string): void {
    switch (op.op) {
      case "save":
        checkStorageData(op.data, what === undefined ? "data" : `${what}.data`);
        this.sql.put.run(encodeKey(op.key, keyName(what)), asBuffer(op.data));
        return;
      case "remove":
        this.sql.delete.run(encodeKey(op.key, keyName(what)));
        return;
      case "removeRange": {
        const range = encodePrefixRange(
          op.prefix,
          what === undefined ? "prefix" : `${what}.prefix`,
        );
        if (range === undefined) this.sql.deleteAll.run();
        else this.sql.deleteRange.run(...range);
        return;
      }
    }
  }

  /** {@link run} for a change: resolves once it is on disk. */
  private async write(what: string, fn: () => void): Promise<void> {
    await this.run(what, fn);
    try {
      await this.wal.sync();
    } catch (error) {
      throw stateStoreError(LABEL, this.path, what, error);
    }
  }

  private run<T>(what: string, fn: () => T): Promise<T> {
    return settle(() => {
      if (this.db === undefined)
        throw new WeftError("STORAGE", `SQLite state store ${this.path} is closed`);
      try {
        return fn();
      } catch (error) {
        throw stateStoreError(LABEL, this.path, what, error);
      }
    });
  }
}

function keyName(what: string | undefined): string {
  return what === undefined ? "key" : `${what}.key`;
}

function migrate(db: Db, file: string): void {
  const current = db.pragma("user_version", { simple: true });
  if (typeof current !== "number" || current > SCHEMA_VERSION)
    throw new WeftError(
      "STORAGE",
      `SQLite state store ${file} has schema version ${String(current)}, newer than this ` +
        `version of Weft knows (${SCHEMA_VERSION}); upgrade Weft to open it`,
    );
  if (current === SCHEMA_VERSION) return;
  // All pending steps in one transaction (user_version is transactional too): a crash
  // mid-migration leaves the file at the old version, to be migrated again on the next open.
  db.transaction(() => {
    for (let v = current; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}

/** A Buffer over `data`'s bytes without copying (SQLite copies them when it binds). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A plain Uint8Array with `data`'s bytes that shares memory with nothing else: better-sqlite3
 * gives each value its own allocation, which is then handed over as is; anything else (a view
 * into a shared pool) is copied, so a caller can never reach other bytes through `.buffer`.
 */
function ownBytes(data: Buffer): Uint8Array {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.byteLength)
    return new Uint8Array(data.buffer, 0, data.byteLength);
  return new Uint8Array(data);
}

function settle<T>(fn: () => T): Promise<T> {
  // A throw inside the executor becomes the rejection.
  return new Promise<T>((resolve) => resolve(fn()));
}
