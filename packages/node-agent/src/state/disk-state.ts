/**
 * The disk state: what this device last saw on disk for each synced path (the scanner's
 * "previous", and what the materializer checks before it replaces or removes a file), kept in
 * `local.sqlite` beside the replica. Not to be confused with core's index records.
 */
import type { StateOp } from "@weft/core";
import type { LocalFileState } from "../scan/index.js";
import { SqliteStateStore } from "@weft/sqlite-store";

const PREFIX = "f";
/** Small values about the folder on this device (e.g. the selection the disk was last brought to). */
const META = "m";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What this device last saw on disk for each synced path: in memory, written through to SQLite in batches. */
export class DiskState {
  private readonly pending = new Map<string, LocalFileState | null>();
  private readonly pendingMeta = new Map<string, unknown>();

  private constructor(
    private readonly store: SqliteStateStore,
    readonly map: Map<string, LocalFileState>,
    private readonly meta: Map<string, unknown>,
  ) {}

  /** Opens (or creates) the disk state kept in the SQLite file at `path`. */
  static async open(path: string): Promise<DiskState> {
    const store = await SqliteStateStore.open(path);
    const map = new Map<string, LocalFileState>();
    for (const { data } of await store.loadRange([PREFIX])) {
      const r = JSON.parse(decoder.decode(data)) as LocalFileState;
      map.set(r.path, r);
    }
    const meta = new Map<string, unknown>();
    for (const { key, data } of await store.loadRange([META]))
      meta.set(key[1]!, JSON.parse(decoder.decode(data)) as unknown);
    return new DiskState(store, map, meta);
  }

  /** A value kept with {@link setMeta}, as JSON gave it back (the caller checks its shape). */
  getMeta(name: string): unknown {
    return this.meta.get(name);
  }

  /** Keeps a small JSON value beside the records (written on the next {@link flush}). */
  setMeta(name: string, value: unknown): void {
    this.meta.set(name, value);
    this.pendingMeta.set(name, value);
  }

  /** What this device last saw at `path`, if anything. */
  get(path: string): LocalFileState | undefined {
    return this.map.get(path);
  }

  /** Notes what is at `record.path` now (kept on the next {@link DiskState.flush}). */
  set(record: LocalFileState): void {
    this.map.set(record.path, record);
    this.pending.set(record.path, record);
  }

  /** Forgets `path`: nothing this device knows of is there any more. */
  delete(path: string): void {
    if (!this.map.delete(path)) return;
    this.pending.set(path, null);
  }

  /** Writes the changes since the last flush in one transaction. */
  async flush(): Promise<void> {
    if (this.pending.size === 0 && this.pendingMeta.size === 0) return;
    const ops: StateOp[] = [];
    for (const [name, value] of this.pendingMeta)
      ops.push({ op: "save", key: [META, name], data: encoder.encode(JSON.stringify(value)) });
    this.pendingMeta.clear();
    for (const [path, r] of this.pending)
      ops.push(
        r
          ? { op: "save", key: [PREFIX, path], data: encoder.encode(JSON.stringify(r)) }
          : { op: "remove", key: [PREFIX, path] },
      );
    this.pending.clear();
    await this.store.transaction(ops);
  }

  /** Flushes, then closes the file. */
  async close(): Promise<void> {
    await this.flush();
    await this.store.close();
  }
}
