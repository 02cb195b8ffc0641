/** DiskBlobStore: the relay's BlobStore, one file per chunk in a directory sharded by id. */
import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BlobStore, BlobStoreSize, ByteRange } from "@weft/core";
import {
  WeftError,
  checkChunkId,
  checkChunkIds,
  checkStorageData,
  resolveByteRange,
} from "@weft/core";
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";

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
 */
export class DiskBlobStore implements BlobStore {
  private count: number;
  private bytes: number;
  private closed = false;
  /** The last queued operation per id, for serializing operations on one id. */
  private readonly pending = new Map<ChunkId, Promise<void>>();
  /** Directories created or fsynced in this process, so each is made durable once. */
  private readonly durableDirs = new Map<string, Promise<void>>();

  private constructor(
    /** The absolute path of the directory. */
    readonly dir: string,
    size: BlobStoreSize,
  ) {
    this.count = size.count;
    this.bytes = size.bytes;
  }

  /**
   * Opens the store in `dir`, creating the directory (mode 0700) if absent, removing temporary
   * files a crash left behind and counting the chunks.
   * @throws WeftError INVALID_OPTIONS for an empty path; STORAGE if the directory cannot be
   * created or read
   */
  static async open(dir: string): Promise<DiskBlobStore> {
    if (typeof dir !== "string" || dir === "")
      throw new WeftError("INVALID_OPTIONS", "dir must be a non-empty string");
    const root = resolve(dir);
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
      return new DiskBlobStore(root, await scan(root));
    } catch (error) {
      throw storageError(`open ${root}`, error);
    }
  }

  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.checkOpen();
    checkChunkIds(ids);
    const unique = [...new Set(ids)];
    const present = await this.io("has", () => Promise.all(unique.map((id) => this.exists(id))));
    return unique.filter((_, i) => !present[i]);
  }

  async put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    this.checkOpen();
    checkChunkId(id);
    checkStorageData(bytes, "bytes");
    // Copied now: the write happens later (after earlier operations on the id), and the
    // caller may reuse its array as soon as this call returns.
    const data = new Uint8Array(bytes);
    await this.exclusive(id, async () => {
      if (await this.exists(id)) return;
      await this.write(id, data);
      this.count += 1;
      this.bytes += data.length;
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

  async delete(ids: readonly ChunkId[]): Promise<void> {
    this.checkOpen();
    checkChunkIds(ids);
    await Promise.all(
      [...new Set(ids)].map((id) =>
        this.exclusive(id, async () => {
          const path = this.pathOf(id);
          const size = await sizeIfPresent(path);
          if (size === undefined) return;
          try {
            await unlink(path);
          } catch (error) {
            if (isNotFound(error)) return;
            throw error;
          }
          this.count -= 1;
          this.bytes -= size;
        }),
      ),
    );
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

  private async exists(id: ChunkId): Promise<boolean> {
    return (await sizeIfPresent(this.pathOf(id))) !== undefined;
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
  private exclusive(id: ChunkId, fn: () => Promise<void>): Promise<void> {
    const previous = this.pending.get(id) ?? Promise.resolve();
    const run = previous.then(() => this.io("write", fn));
    const settled = run.catch(() => undefined);
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
  try {
    return (await stat(path)).size;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
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
