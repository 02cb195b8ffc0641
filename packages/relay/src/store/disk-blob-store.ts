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
  resolveByteRange,
} from "@weft/core";
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";
import { listChunkIds } from "./chunk-listing.js";
import { MAX_PARTIALS, PartialUploads } from "./partial-uploads.js";

/** Options of {@link DiskBlobStore.open}. */
export interface DiskBlobStoreOptions {
  /** Most bytes of chunks the store holds (partial uploads not counted); 0 or absent: no limit. */
  quota?: number;
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
 *   `quota_exceeded`; bytes being written count already, so parallel puts cannot overshoot.
 * - Resumable uploads (`putPart`) gather their parts in `.partial/` (see PartialUploads) and
 *   become a chunk, atomically and counted against the quota, when the last part arrives.
 */
export class DiskBlobStore implements BlobStore {
  private count: number;
  private bytes: number;
  /** Bytes of puts under way, counted against the quota before they land. */
  private reserved = 0;
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
  ) {
    this.count = size.count;
    this.bytes = size.bytes;
    this.quota = quota > 0 ? quota : null;
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
    const root = resolve(dir);
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
      const size = await scan(root);
      return new DiskBlobStore(root, size, await PartialUploads.open(root), quota);
    } catch (error) {
      throw storageError(`open ${root}`, error);
    }
  }

  /** The ids it lacks; touches those it has (see the class comment). */
  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.checkOpen();
    checkChunkIds(ids);
    const unique = [...new Set(ids)];
    const present = await Promise.all(
      unique.map((id) => this.exclusive(id, "has", () => this.touch(id))),
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
      if (await this.touch(id)) return "existing";
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

  /** Deletes those chunks now, however fresh (the BlobStore contract); see also {@link collect}. */
  async delete(ids: readonly ChunkId[]): Promise<void> {
    await this.collect(ids, 0);
  }

  /**
   * Garbage collection on a member's request: deletes each of `ids` whose last touch is at
   * least `graceMs` ago, and keeps fresher ones (a grace of 0 deletes all). A touch time in
   * the future (the clock went back) counts as fresh. Absent ids are ignored.
   * @returns the ids deleted and the ids kept, each once, in the order given
   */
  async collect(ids: readonly ChunkId[], graceMs: number): Promise<CollectResult> {
    this.checkOpen();
    checkChunkIds(ids);
    if (!Number.isFinite(graceMs) || graceMs < 0)
      throw new WeftError("INVALID_OPTIONS", "graceMs must be 0 or more");
    const unique = [...new Set(ids)];
    const outcomes = await Promise.all(
      unique.map((id) =>
        this.exclusive(id, "delete", async (): Promise<"deleted" | "kept" | "absent"> => {
          const path = this.pathOf(id);
          const info = await statIfPresent(path);
          if (info === undefined) return "absent";
          if (graceMs > 0 && info.mtimeMs > Date.now() - graceMs) return "kept";
          try {
            await unlink(path);
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
   * @throws ProtocolError quota_exceeded when the whole chunk would not fit the quota (checked
   * at every part, and again with a reservation at the last); rate_limited when the folder
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
      if (await this.touch(id)) {
        await this.partials.discard(id);
        return { status: "existing" };
      }
      this.checkQuota(total);
      const progress = await this.partials.progress(id);
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
      const release = last ? this.reserve(total) : undefined;
      try {
        const appended = await this.partials.append(id, total, start, data);
        if (!last) return { status: "partial", received: appended.received };
        await this.adopt(id, appended.path);
        this.partials.completed(id);
      } finally {
        release?.();
      }
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

  /** Refuses new calls, then waits for those under way, so no write lands after it resolves. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.pending.values());
  }

  private pathOf(id: ChunkId): string {
    return join(this.dir, id.slice(0, 2), id.slice(2, 4), id);
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
    const used = this.bytes + this.reserved;
    if (this.quota === null || used + size <= this.quota) return;
    throw new ProtocolError(
      "quota_exceeded",
      `this folder uses ${formatBytes(used)} of its ${formatBytes(this.quota)} quota on the ` +
        `relay, and a chunk of ${formatBytes(size)} does not fit: delete chunks that are no ` +
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
      throw storageError(what, error);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new WeftError("STORAGE", "DiskBlobStore is closed");
  }
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

/** `n` bytes for people: "1.50 MiB (1572864 bytes)". */
export function formatBytes(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  if (n < 1024) return `${n} bytes`;
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(2)} ${units[unit]} (${n} bytes)`;
}

/** Makes a directory's entries durable (a rename is only durable once its directory is). */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // ENOTDIR: a shard directory missing on the way also means "no such chunk".
  return code === "ENOENT" || code === "ENOTDIR";
}

function storageError(what: string, error: unknown): Error {
  if (error instanceof WeftError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const detail = typeof code === "string" ? ` (${code})` : "";
  return new WeftError("STORAGE", `DiskBlobStore: ${what} failed${detail}`, { cause: error });
}
