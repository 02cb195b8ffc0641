/**
 * Hashing a file on disk the way the Replica hashes content, and noticing when the file
 * changed underneath the read (a torn read must never be taken for the file's content).
 */
import { constants } from "node:fs";
import type { Stats } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { WeftError, contentHashOf } from "@weft/core";
import type { ChunkDigest, ChunkerOptions } from "@weft/core";

/** Largest block read at once: the chunker keeps views of a few blocks, so memory stays small. */
const BLOCK_BYTES = 1024 * 1024;

// O_NOFOLLOW: a file swapped for a symlink after the walk is not followed out of the folder.
// O_NONBLOCK: a file swapped for a FIFO does not hang the open waiting for a writer (it has no
// effect on regular files). Neither exists on Windows, where 0 leaves the open as it was.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** A file's content hash and the stat it was taken under. */
export interface FileHash {
  /** Content hash, as the Replica's `contentHash` (see `contentHashOf` in @weft/core). */
  hash: string;
  /** Bytes hashed (the file's size). */
  size: number;
  /** Modification time, whole milliseconds. */
  mtimeMs: number;
  ino: number;
  /** Permission bits (`mode & 0o777`), from the same stat. */
  mode: number;
  /** The same pass's chunk digests (`contentHashOf`'s `chunks`): what the hash is made of. */
  chunks: ChunkDigest[];
}

/** What {@link hashFileChecked} found. */
export type CheckedHash =
  | ({ status: "ok" } & FileHash)
  /** The file changed while it was read (its size, mtime or ctime moved): try again later. */
  | { status: "changed"; reason: string }
  /** The path opened to something other than a regular file (a directory, a FIFO, …). */
  | { status: "not-a-file" };

/** Options of {@link hashFileChecked}. */
export interface HashOptions {
  chunking?: ChunkerOptions;
  signal?: AbortSignal;
  /**
   * Called after each block is read, before the next read, with the bytes read so far. It may
   * be async (it is awaited). Scans report progress here; tests use it to change a file in
   * the middle of a read.
   */
  onBlock?: (bytesRead: number) => void | Promise<void>;
}

/**
 * The file changed while it was being read (hashed by {@link hashFile}, or read for upload by
 * the sync's readStable): nothing was recorded from it, and the next scan tries again.
 */
export class FileChangedError extends WeftError {
  override readonly name: string = "FileChangedError";
  constructor(path: string, reason: string) {
    super("STORAGE", `${path} changed while it was being read (${reason})`);
  }
}

/**
 * Hashes a file through one open descriptor, comparing its stat before and after the read:
 * the result is `changed` unless size, mtime and ctime stayed the same and exactly `size`
 * bytes were read. Never follows a symlink.
 *
 * @throws the system error when the file cannot be opened or read (ENOENT, EACCES, ELOOP for
 * a symlink, …); `signal.reason` when aborted; WeftError INVALID_OPTIONS for bad chunking
 */
export async function hashFileChecked(
  absPath: string,
  options: HashOptions = {},
): Promise<CheckedHash> {
  const { signal, onBlock } = options;
  signal?.throwIfAborted();
  const fh = await open(absPath, OPEN_FLAGS);
  try {
    const before = await fh.stat();
    if (!before.isFile()) return { status: "not-a-file" };
    const size = before.size;
    let bytesRead = 0;
    const { contentHash, chunks } = await contentHashOf(
      readBlocks(fh, size, signal, async (n) => {
        bytesRead = n;
        await onBlock?.(n);
      }),
      options.chunking,
    );
    const after = await fh.stat();
    const reason = changeBetween(before, after, size, bytesRead);
    if (reason) return { status: "changed", reason };
    return {
      status: "ok",
      hash: contentHash,
      size,
      mtimeMs: Math.floor(before.mtimeMs),
      ino: before.ino,
      mode: before.mode & 0o777,
      chunks,
    };
  } finally {
    await fh.close();
  }
}

/**
 * The content hash of a file, equal to the Replica's `contentHash` for the same bytes and
 * chunking options, with the stat it belongs to. Reads through one descriptor and checks the
 * file did not change during the read; never follows a symlink.
 *
 * @param chunking - the folder's chunker sizes (the Replica's `chunking` option)
 * @throws FileChangedError (a WeftError, code STORAGE) when the file changed while it was
 * read; WeftError NOT_FOUND when it does not exist, INVALID_ARGUMENT when it is not a regular
 * file (a symlink, a directory, a FIFO), STORAGE when it cannot be read (the system error as
 * `cause`), INVALID_OPTIONS for bad chunking; `signal.reason` when aborted
 */
export async function hashFile(
  absPath: string,
  chunking?: ChunkerOptions,
  signal?: AbortSignal,
): Promise<{ hash: string; size: number; mtimeMs: number; ino: number }> {
  let r: CheckedHash;
  try {
    r = await hashFileChecked(absPath, { chunking, signal });
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (signal?.aborted || typeof code !== "string" || err instanceof WeftError) throw err;
    if (code === "ENOENT") {
      throw new WeftError("NOT_FOUND", `${absPath} does not exist`, { cause: err });
    }
    if (code === "ELOOP") {
      throw new WeftError("INVALID_ARGUMENT", `${absPath} is a symbolic link (not followed)`, {
        cause: err,
      });
    }
    throw new WeftError("STORAGE", `cannot read ${absPath} (${code})`, { cause: err });
  }
  if (r.status === "not-a-file") {
    throw new WeftError("INVALID_ARGUMENT", `${absPath} is not a regular file`);
  }
  if (r.status === "changed") throw new FileChangedError(absPath, r.reason);
  return { hash: r.hash, size: r.size, mtimeMs: r.mtimeMs, ino: r.ino };
}

/** Why the two stats (and the byte count) say the file changed, or undefined if it did not. */
function changeBetween(
  before: Stats,
  after: Stats,
  size: number,
  bytesRead: number,
): string | undefined {
  if (bytesRead !== size) return `read ${bytesRead} of ${size} bytes`;
  if (after.size !== before.size) return `size went from ${before.size} to ${after.size}`;
  // Compared as the fractional milliseconds the OS gives (down to about a microsecond), not
  // floored. The record keeps the same stat's floor, as the walk's lstat does, so a rescan
  // compares like with like (a bigint stat floored could differ from it by 1 ms).
  if (after.mtimeMs !== before.mtimeMs) return "modification time moved";
  // ctime also moves on a write that restores the mtime (touch -d, rsync -t) or a chmod.
  if (after.ctimeMs !== before.ctimeMs) return "change time moved";
  return undefined;
}

/**
 * The first `size` bytes of the file as blocks. Each block is a new array: the chunker keeps
 * views of earlier blocks until their chunk is cut, so a buffer must not be reused.
 */
async function* readBlocks(
  fh: FileHandle,
  size: number,
  signal: AbortSignal | undefined,
  onBlock: (bytesRead: number) => Promise<void>,
): AsyncGenerator<Uint8Array> {
  let position = 0;
  while (position < size) {
    signal?.throwIfAborted();
    const want = Math.min(BLOCK_BYTES, size - position);
    const block = new Uint8Array(want);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await fh.read(block, filled, want - filled, position + filled);
      if (bytesRead === 0) break; // the file shrank: the caller sees bytesRead < size
      filled += bytesRead;
    }
    position += filled;
    await onBlock(position);
    if (filled > 0) yield filled === want ? block : block.subarray(0, filled);
    if (filled < want) return;
  }
}
