/** Reading a local file for upload exactly as the scanner saw it, or not at all. */
import { open } from "node:fs/promises";
import { FileChangedError, type LocalFileState } from "../scan/index.js";

/** Largest block read at once. */
const BLOCK_BYTES = 1 << 20;

/**
 * The bytes of a file as the scanner saw it: the size and mtime are checked when it is opened
 * and again after the last byte, so content that changed while it was read is never recorded
 * (the replica's write fails with a FileChangedError before it commits, and the next scan
 * retries).
 */
export async function* readStable(
  abs: string,
  seen: Pick<LocalFileState, "size" | "mtimeMs">,
): AsyncIterable<Uint8Array> {
  const handle = await open(abs, "r");
  try {
    const same = async () => {
      const s = await handle.stat();
      return s.size === seen.size && Math.floor(s.mtimeMs) === seen.mtimeMs;
    };
    if (!(await same())) throw new FileChangedError(abs, "it changed since it was scanned");
    // Blocks of exactly the bytes left (at most BLOCK_BYTES), each its own allocation (the
    // chunker keeps views of them). A ReadStream allocated its full 1 MiB high-water mark for
    // every read, twice per small file (the read and the one that finds the end): in bench:sync
    // that garbage made the sender's GC ~15% of its time.
    for (let position = 0; position < seen.size;) {
      const block = new Uint8Array(Math.min(BLOCK_BYTES, seen.size - position));
      for (let filled = 0; filled < block.length;) {
        const { bytesRead } = await handle.read(block, filled, block.length - filled, position);
        if (bytesRead === 0) throw new FileChangedError(abs, "it shrank");
        filled += bytesRead;
        position += bytesRead;
      }
      yield block;
    }
    if (!(await same())) throw new FileChangedError(abs, "its size or mtime moved");
  } finally {
    await handle.close();
  }
}
