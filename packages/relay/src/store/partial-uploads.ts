/**
 * PartialUploads: the unfinished resumable uploads of one chunk directory (PROTOCOL.md "HTTP:
 * blobs", `PUT` with `Content-Range`). Each is one file `<dir>/.partial/<chunkId>.<total>`
 * holding the bytes received so far; its size is the received count. They are not chunks:
 * `has`, `get`, `size` and the id listing never see them, but their declared totals count
 * against a quota from the first part ({@link declaredBytes}), or unfinished uploads would be a
 * way to fill the disk past it.
 *
 * Not safe on its own against concurrent calls for one id: DiskBlobStore calls it under its
 * per-id lock.
 */
import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "@weft/core/fs";
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";

/** The outcome of one part of a resumable upload (`DiskBlobStore.putPart`). */
export type PartOutcome =
  /** Written; `received` bytes are now held and more parts are expected. */
  | { status: "partial"; received: number }
  /** That was the last part: the chunk is stored (and counted against the quota). */
  | { status: "stored" }
  /** The chunk was stored already (it was touched; any unfinished upload of it is dropped). */
  | { status: "existing" }
  /** Refused: the part does not start at `received`, or the upload under way has another total. */
  | { status: "conflict"; received: number; reason: string };

/** The directory of partial files, inside the store's directory (never a shard name). */
export const PARTIAL_DIR = ".partial";
/** An upload with no part for this long is dropped: on open, and lazily when uploads start. */
export const PARTIAL_MAX_AGE_MS = 24 * 3600 * 1000;
/** Unfinished uploads one folder may have at once (each at most one chunk, ~16 MiB). */
export const MAX_PARTIALS = 64;
/** How often, at most, starting an upload sweeps stale partials (besides on open). */
const SWEEP_EVERY_MS = 3600 * 1000;
const NAME = /^([0-9a-f]{64})\.(\d{1,10})$/;

/** One unfinished upload. */
interface Partial {
  total: number;
  path: string;
}

/** The unfinished resumable uploads of one chunk directory, one file each under `.partial/`; invisible to chunk reads and quotas until complete. Call under DiskBlobStore's per-id lock. */
export class PartialUploads {
  private lastSweep: number;

  private constructor(
    /** `<store>/.partial`. */
    readonly dir: string,
    private readonly byId: Map<ChunkId, Partial>,
  ) {
    this.lastSweep = Date.now();
  }

  /**
   * Indexes the partial files under `storeDir`, removing stale ones (no part for 24 h) and
   * files that are not partials. The directory itself is created on the first upload.
   */
  static async open(storeDir: string): Promise<PartialUploads> {
    const dir = join(storeDir, PARTIAL_DIR);
    const byId = new Map<ChunkId, Partial>();
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as { code?: unknown }).code === "ENOENT") return new PartialUploads(dir, byId);
      throw error;
    }
    const oldest = Date.now() - PARTIAL_MAX_AGE_MS;
    for (const name of names) {
      const path = join(dir, name);
      const match = NAME.exec(name);
      const info = await stat(path).catch(() => undefined);
      const id = match?.[1];
      const total = Number(match?.[2]);
      if (info === undefined) continue;
      if (!info.isFile() || id === undefined || !isChunkId(id) || info.mtimeMs < oldest) {
        if (info.isFile()) await unlink(path).catch(() => undefined);
        continue;
      }
      byId.set(id, { total, path });
    }
    return new PartialUploads(dir, byId);
  }

  /** The unfinished upload of `id`: its declared total and the bytes received, or undefined. */
  async progress(id: ChunkId): Promise<{ total: number; received: number } | undefined> {
    const partial = this.byId.get(id);
    if (partial === undefined) return undefined;
    const received = await sizeOf(partial.path);
    if (received === undefined) {
      this.byId.delete(id); // removed from outside: as if never started
      return undefined;
    }
    return { total: partial.total, received };
  }

  /** How many uploads are unfinished. */
  get count(): number {
    return this.byId.size;
  }

  /** The declared totals of the unfinished uploads: what they hold once complete. */
  get declaredBytes(): number {
    let sum = 0;
    for (const p of this.byId.values()) sum += p.total;
    return sum;
  }

  /** Whether stale uploads should be looked for: an hour since the last sweep, or at the cap. */
  sweepDue(): boolean {
    return Date.now() - this.lastSweep >= SWEEP_EVERY_MS || this.byId.size >= MAX_PARTIALS;
  }

  /** The ids with an unfinished upload, for a sweep; notes the time of the sweep. */
  startSweep(): ChunkId[] {
    this.lastSweep = Date.now();
    return [...this.byId.keys()];
  }

  /**
   * Writes `bytes` at `start` of `id`'s partial file, creating it (for `total` bytes) when
   * `start` is 0, and makes them durable before resolving: a received count once reported
   * survives a crash. The caller has checked that `start` is the received count.
   * @returns the path of the partial file and the bytes it now holds
   */
  async append(
    id: ChunkId,
    total: number,
    start: number,
    bytes: Uint8Array,
  ): Promise<{ path: string; received: number }> {
    let partial = this.byId.get(id);
    let file: FileHandle;
    if (start === 0) {
      // A new upload, or a restart with another total: begin an empty file.
      if (partial !== undefined) await this.discard(id);
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      partial = { total, path: join(this.dir, `${id}.${total}`) };
      file = await open(partial.path, "w", 0o600);
      this.byId.set(id, partial);
      try {
        // The new name must be durable too, or a crash could lose a reported received count.
        await fsyncDir(this.dir);
      } catch (error) {
        await file.close();
        throw error;
      }
    } else {
      if (partial === undefined) throw new Error("no upload in progress for this chunk");
      file = await open(partial.path, "r+");
    }
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await file.write(bytes, done, bytes.length - done, start + done);
        done += bytesWritten;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    return { path: partial.path, received: start + bytes.length };
  }

  /** Forgets `id`'s upload after its file was renamed into place. */
  completed(id: ChunkId): void {
    this.byId.delete(id);
  }

  /** Removes `id`'s unfinished upload, if any. */
  async discard(id: ChunkId): Promise<void> {
    const partial = this.byId.get(id);
    if (partial === undefined) return;
    this.byId.delete(id);
    await unlink(partial.path).catch(() => undefined);
  }

  /** Removes `id`'s upload if it had no part for {@link PARTIAL_MAX_AGE_MS} (call under the id's lock). */
  async discardIfStale(id: ChunkId): Promise<void> {
    const partial = this.byId.get(id);
    if (partial === undefined) return;
    const info = await stat(partial.path).catch(() => undefined);
    if (info === undefined) this.byId.delete(id);
    else if (info.mtimeMs < Date.now() - PARTIAL_MAX_AGE_MS) await this.discard(id);
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
}
