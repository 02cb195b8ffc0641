/**
 * The disk state: what this device last saw on disk for each synced path (the scanner's
 * "previous", and what the materializer checks before it replaces or removes a file), kept in
 * `local.sqlite` beside the replica. Not to be confused with core's index records.
 */
import type { StateOp } from "@weft/core";
import type { LocalFileState } from "../scan/index.js";
import { SqliteStateStore } from "./sqlite-state-store.js";

const PREFIX = "f";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What this device last saw on disk for each synced path: in memory, written through to SQLite in batches. */
export class DiskState {
  private readonly pending = new Map<string, LocalFileState | null>();

  private constructor(
    private readonly store: SqliteStateStore,
    readonly map: Map<string, LocalFileState>,
  ) {}

  /** Opens (or creates) the disk state kept in the SQLite file at `path`. */
  static async open(path: string): Promise<DiskState> {
    const store = await SqliteStateStore.open(path);
    const map = new Map<string, LocalFileState>();
    for (const { data } of await store.loadRange([PREFIX])) {
      const r = JSON.parse(decoder.decode(data)) as LocalFileState;
      map.set(r.path, r);
    }
    return new DiskState(store, map);
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
    if (this.pending.size === 0) return;
    const ops: StateOp[] = [];
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
