/** The disk blob store's files: the shard layout, positioned reads, durable renames, error mapping. */
import { randomBytes } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BlobStoreSize } from "@weft/core";
import { WeftError } from "@weft/core";
import { fsyncDir } from "@weft/core/fs";
import { isChunkId } from "@weft/crypto";

/** Names of temporary files: a crash can leave them behind, and open removes them. */
export const TEMP_PREFIX = ".tmp-";
const SHARD = /^[0-9a-f]{2}$/;

/** Counts the chunks under `root`, removing temporary files on the way. */
export async function scan(root: string): Promise<BlobStoreSize> {
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
export async function readAt(
  file: FileHandle,
  position: number,
  length: number,
): Promise<Uint8Array> {
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

export async function openIfPresent(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, "r");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function sizeIfPresent(path: string): Promise<number | undefined> {
  return (await statIfPresent(path))?.size;
}

export async function statIfPresent(
  path: string,
): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    return await stat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // ENOTDIR: a shard directory missing on the way also means "no such chunk".
  return code === "ENOENT" || code === "ENOTDIR";
}

/** Durable writes under one root: each directory is made durable once per process. */
export class DurableFiles {
  /** Directories created or fsynced in this process, so each is made durable once. */
  private readonly durableDirs = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {}

  /** Temp file, fsync, rename to `target`, fsync of `shard`: whole or absent, also after a power cut. */
  async write(shard: string, target: string, data: Uint8Array): Promise<void> {
    await this.durableDir(shard);
    const temp = join(shard, TEMP_PREFIX + randomBytes(8).toString("hex"));
    try {
      const file = await open(temp, "wx", 0o600);
      try {
        await file.writeFile(data);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined); // best effort; open removes leftovers anyway
      throw error;
    }
    await fsyncDir(shard);
  }

  /** Renames a complete, fsynced file into `shard` as `target`, durably. */
  async moveIn(from: string, shard: string, target: string): Promise<void> {
    await this.durableDir(shard);
    await rename(from, target);
    await fsyncDir(shard);
  }

  /**
   * Creates the directory if absent and makes its entry (and its parent's) durable, once per
   * directory per process: a chunk's rename is only durable if the directories above it are.
   */
  durableDir(dir: string): Promise<void> {
    let ready = this.durableDirs.get(dir);
    if (ready === undefined) {
      const parent = resolve(dir, "..");
      ready = mkdir(dir, { recursive: true, mode: 0o700 })
        .then(() => fsyncDir(parent))
        .then(() => fsyncDir(this.root));
      // Forget a failure, so that the next put tries again.
      void ready.catch(() => this.durableDirs.delete(dir));
      this.durableDirs.set(dir, ready);
    }
    return ready;
  }
}
