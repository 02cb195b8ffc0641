/** DiskBlobStore: the relay's BlobStore, one file per chunk in a directory sharded by id. */
import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readdir, rename, stat, unlink, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BlobStore, BlobStoreSize, ByteRange } from "@weft/core";
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
import { isChunkId } from "@weft/crypto";
import { listChunkIds } from "./chunk-listing.js";
import { MAX_PARTIALS, PartialUploads } from "./partial-uploads.js";

/** Options of {@link DiskBlobStore.open}. */
export interface DiskBlobStoreOptions {
  /**
   * Most bytes the store holds: chunks and unfinished uploads (and, apart, as much again in
   * quarantine); 0 or absent: no limit.
   */
  quota?: number;
  /**
   * How long a chunk garbage collection removed stays in quarantine, restorable, before it is
   * purged (milliseconds); 0 or absent: {@link DiskBlobStore.collect} deletes at once.
   */
  quarantineMs?: number;
}

/** Chunks in quarantine: how many and their bytes. */
export interface QuarantineSize {
  count: number;
  bytes: number;
}

/** What {@link DiskBlobStore.collect} did with each id it was given (absent ids are in neither). */
export interface CollectResult {
  deleted: ChunkId[];
  /** Present, but touched within the grace period: possibly just referenced, so kept. */
  kept: ChunkId[];
}

/** The outcome of one part of a resumable upload ({@link DiskBlobStore.putPart}). */
export type PartOutcome =
  /** Written; `received` bytes are now held and more parts are expected. */
  | { status: "partial"; received: number }
  /** That was the last part: the chunk is stored (and counted against the quota). */
  | { status: "stored" }
  /** The chunk was stored already (it was touched; any unfinished upload of it is dropped). */
  | { status: "existing" }
  /** Refused: the part does not start at `received`, or the upload under way has another total. */
  | { status: "conflict"; received: number; reason: string };

/** Names of temporary files: a crash can leave them behind, and open removes them. */
const TEMP_PREFIX = ".tmp-";
const SHARD = /^[0-9a-f]{2}$/;
/** The directory of chunks in quarantine, inside the store's directory (never a shard name). */
export const QUARANTINE_DIR = ".quarantine";
/** How often, at most, a collect or a has-check purges expired quarantine (besides on open). */
const PURGE_EVERY_MS = 60 * 1000;

/**
 * A {@link BlobStore} in a directory: chunk `abcd…` is the file `<dir>/ab/cd/abcd…`. Two levels
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
export class DiskBlobStore implements BlobStore {
  private count: number;
  private bytes: number;
  /** Bytes of puts under way, counted against the quota before they land. */
  private reserved = 0;
  /** Chunks in quarantine: size and when they went there (ms). */
  private readonly quarantine: Map<ChunkId, { size: number; since: number }>;
  private quarantinedBytes = 0;
  private lastPurge = Date.now();
  private closed = false;
  /** The quota in bytes, or null for none. */
  readonly quota: number | null;
  /** The last queued operation per id, for serializing operations on one id. */
  private readonly pending = new Map<ChunkId, Promise<void>>();
  /** Directories created or fsynced in this process, so each is made durable once. */
  private readonly durableDirs = new Map<string, Promise<void>>();

  private constructor(
    /** The absolute path of the directory. */
    readonly dir: string,
    size: BlobStoreSize,
    private readonly partials: PartialUploads,
    quota: number,
    /** How long a collected chunk stays in quarantine; 0: collect deletes at once. */
    readonly quarantineMs: number,
    quarantined: Map<ChunkId, { size: number; since: number }>,
  ) {
    this.count = size.count;
    this.bytes = size.bytes;
    this.quota = quota > 0 ? quota : null;
    this.quarantine = quarantined;
    for (const q of quarantined.values()) this.quarantinedBytes += q.size;
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
      const quarantined = await openQuarantine(root, quarantineMs);
      return new DiskBlobStore(root, size, partials, quota, quarantineMs, quarantined);
    } catch (error) {
      throw storageError(`DiskBlobStore: open ${root}`, error);
    }
  }

  /** The ids it lacks; touches those it has (see the class comment). */
  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.checkOpen();
    checkChunkIds(ids);
    if (this.purgeDue()) await this.purge();
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
        await this.write(id, data);
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
    if (this.purgeDue()) await this.purge();
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
    if (this.quota !== null && this.quarantinedBytes > this.quota) await this.trim(this.quota);
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
      await this.adopt(id, appended.path);
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

  /** The chunks in quarantine (not in `size()`, nor counted against the quota). */
  quarantined(): QuarantineSize {
    return { count: this.quarantine.size, bytes: this.quarantinedBytes };
  }

  /** Purges the chunks whose quarantine time is over (also done lazily; for tests and timers). */
  async purge(): Promise<void> {
    this.lastPurge = Date.now();
    const expired: ChunkId[] = [];
    const before = Date.now() - this.quarantineMs;
    for (const [id, q] of this.quarantine) if (q.since <= before) expired.push(id);
    await Promise.all(expired.map((id) => this.exclusive(id, "purge", () => this.purgeOne(id))));
  }

  /** Refuses new calls, then waits for those under way, so no write lands after it resolves. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pending.values());
  }

  private pathOf(id: ChunkId): string {
    return join(this.dir, id.slice(0, 2), id.slice(2, 4), id);
  }

  /** Purges the oldest chunks in quarantine until it holds at most `limit` bytes. */
  private async trim(limit: number): Promise<void> {
    const oldestFirst = [...this.quarantine].sort((a, b) => a[1].since - b[1].since);
    let bytes = this.quarantinedBytes;
    const purged: ChunkId[] = [];
    for (const [id, q] of oldestFirst) {
      if (bytes <= limit) break;
      bytes -= q.size;
      purged.push(id);
    }
    await Promise.all(purged.map((id) => this.exclusive(id, "purge", () => this.purgeOne(id))));
  }

  /** {@link touch}, and when absent but in quarantine, restores it; false when neither. */
  private async touchOrRestore(id: ChunkId): Promise<boolean> {
    return (await this.touch(id)) || (await this.restore(id));
  }

  /** Renames `id` back from quarantine (touched: it is in use); false when it is not there. */
  private async restore(id: ChunkId): Promise<boolean> {
    const q = this.quarantine.get(id);
    if (q === undefined) return false;
    const shard = join(this.dir, id.slice(0, 2), id.slice(2, 4));
    await this.makeDurableDir(shard);
    await rename(this.quarantinePath(id), this.pathOf(id));
    this.quarantine.delete(id);
    this.quarantinedBytes -= q.size;
    this.count += 1;
    this.bytes += q.size;
    await this.touch(id);
    await fsyncDir(shard);
    return true;
  }

  /** Moves chunk `id` (of `size` bytes) into quarantine, dated now. */
  private async toQuarantine(id: ChunkId, size: number): Promise<void> {
    const dir = join(this.dir, QUARANTINE_DIR);
    await this.makeDurableDir(dir);
    const target = this.quarantinePath(id);
    await rename(this.pathOf(id), target);
    const now = new Date();
    await utimes(target, now, now);
    await fsyncDir(dir);
    this.quarantine.set(id, { size, since: now.getTime() });
    this.quarantinedBytes += size;
  }

  /** Deletes `id` from quarantine, if there. */
  private async purgeOne(id: ChunkId): Promise<void> {
    const q = this.quarantine.get(id);
    if (q === undefined) return;
    await unlink(this.quarantinePath(id)).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
    this.quarantine.delete(id);
    this.quarantinedBytes -= q.size;
  }

  private purgeDue(): boolean {
    return this.quarantine.size > 0 && Date.now() - this.lastPurge >= PURGE_EVERY_MS;
  }

  private quarantinePath(id: ChunkId): string {
    return join(this.dir, QUARANTINE_DIR, id);
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

  /** Renames a complete, fsynced partial file into place as chunk `id`. */
  private async adopt(id: ChunkId, partialPath: string): Promise<void> {
    const shard = join(this.dir, id.slice(0, 2), id.slice(2, 4));
    await this.makeDurableDir(shard);
    await rename(partialPath, this.pathOf(id));
    await fsyncDir(shard);
  }

  /** Drops stale partial uploads, each under its id's lock (an append may be under way). */
  private async sweepPartials(): Promise<void> {
    await Promise.all(
      this.partials
        .startSweep()
        .map((id) => this.exclusive(id, "sweep", () => this.partials.discardIfStale(id))),
    );
  }

  /** Temp file, fsync, rename, fsync of the directory: see the class comment. */
  private async write(id: ChunkId, data: Uint8Array): Promise<void> {
    const shard = join(this.dir, id.slice(0, 2), id.slice(2, 4));
    await this.makeDurableDir(shard);
    const temp = join(shard, TEMP_PREFIX + randomBytes(8).toString("hex"));
    try {
      const file = await open(temp, "wx", 0o600);
      try {
        await file.writeFile(data);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.pathOf(id));
    } catch (error) {
      await unlink(temp).catch(() => undefined); // best effort; open removes leftovers anyway
      throw error;
    }
    await fsyncDir(shard);
  }

  /**
   * Creates the shard directory if absent and makes its entry (and its parent's) durable, once
   * per directory per process: a chunk's rename is only durable if the directories above it are.
   */
  private makeDurableDir(shard: string): Promise<void> {
    let ready = this.durableDirs.get(shard);
    if (ready === undefined) {
      const parent = resolve(shard, "..");
      ready = mkdir(shard, { recursive: true, mode: 0o700 })
        .then(() => fsyncDir(parent))
        .then(() => fsyncDir(this.dir));
      // Forget a failure, so that the next put tries again.
      void ready.catch(() => this.durableDirs.delete(shard));
      this.durableDirs.set(shard, ready);
    }
    return ready;
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

/**
 * The chunks in `<root>/.quarantine`, purging those older than `quarantineMs` (all when 0)
 * and files that are not chunks.
 */
async function openQuarantine(
  root: string,
  quarantineMs: number,
): Promise<Map<ChunkId, { size: number; since: number }>> {
  const dir = join(root, QUARANTINE_DIR);
  const out = new Map<ChunkId, { size: number; since: number }>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isNotFound(error)) return out;
    throw error;
  }
  const oldest = Date.now() - quarantineMs;
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) continue;
    if (!isChunkId(name) || quarantineMs === 0 || info.mtimeMs <= oldest) await unlink(path);
    else out.set(name, { size: info.size, since: info.mtimeMs });
  }
  return out;
}

/** Counts the chunks under `root`, removing temporary files on the way. */
async function scan(root: string): Promise<BlobStoreSize> {
  const total = { count: 0, bytes: 0 };
  for (const first of await subdirectories(root)) {
    for (const second of await subdirectories(join(root, first))) {
      const shard = join(root, first, second);
      const entries = await readdir(shard, { withFileTypes: true });
      await Promise.all(
        entries.map(async (entry) => {
          const path = join(shard, entry.name);
          if (entry.name.startsWith(TEMP_PREFIX)) return unlink(path);
          // Only a chunk in its own shard counts: pathOf would never find one anywhere else.
          if (!entry.isFile() || !isChunkId(entry.name)) return;
          if (entry.name.slice(0, 4) !== first + second) return;
          // Awaited before the `+=`, which would otherwise read the total before the await.
          const { size } = await stat(path);
          total.count += 1;
          total.bytes += size;
        }),
      );
    }
  }
  return total;
}

/** The shard directories in `dir`; also removes temporary files there. */
async function subdirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && SHARD.test(entry.name)) out.push(entry.name);
    else if (entry.isFile() && entry.name.startsWith(TEMP_PREFIX))
      await unlink(join(dir, entry.name));
  }
  return out;
}

/** `length` bytes from `position` into a new array (no pooled memory is handed out). */
async function readAt(file: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(out, done, length - done, position + done);
    // The file shrank under us: chunks are immutable, so something outside the store did it.
    if (bytesRead === 0) throw new WeftError("STORAGE", "a chunk file is shorter than it was");
    done += bytesRead;
  }
  return out;
}

async function openIfPresent(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, "r");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function sizeIfPresent(path: string): Promise<number | undefined> {
  return (await statIfPresent(path))?.size;
}

async function statIfPresent(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // ENOTDIR: a shard directory missing on the way also means "no such chunk".
  return code === "ENOENT" || code === "ENOTDIR";
}
