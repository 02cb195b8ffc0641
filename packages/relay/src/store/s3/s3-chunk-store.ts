/** S3ChunkStore: one folder's chunks under a key prefix of an S3 bucket. */
import type { BlobStoreSize, ByteRange } from "@weft/core";
import {
  ProtocolError,
  WeftError,
  checkChunkId,
  checkChunkIds,
  checkStorageData,
  formatBytes,
  mapLimited,
  resolveByteRange,
} from "@weft/core";
import { type ChunkId, isChunkId } from "@weft/crypto";
import type { ChunkStoreOptions, FolderChunkStore } from "../chunk-store.js";
import { MAX_PARTIALS, type PartOutcome } from "../partial-uploads.js";
import { type CollectResult, QuarantineIndex, type QuarantineSize } from "../quarantine.js";
import type { S3Bucket } from "./s3-bucket.js";
import { S3Parts } from "./s3-parts.js";

/** Requests one call (a has-check or collect of many ids) has in flight at once. */
const PARALLEL = 16;
const STOP = { onFailure: "stop" } as const;

/** Options of {@link S3ChunkStore.open}. */
export interface S3ChunkStoreOptions extends ChunkStoreOptions {
  /** The clock, in ms (tests move it forward); default Date.now. */
  now?: () => number;
}

/**
 * A {@link FolderChunkStore} under the prefix `f/<folderId>/` of one bucket: chunk `<id>` is
 * the object `c/<id>`, a chunk in quarantine `q/<id>`, a part of a resumable upload
 * `p/<id>/<total>/<start>` (see S3Parts). It keeps no state S3 does not have, beyond running
 * totals, so several relays can serve one folder from one bucket:
 *
 * - Last touched: each chunk carries its last-touched time in its metadata (`touched`, ms),
 *   written with it and rewritten whenever `has` or `put` finds it present, by a CopyObject of
 *   the object onto itself that replaces the metadata (S3 copies in place; no bytes pass
 *   through the relay). `collect` reads it with a HeadObject and removes only chunks untouched
 *   for the grace period. Metadata rather than LastModified: not every S3-compatible server
 *   renews LastModified on a copy onto itself.
 * - Quarantine: `collect` copies `c/<id>` to `q/<id>` and deletes the original; any use of a
 *   quarantined id on any relay (a has-check, put, read, part or progress probe that misses
 *   `c/<id>` looks for `q/<id>`) copies it back. Expired ones (by their LastModified, the time
 *   of the move) are purged on open, lazily, and by {@link purge}.
 * - Quota and size: running totals, counted by listing the prefix when the store opens and kept
 *   up to date by this relay's own writes. With several relays, each enforces its own running
 *   view: what other relays stored since this one opened the store is not in it, so a burst of
 *   uploads spread across relays can overshoot the quota by at most what they had in flight
 *   (and the sizes reported lag until the store is opened again).
 * - Operations on one id are serialized within the relay, as on disk; across relays S3's own
 *   consistency (read-after-write) applies, and chunks are content-addressed, so two relays
 *   writing one id write the same bytes.
 */
export class S3ChunkStore implements FolderChunkStore {
  private count: number;
  private bytes: number;
  private reserved = 0;
  private closed = false;
  readonly quota: number | null;
  private readonly pending = new Map<ChunkId, Promise<void>>();
  private readonly now: () => number;

  private constructor(
    private readonly bucket: S3Bucket,
    /** `f/<folderId>/`. */
    readonly prefix: string,
    size: BlobStoreSize,
    quota: number,
    readonly quarantineMs: number,
    private readonly quarantine: QuarantineIndex,
    private readonly parts: S3Parts,
    now: () => number,
  ) {
    this.count = size.count;
    this.bytes = size.bytes;
    this.quota = quota > 0 ? quota : null;
    this.now = now;
  }

  /**
   * Opens the store under `prefix` (e.g. `f/<folderId>/`): counts the chunks, indexes the
   * quarantine (purging what expired) and the uploads under way (dropping stale ones).
   * @throws WeftError INVALID_OPTIONS for a bad quota; STORAGE when S3 fails
   */
  static async open(
    bucket: S3Bucket,
    prefix: string,
    options: S3ChunkStoreOptions = {},
  ): Promise<S3ChunkStore> {
    const quota = options.quota ?? 0;
    if (!Number.isSafeInteger(quota) || quota < 0)
      throw new WeftError("INVALID_OPTIONS", "quota must be a whole number of bytes, 0 or more");
    const quarantineMs = options.quarantineMs ?? 0;
    if (!Number.isSafeInteger(quarantineMs) || quarantineMs < 0)
      throw new WeftError("INVALID_OPTIONS", "quarantineMs must be a whole number, 0 or more");
    const now = options.now ?? Date.now;
    const size = { count: 0, bytes: 0 };
    for (const o of await bucket.list(`${prefix}c/`)) {
      if (!isChunkId(o.key.slice(prefix.length + 2))) continue;
      size.count += 1;
      size.bytes += o.size;
    }
    const entries = new Map<ChunkId, { size: number; since: number }>();
    for (const o of await bucket.list(`${prefix}q/`)) {
      const id = o.key.slice(prefix.length + 2);
      if (isChunkId(id) && quarantineMs > 0 && o.lastModified > now() - quarantineMs)
        entries.set(id, { size: o.size, since: o.lastModified });
      else await bucket.delete(o.key);
    }
    const quarantine = QuarantineIndex.of(`${prefix}q/`, entries);
    const parts = await S3Parts.open(bucket, `${prefix}p/`, now());
    return new S3ChunkStore(bucket, prefix, size, quota, quarantineMs, quarantine, parts, now);
  }

  /** The ids it lacks; touches (or restores from quarantine) those it has. */
  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.checkOpen();
    checkChunkIds(ids);
    if (this.quarantine.purgeDue()) await this.purge();
    const unique = [...new Set(ids)];
    const present = await mapLimited(unique, PARALLEL, STOP, (id) =>
      this.exclusive(id, () => this.touchOrRestore(id)),
    );
    return unique.filter((_, i) => !present[i]);
  }

  async put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    await this.add(id, bytes);
  }

  /**
   * `put`, telling whether the chunk was new ("stored") or there already ("existing",
   * touched). Storing it drops an unfinished resumable upload of the id this relay knows of.
   * @throws ProtocolError quota_exceeded when a new chunk would take the store over its quota
   */
  async add(id: ChunkId, bytes: Uint8Array): Promise<"stored" | "existing"> {
    this.checkOpen();
    checkChunkId(id);
    checkStorageData(bytes, "bytes");
    const data = new Uint8Array(bytes);
    return this.exclusive(id, async () => {
      if (await this.touchOrRestore(id)) return "existing";
      const release = this.reserve(data.length);
      try {
        await this.bucket.put(this.keyOf(id), data, this.now());
      } finally {
        release();
      }
      this.count += 1;
      this.bytes += data.length;
      if (this.parts.has(id)) await this.parts.discard(id);
      return "stored";
    });
  }

  async get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    this.checkOpen();
    checkChunkId(id);
    resolveByteRange(range, 0);
    if (range === undefined) {
      const whole = await this.bucket.get(this.keyOf(id));
      if (whole !== undefined || !(await this.restoreIfQuarantined(id))) return whole;
      return this.bucket.get(this.keyOf(id));
    }
    let info = await this.bucket.head(this.keyOf(id));
    if (info === undefined && (await this.restoreIfQuarantined(id)))
      info = await this.bucket.head(this.keyOf(id));
    if (info === undefined) return undefined;
    const [start, end] = resolveByteRange(range, info.size);
    if (start === end) return new Uint8Array(0);
    return this.bucket.get(this.keyOf(id), { start, end });
  }

  /** Deletes those chunks now, however fresh and without quarantine (the BlobStore contract). */
  async delete(ids: readonly ChunkId[]): Promise<void> {
    await this.collect(ids, 0, false);
    await mapLimited([...new Set(ids)], PARALLEL, STOP, (id) =>
      this.exclusive(id, () => this.purgeOne(id)),
    );
  }

  /**
   * Garbage collection: removes each of `ids` untouched for at least `graceMs` (a touch in the
   * future counts as fresh), into quarantine when `quarantine`; absent ids are ignored.
   * @returns the ids removed ("deleted") and those kept, each once, in the order given
   */
  async collect(
    ids: readonly ChunkId[],
    graceMs: number,
    quarantine = this.quarantineMs > 0,
  ): Promise<CollectResult> {
    this.checkOpen();
    checkChunkIds(ids);
    if (!Number.isFinite(graceMs) || graceMs < 0)
      throw new WeftError("INVALID_OPTIONS", "graceMs must be 0 or more");
    if (this.quarantine.purgeDue()) await this.purge();
    const unique = [...new Set(ids)];
    const outcomes = await mapLimited(unique, PARALLEL, STOP, (id) =>
      this.exclusive(id, async (): Promise<"deleted" | "kept" | "absent"> => {
        const info = await this.bucket.head(this.keyOf(id));
        if (info === undefined) return "absent";
        if (graceMs > 0 && info.touched > this.now() - graceMs) return "kept";
        if (quarantine) {
          const now = this.now();
          if (!(await this.bucket.copy(this.keyOf(id), this.quarantineKey(id), now)))
            return "absent";
          this.quarantine.add(id, info.size, now);
        }
        await this.bucket.delete(this.keyOf(id));
        this.count -= 1;
        this.bytes -= info.size;
        return "deleted";
      }),
    );
    if (this.quota !== null && this.quarantine.bytes > this.quota) {
      const over = this.quarantine.oldestOver(this.quota);
      await mapLimited(over, PARALLEL, STOP, (id) => this.exclusive(id, () => this.purgeOne(id)));
    }
    return {
      deleted: unique.filter((_, i) => outcomes[i] === "deleted"),
      kept: unique.filter((_, i) => outcomes[i] === "kept"),
    };
  }

  /** Up to `limit` chunk ids greater than `after`, ascending (S3 lists keys in order). */
  async listIds(after: ChunkId | undefined, limit: number): Promise<ChunkId[]> {
    this.checkOpen();
    if (after !== undefined) checkChunkId(after);
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new WeftError("INVALID_OPTIONS", "limit must be a whole number, 1 or more");
    const dir = `${this.prefix}c/`;
    const out: ChunkId[] = [];
    let from = after === undefined ? undefined : dir + after;
    while (out.length < limit) {
      const want = limit - out.length;
      const page = await this.bucket.list(dir, from, want);
      for (const o of page) {
        const id = o.key.slice(dir.length);
        if (isChunkId(id)) out.push(id);
      }
      if (page.length < want) break;
      from = page[page.length - 1]!.key;
    }
    return out;
  }

  /**
   * One part of a resumable upload of `id`, whose whole is `total` bytes, at `start` (which
   * must be the count S3 holds, from any relay; 0 starts over). The last part makes the chunk.
   * @throws ProtocolError quota_exceeded, or rate_limited at {@link MAX_PARTIALS} uploads
   */
  async putPart(
    id: ChunkId,
    start: number,
    total: number,
    bytes: Uint8Array,
  ): Promise<PartOutcome> {
    this.checkOpen();
    checkChunkId(id);
    checkStorageData(bytes, "bytes");
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(total) ||
      start < 0 ||
      bytes.length === 0 ||
      start + bytes.length > total
    )
      throw new WeftError("INVALID_OPTIONS", "a part is 1 or more bytes within 0..total");
    const data = new Uint8Array(bytes);
    if (start === 0 && this.parts.sweepDue(this.now(), MAX_PARTIALS))
      await this.parts.sweep(this.now());
    return this.exclusive(id, async (): Promise<PartOutcome> => {
      if (await this.touchOrRestore(id)) {
        await this.parts.discard(id);
        return { status: "existing" };
      }
      const progress = await this.parts.progress(id);
      this.checkQuota(total - (progress?.total ?? 0));
      const received = progress?.received ?? 0;
      const restart = start === 0 && progress !== undefined && progress.total !== total;
      if (!restart && start !== received)
        return { status: "conflict", received, reason: `${received} bytes are received` };
      if (!restart && progress !== undefined && progress.total !== total)
        return {
          status: "conflict",
          received,
          reason: `the upload under way is of ${progress.total} bytes, not ${total}`,
        };
      if (progress === undefined && this.parts.count >= MAX_PARTIALS)
        throw new ProtocolError(
          "rate_limited",
          `this folder has ${MAX_PARTIALS} unfinished uploads; finish one or retry later`,
        );
      if (start + data.length < total) {
        await this.parts.append(id, total, start, data);
        return { status: "partial", received: start + data.length };
      }
      const whole = start === 0 ? data : await this.parts.join(id, total, start, data);
      await this.bucket.put(this.keyOf(id), whole, this.now());
      this.count += 1;
      this.bytes += total;
      await this.parts.discard(id);
      return { status: "stored" };
    });
  }

  /** How much of `id` S3 has: the whole chunk, or the bytes of the unfinished upload. */
  async uploadProgress(id: ChunkId): Promise<{ received: number; complete: boolean }> {
    this.checkOpen();
    checkChunkId(id);
    return this.exclusive(id, async () => {
      let info = await this.bucket.head(this.keyOf(id));
      if (info === undefined && (await this.restore(id)))
        info = await this.bucket.head(this.keyOf(id));
      if (info !== undefined) return { received: info.size, complete: true };
      return { received: (await this.parts.progress(id))?.received ?? 0, complete: false };
    });
  }

  size(): Promise<BlobStoreSize> {
    return new Promise((resolve) => {
      this.checkOpen();
      resolve({ count: this.count, bytes: this.bytes });
    });
  }

  /** Chunks and unfinished uploads (by their declared totals), in bytes, as this relay counts them: see FolderChunkStore. */
  usedBytes(): number {
    return this.bytes + this.parts.declaredBytes;
  }

  /** The chunks in quarantine, as this relay knows of them. */
  quarantined(): QuarantineSize {
    return this.quarantine.size();
  }

  /** Purges the chunks whose quarantine time is over (also done lazily). */
  async purge(): Promise<void> {
    const expired = this.quarantine.expired(this.quarantineMs);
    await mapLimited(expired, PARALLEL, STOP, (id) => this.exclusive(id, () => this.purgeOne(id)));
  }

  /** Refuses new calls, then waits for those under way. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pending.values());
  }

  private keyOf(id: ChunkId): string {
    return `${this.prefix}c/${id}`;
  }

  private quarantineKey(id: ChunkId): string {
    return `${this.prefix}q/${id}`;
  }

  /** Touches `id` (a copy onto itself); when absent, restores it from quarantine if there. */
  private async touchOrRestore(id: ChunkId): Promise<boolean> {
    if (await this.bucket.copy(this.keyOf(id), this.keyOf(id), this.now())) return true;
    return this.restore(id);
  }

  /** {@link restore} under the id's lock, when quarantine is on. */
  private async restoreIfQuarantined(id: ChunkId): Promise<boolean> {
    if (this.quarantineMs === 0 && !this.quarantine.has(id)) return false;
    return this.exclusive(id, () => this.restore(id));
  }

  /** Copies `id` back from quarantine (touched), whichever relay put it there; false if absent. */
  private async restore(id: ChunkId): Promise<boolean> {
    if (this.quarantineMs === 0 && !this.quarantine.has(id)) return false;
    if (!(await this.bucket.copy(this.quarantineKey(id), this.keyOf(id), this.now()))) {
      this.quarantine.remove(id);
      return false;
    }
    const size = this.quarantine.sizeOf(id) ?? (await this.bucket.head(this.keyOf(id)))?.size ?? 0;
    await this.bucket.delete(this.quarantineKey(id));
    this.quarantine.remove(id);
    this.count += 1;
    this.bytes += size;
    return true;
  }

  /** Deletes `id` from quarantine, if there. */
  private async purgeOne(id: ChunkId): Promise<void> {
    if (this.quarantineMs === 0 && !this.quarantine.has(id)) return;
    await this.bucket.delete(this.quarantineKey(id));
    this.quarantine.remove(id);
  }

  /** @throws ProtocolError quota_exceeded if `size` more bytes would not fit */
  private checkQuota(size: number): void {
    const used = this.bytes + this.parts.declaredBytes + this.reserved;
    if (this.quota === null || used + size <= this.quota) return;
    throw new ProtocolError(
      "quota_exceeded",
      `this folder uses ${formatBytes(used, { exact: true })} of its ${formatBytes(this.quota, { exact: true })} quota on the ` +
        `relay, and a chunk of ${formatBytes(size, { exact: true })} does not fit: delete chunks that are no ` +
        `longer referenced (garbage collection) or ask the relay's operator for a larger quota`,
    );
  }

  /** Counts `size` bytes against the quota until the returned function is called. */
  private reserve(size: number): () => void {
    this.checkQuota(size);
    this.reserved += size;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= size;
    };
  }

  /** Runs `fn` after every earlier operation on `id` (in this relay) has settled. */
  private exclusive<T>(id: ChunkId, fn: () => Promise<T>): Promise<T> {
    const previous = this.pending.get(id) ?? Promise.resolve();
    const run = previous.then(fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(id, settled);
    void settled.then(() => {
      if (this.pending.get(id) === settled) this.pending.delete(id);
    });
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw new WeftError("STORAGE", "S3ChunkStore is closed");
  }
}
