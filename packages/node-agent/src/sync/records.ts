/** What this device last saw on disk for each synced path (the scanner's "previous"), kept in SQLite beside the replica. */
import type { StateOp } from "@weft/core";
import type { LocalRecord } from "../scan/index.js";
import { SqliteStateStore } from "../state/index.js";

const PREFIX = "f";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The records, in memory, written through to `local.sqlite` in batches. */
export class LocalRecords {
  private readonly pending = new Map<string, LocalRecord | null>();

  private constructor(
    private readonly store: SqliteStateStore,
    readonly map: Map<string, LocalRecord>,
  ) {}

  static async open(path: string): Promise<LocalRecords> {
    const store = await SqliteStateStore.open(path);
    const map = new Map<string, LocalRecord>();
    for (const { data } of await store.loadRange([PREFIX])) {
      const r = JSON.parse(decoder.decode(data)) as LocalRecord;
      map.set(r.path, r);
    }
    return new LocalRecords(store, map);
  }

  get(path: string): LocalRecord | undefined {
    return this.map.get(path);
  }

  set(record: LocalRecord): void {
    this.map.set(record.path, record);
    this.pending.set(record.path, record);
  }

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

  async close(): Promise<void> {
    await this.flush();
    await this.store.close();
  }
}
