/**
 * SqliteBlobStore: a Replica's local store of sealed chunks, the agent's and any Node app's (those
 * written here and not yet uploaded, and those downloaded), one SQLite file in WAL mode. SQLite rather than a file per
 * chunk: a chunk is at most ~16 MiB, a folder has many small ones, and one file with atomic
 * commits is both faster and simpler to keep consistent with the replica's own SQLite state.
 *
 * Puts made in the same turn of the event loop are written in one transaction (a group commit):
 * each transaction costs an fsync, and a folder of many small files would otherwise pay one per
 * chunk. Until then they are served from memory; each put resolves once it is durable. The
 * fsync runs off the event loop ({@link WalSync}).
 */
import { resolve } from "node:path";
import type Database from "better-sqlite3";
import type { ChunkId } from "@weft/crypto";
import { WeftError } from "@weft/core";
import type { BlobStore, BlobStoreSize, ByteRange } from "@weft/core/storage";
import { checkChunkId, checkChunkIds, resolveByteRange } from "@weft/core/storage";
import { WalSync, openPrivateDatabase, stateStoreError } from "./sqlite-file.js";

const LABEL = "chunk store";

type Db = Database.Database;

/** The agent's local store of sealed chunks in one SQLite file (WAL), with puts of one event-loop turn committed together; each put resolves once durable. */
export class SqliteBlobStore implements BlobStore {
  private db: Db | undefined;
  private readonly sql;
  private readonly wal: WalSync;

  private constructor(
    readonly path: string,
    db: Db,
  ) {
    this.db = db;
    this.wal = new WalSync(path);
    this.sql = {
      has: db.prepare<[string], { one: number }>("SELECT 1 AS one FROM chunks WHERE id = ?"),
      get: db.prepare<[string], { data: Buffer }>("SELECT data FROM chunks WHERE id = ?"),
      put: db.prepare<[string, Buffer]>("INSERT OR IGNORE INTO chunks (id, data) VALUES (?, ?)"),
      delete: db.prepare<[string]>("DELETE FROM chunks WHERE id = ?"),
      size: db.prepare<[], { count: number; bytes: number | null }>(
        "SELECT count(*) AS count, sum(length(data)) AS bytes FROM chunks",
      ),
    };
  }

  /** Opens (creating, mode 0600) the store in `path`. @throws WeftError STORAGE */
  static open(path: string): Promise<SqliteBlobStore> {
    const file = resolve(path);
    let db: Db | undefined;
    try {
      // A store used as a spool (chunks deleted once uploaded) gives their space back to the
      // disk: pages freed by a delete are cut off the file (a new file only: an existing one
      // keeps its mode), and a checkpointed WAL is cut back to 4 MiB, not left at its largest.
      db = openPrivateDatabase(file, LABEL, { walSync: true, autoVacuum: true });
      db.pragma(`journal_size_limit = ${4 * 1024 * 1024}`);
      db.exec("CREATE TABLE IF NOT EXISTS chunks (id TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT");
      return Promise.resolve(new SqliteBlobStore(file, db));
    } catch (error) {
      db?.close();
      return Promise.reject(stateStoreError(LABEL, file, "open", error));
    }
  }

  has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    return this.run("has", () => {
      checkChunkIds(ids);
      const missing = new Set<ChunkId>();
      for (const id of ids)
        if (!this.pending?.chunks.has(id) && !this.sql.has.get(id)) missing.add(id);
      return [...missing];
    });
  }

  put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    return this.run("put", () => {
      checkChunkId(id);
      if (!(bytes instanceof Uint8Array))
        throw new WeftError("INVALID_OPTIONS", "bytes must be a Uint8Array");
      // A copy: the caller may reuse its buffer before the group is written.
      const data = Buffer.from(bytes);
      if (!this.pending) {
        let settle!: (error?: Error) => void;
        const done = new Promise<void>((resolve, reject) => {
          settle = (error) => (error === undefined ? resolve() : reject(error));
        });
        this.pending = { chunks: new Map(), done, settle };
        setImmediate(() => {
          try {
            this.writePending();
          } catch {
            // The group's promises carry the failure to every put in it.
          }
        });
      }
      if (!this.pending.chunks.has(id)) this.pending.chunks.set(id, data);
      return this.pending.done;
    }).then((done) => done);
  }

  get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    return this.run("get", () => {
      checkChunkId(id);
      const data = this.pending?.chunks.get(id) ?? this.sql.get.get(id)?.data;
      // The range is checked even for an absent chunk, so a bad call fails the same way always.
      const [start, end] = resolveByteRange(range, data?.length ?? 0);
      if (!data) return undefined;
      return new Uint8Array(data.subarray(start, end)); // a copy that shares nothing
    });
  }

  delete(ids: readonly ChunkId[]): Promise<void> {
    return this.run("delete", () => {
      checkChunkIds(ids);
      this.writePending();
      this.db!.transaction(() => {
        for (const id of ids) this.sql.delete.run(id);
      })();
      this.db!.pragma("incremental_vacuum");
    });
  }

  size(): Promise<BlobStoreSize> {
    return this.run("size", () => {
      this.writePending();
      const row = this.sql.size.get()!;
      return { count: row.count, bytes: row.bytes ?? 0 };
    });
  }

  close(): Promise<void> {
    return this.run("close", () => this.writePending())
      .then(() => this.wal.close())
      .then(() =>
        this.run("close", () => {
          this.db!.close();
          this.db = undefined;
        }),
      )
      .catch((error: unknown) => {
        // Closing twice is fine; failing to write what was put is not.
        if (this.db === undefined && !this.pending) return;
        throw error;
      });
  }

  private pending:
    | { chunks: Map<ChunkId, Buffer>; done: Promise<void>; settle: (error?: Error) => void }
    | undefined;

  /**
   * Writes the puts waiting for their group, in one transaction, and settles their promises.
   * @throws WeftError STORAGE when the write fails (the group's puts fail with it)
   */
  private writePending(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    try {
      if (!this.db) throw new WeftError("STORAGE", `chunk store ${this.path} is closed`);
      this.db.transaction(() => {
        for (const [id, data] of pending.chunks) this.sql.put.run(id, data);
      })();
    } catch (error) {
      const failure =
        error instanceof WeftError ? error : stateStoreError(LABEL, this.path, "put", error);
      pending.settle(failure);
      throw failure;
    }
    // Readable from the database now; the puts resolve once the commit is on disk.
    this.wal.sync().then(
      () => pending.settle(),
      (error: unknown) => pending.settle(stateStoreError(LABEL, this.path, "put", error)),
    );
  }

  private run<T>(what: string, work: () => T): Promise<T> {
    if (!this.db)
      return Promise.reject(new WeftError("STORAGE", `chunk store ${this.path} is closed`));
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(stateStoreError(LABEL, this.path, what, error));
    }
  }
}
