/** DiskBlobStore: the relay's BlobStore, one file per chunk in a directory sharded by id. */
import { mkdir, rename, unlink, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BlobStoreSize, ByteRange } from "@weft/core";
import {
  ProtocolError,
  WeftError,
  checkChunkId,
  checkChunkIds,
  checkStorageData,
  formatBytes,
  resolveByteRange,
  storageError,
} from "@weft/core";
import { fsyncDir } from "@weft/core/fs";
import type { ChunkId } from "@weft/crypto";
import { listChunkIds } from "./chunk-listing.js";
import {
  DurableFiles,
  isNotFound,
  openIfPresent,
  readAt,
  scan,
  sizeIfPresent,
  statIfPresent,
} from "./disk-files.js";
import type { ChunkStoreOptions, FolderChunkStore } from "./chunk-store.js";
import { type CollectResult, type QuarantineSize, QuarantineIndex } from "./quarantine.js";
import { MAX_PARTIALS, type PartOutcome, PartialUploads } from "./partial-uploads.js";

export { type PartOutcome } from "./partial-uploads.js";
export { type CollectResult, QUARANTINE_DIR, type QuarantineSize } from "./quarantine.js";

/** Options of {@link DiskBlobStore.open}. */
export type DiskBlobStoreOptions = ChunkStoreOptions;

/**
 * A {@link FolderChunkStore} in a directory: chunk `abcd…` is the file `<dir>/ab/cd/abcd…`. Two levels
 * of 256 shards keep directories small (a million chunks is ~15 per directory) without a database.
 *
 * - A put writes a temporary file beside the target, fsyncs it, renames it into place and
 *   fsyncs the directory: a chunk is either absent or whole, also after a power cut, and once
 *   `put` resolves it stays.
 * - Operations on one id are serialized (concurrent puts of a chunk write it once, and a put
 *   racing a delete of the same id cannot skew the counters); different ids run in parallel.
 * - `size()` is a running total: counted by walking the tree on open, then kept up to date.
 *   Files that are not chunks (foreign names, misplaced ids) are ignored.
 * - Chunk files are 0600 and directories 0700: chunks are ciphertext, but still nobody else's.
 * - A chunk's mtime is its "last touched" time: set when it is written, and again whenever `has`
 *   or `put` finds it present (a client that reuses a chunk has-checks it first). `collect`
 *   deletes only chunks untouched for a grace period, so garbage collection never removes a
 *   chunk some client just decided to reference. The mtime rather than a table: it lives and
 *   dies with the file (no second record to keep consistent or rebuild), costs one `utimes` in
 *   place of the `stat` a has-check did anyway, and a touch is serialized with a delete of the
 *   same id. A touch is not fsynced: after a power cut a chunk may look as old as its previous
 *   touch.
 * - With a quota, a put that would take the total over it fails with ProtocolError
 *   `quota_exceeded`; bytes being written count already, so parallel puts cannot overshoot,
 *   and so do unfinished uploads (by their declared totals).
 * - Resumable uploads (`putPart`) gather their parts in `.partial/` (see PartialUploads) and
 *   become a chunk, atomically, when the last part arrives.
 * - Garbage collection cannot lose content a device still holds: with a quarantine time,
 *   `collect` moves a chunk to `.quarantine/<id>` (its mtime: when) instead of deleting it. The
 *   relay cannot check a collect request (manifests are sealed), so one that names current
 *   content must be undoable: any use of a quarantined id (`has`, `put`, `get`, a part)
 *   renames it back, and only after the quarantine time is it purged. Quarantine is invisible
 *   to `size()`, the listing and the quota (garbage collection frees room at once), but holds
 *   at most the quota's worth of bytes: past that the oldest go early, so uploading and
 *   collecting in turn cannot fill the disk.
 */
export class DiskBlobStore implements FolderChunkStore {
  private count: number;
  private bytes: number;
  /** Bytes of puts under way, counted against the quota before they land. */
  private reserved = 0;
  private closed = false;
  /** The quota in bytes, or null for none. */
  readonly quota: number | null;
  /** The last queued operation per id, for serializing operations on one id. */
  private readonly pending = new Map<ChunkId, Promise<void>>();
  private readonly files: DurableFiles;

  private constructor(
    /** The absolute path of the directory. */
    readonly dir: string,
    size: BlobStoreSize,
    private readonly partials: PartialUploads,
    quota: number,
    /** How long a collected chunk stays in quarantine; 0: collect deletes at once. */
    readonly quarantineMs: number,
    /** Chunks in quarantine: size and when they went there (ms). */
    private readonly quarantine: QuarantineIndex,
  ) {
    this.count = size.count;
    this.bytes = size.bytes;
    this.quota = quota > 0 ? quota : null;
    this.files = new DurableFiles(dir);
  }

  /**
   * Opens the store in `dir`, creating the directory (mode 0700) if absent, removing temporary
   * files a crash left behind and stale partial uploads, and counting the chunks.
   * @throws WeftError INVALID_OPTIONS for an empty path or a bad quota; STORAGE if the
   * directory cannot be created or read
   */
  static async open(dir: string, options: DiskBlobStoreOptions = {}): Promise<DiskBlobStore> {
    if (typeof dir !== "string" || dir === "")
      throw new WeftError("INVALID_OPTIONS", "dir must be a non-empty string");
    const quota = options.quota ?? 0;
    if (!Number.isSafeInteger(quota) || quota < 0)
      throw new WeftError("INVALID_OPTIONS", "quota must be a whole number of bytes, 0 or more");
    const quarantineMs = options.quarantineMs ?? 0;
    if (!Number.isSafeInteger(quarantineMs) || quarantineMs < 0)
      throw new WeftError("INVALID_OPTIONS", "quarantineMs must be a whole number, 0 or more");
    const root = resolve(dir);
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
      const size = await scan(root);
      const partials = await PartialUploads.open(root);
      const quarantined = await QuarantineIndex.open(root, quarantineMs);
      return new DiskBlobStore(root, size, partials, quota, quarantineMs, quarantined);
    } catch (error) {
      throw storageError(`DiskBlobStore: open ${root}`, error);
    }
  }

  /** The ids it lacks; touches those it has (see the class comment). */
  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.checkOpen();
    checkChunkIds(ids);
    if (this.quarantine.purgeDue()) await this.purge();
    const unique = [...new Set(ids)];
    const present = await Promise.all(
      unique.map((id) => this.exclusive(id, "has", () => this.touchOrRestore(id))),
    );
    return unique.filter((_, i) => !present[i]);
  }

  async put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    await this.add(id, bytes);
  }

  /**
   * `put`, telling whether the chunk was new: "stored", or "existing" (then it was touched).
   * Storing it drops any unfinished resumable upload of the id.
   * @throws ProtocolError quota_exceeded when a new chunk would take the store over its quota
   */
  async add(id: ChunkId, bytes: Uint8Array): Promise<"stored" | "existing"> {
    this.checkOpen();
    checkChunkId(id);
    checkStorageData(bytes, "bytes");
    // Copied now: the write happens later (after earlier operations on the id), and the
    // caller may reuse its array as soon as this call returns.
    const data = new Uint8Array(bytes);
    return this.exclusive(id, "put", async () => {
      if (await this.touchOrRestore(id)) return "existing";
      const release = this.reserve(data.length);
      try {
        await this.files.write(this.shardOf(id), this.pathOf(id), data);
      } finally {
        release();
      }
      this.count += 1;
      this.bytes += data.length;
      await this.partials.discard(id);
      return "stored";
    });
  }

  async get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    this.checkOpen();
    checkChunkId(id);
    // Checked before the file is looked at, so a bad range fails whether or not the chunk is here.
    resolveByteRange(range, 0);
    // Someone reads it, so some version references it: back from quarantine.
    if (this.quarantine.has(id)) await this.exclusive(id, "restore", () => this.restore(id));
    return this.io("get", async () => {
      const file = await openIfPresent(this.pathOf(id));
      if (file === undefined) return undefined;
      try {
        const [start, end] = resolveByteRange(range, (await file.stat()).size);
        return await readAt(file, start, end - start);
      } finally {
        await file.close();
      }
    });
  }

  /**
   * Deletes those chunks now, however fresh and without quarantine (the BlobStore contract);
   * garbage collection uses {@link collect}.
   */
  async delete(ids: readonly ChunkId[]): Promise<void> {
    await this.collect(ids, 0, false);
    await Promise.all(ids.map((id) => this.exclusive(id, "delete", () => this.purgeOne(id))));
  }

  /**
   * Garbage collection on a member's request: removes each of `ids` whose last touch is at
   * least `graceMs` ago, and keeps fresher ones (a grace of 0 removes all). A touch time in
   * the future (the clock went back) counts as fresh. Absent ids are ignored. Removed chunks go
   * to quarantine when the store has a quarantine time (see the class comment).
   * @returns the ids removed ("deleted") and the ids kept, each once, in the order given
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
    const outcomes = await Promise.all(
      unique.map((id) =>
        this.exclusive(id, "delete", async (): Promise<"deleted" | "kept" | "absent"> => {
          const path = this.pathOf(id);
          const info = await statIfPresent(path);
          if (info === undefined) return "absent";
          if (graceMs > 0 && info.mtimeMs > Date.now() - graceMs) return "kept";
          try {
            if (quarantine) await this.toQuarantine(id, info.size);
            else await unlink(path);
          } catch (error) {
            if (isNotFound(error)) return "absent";
            throw error;
          }
          this.count -= 1;
          this.bytes -= info.size;
          return "deleted";
        }),
      ),
    );
    if (this.quota !== null && this.quarantine.bytes > this.quota) await this.trim(this.quota);
    return {
      deleted: unique.filter((_, i) => outcomes[i] === "deleted"),
      kept: unique.filter((_, i) => outcomes[i] === "kept"),
    };
  }

  /**
   * Up to `limit` chunk ids greater than `after` (all when undefined), in ascending order: a
   * page of the listing a client pages through to find garbage. Walks only the shards at or
   * after `after`, so a page costs a few directory reads however many chunks there are.
   */
  async listIds(after: ChunkId | undefined, limit: number): Promise<ChunkId[]> {
    this.checkOpen();
    if (after !== undefined) checkChunkId(after);
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new WeftError("INVALID_OPTIONS", "limit must be a whole number, 1 or more");
    return this.io("list", () => listChunkIds(this.dir, after, limit));
  }

  /**
   * One part of a resumable upload of `id`, whose whole is `total` bytes: `bytes` go at
   * `start`, which must be the count received so far (0 starts an upload; 0 with another
   * total than the upload under way starts over). The last part makes the chunk: the partial
   * file, fsynced with every part, is renamed into its shard, as atomically as a put.
   * @throws ProtocolError quota_exceeded when the whole chunk would not fit the quota (an
   * upload counts by its total from its first part); rate_limited when the folder
   * already has {@link MAX_PARTIALS} unfinished uploads
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
    if (start === 0 && this.partials.sweepDue()) await this.sweepPartials();
    return this.exclusive(id, "upload", async (): Promise<PartOutcome> => {
      if (await this.touchOrRestore(id)) {
        await this.partials.discard(id);
        return { status: "existing" };
      }
      const progress = await this.partials.progress(id);
      // The upload under way is counted already (by its total): only a new total counts anew.
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
      if (progress === undefined && this.partials.count >= MAX_PARTIALS)
        throw new ProtocolError(
          "rate_limited",
          `this folder has ${MAX_PARTIALS} unfinished uploads; finish one or retry later`,
        );
      const last = start + data.length === total;
      const appended = await this.partials.append(id, total, start, data);
      if (!last) return { status: "partial", received: appended.received };
      await this.files.moveIn(appended.path, this.shardOf(id), this.pathOf(id));
      // From the partial's declared total to the chunk count, with no await between.
      this.partials.completed(id);
      this.count += 1;
      this.bytes += total;
      return { status: "stored" };
    });
  }

  /**
   * How much of `id` the relay has: the whole chunk (`complete`), or the bytes of the
   * unfinished upload (0 if none).
   */
  async uploadProgress(id: ChunkId): Promise<{ received: number; complete: boolean }> {
    this.checkOpen();
    checkChunkId(id);
    return this.exclusive(id, "upload", async () => {
      await this.restore(id);
      const size = await sizeIfPresent(this.pathOf(id));
      if (size !== undefined) return { received: size, complete: true };
      return { received: (await this.partials.progress(id))?.received ?? 0, complete: false };
    });
  }

  size(): Promise<BlobStoreSize> {
    return new Promise((resolve) => {
      this.checkOpen();
      resolve({ count: this.count, bytes: this.bytes });
    });
  }

  /** Chunks and unfinished uploads (by their declared totals), in bytes: see FolderChunkStore. */
  usedBytes(): number {
    return this.bytes + this.partials.declaredBytes;
  }

  /** The chunks in quarantine (not in `size()`, nor counted against the quota). */
  quarantined(): QuarantineSize {
    return this.quarantine.size();
  }

  /** Purges the chunks whose quarantine time is over (also done lazily; for tests and timers). */
  async purge(): Promise<void> {
    const expired = this.quarantine.expired(this.quarantineMs);
    await Promise.all(expired.map((id) => this.exclusive(id, "purge", () => this.purgeOne(id))));
  }

  /** Refuses new calls, then waits for those under way, so no write lands after it resolves. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pending.values());
  }

  private pathOf(id: ChunkId): string {
    return join(this.shardOf(id), id);
  }

  private shardOf(id: ChunkId): string {
    return join(this.dir, id.slice(0, 2), id.slice(2, 4));
  }

  /** Purges the oldest chunks in quarantine until it holds at most `limit` bytes. */
  private async trim(limit: number): Promise<void> {
    const purged = this.quarantine.oldestOver(limit);
    await Promise.all(purged.map((id) => this.exclusive(id, "purge", () => this.purgeOne(id))));
  }

  /** {@link touch}, and when absent but in quarantine, restores it; false when neither. */
  private async touchOrRestore(id: ChunkId): Promise<boolean> {
    return (await this.touch(id)) || (await this.restore(id));
  }

  /** Renames `id` back from quarantine (touched: it is in use); false when it is not there. */
  private async restore(id: ChunkId): Promise<boolean> {
    const size = this.quarantine.sizeOf(id);
    if (size === undefined) return false;
    const shard = this.shardOf(id);
    await this.files.durableDir(shard);
    await rename(this.quarantine.pathOf(id), this.pathOf(id));
    this.quarantine.remove(id);
    this.count += 1;
    this.bytes += size;
    await this.touch(id);
    await fsyncDir(shard);
    return true;
  }

  /** Moves chunk `id` (of `size` bytes) into quarantine, dated now. */
  private async toQuarantine(id: ChunkId, size: number): Promise<void> {
    const dir = this.quarantine.path;
    await this.files.durableDir(dir);
    const target = this.quarantine.pathOf(id);
    await rename(this.pathOf(id), target);
    const now = new Date();
    await utimes(target, now, now);
    await fsyncDir(dir);
    this.quarantine.add(id, size, now.getTime());
  }

  /** Deletes `id` from quarantine, if there. */
  private async purgeOne(id: ChunkId): Promise<void> {
    if (!this.quarantine.has(id)) return;
    await unlink(this.quarantine.pathOf(id)).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
    this.quarantine.remove(id);
  }

  /** Sets the chunk's last-touched time to now; false when it is absent. */
  private async touch(id: ChunkId): Promise<boolean> {
    const now = new Date();
    try {
      await utimes(this.pathOf(id), now, now);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** @throws ProtocolError quota_exceeded if `size` more bytes would not fit */
  private checkQuota(size: number): void {
    const used = this.bytes + this.partials.declaredBytes + this.reserved;
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

  /** Drops stale partial uploads, each under its id's lock (an append may be under way). */
  private async sweepPartials(): Promise<void> {
    await Promise.all(
      this.partials
        .startSweep()
        .map((id) => this.exclusive(id, "sweep", () => this.partials.discardIfStale(id))),
    );
  }

  /** Runs `fn` after every earlier operation on `id` has settled, and wraps its failure. */
  private exclusive<T>(id: ChunkId, what: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.pending.get(id) ?? Promise.resolve();
    const run = previous.then(() => this.io(what, fn));
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

  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw storageError(`DiskBlobStore: ${what}`, error);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new WeftError("STORAGE", "DiskBlobStore is closed");
  }
}
