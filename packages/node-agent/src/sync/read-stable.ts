/** Reading a local file for upload exactly as the scanner saw it, or not at all. */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { LocalRecord } from "../scan/index.js";

/** Thrown by {@link readStable} when the file changed while it was read. */
export class FileChanged extends Error {}

/**
 * The bytes of a file as the scanner saw it: the size and mtime are checked when it is opened
 * and again after the last byte, so content that changed while it was read is never recorded
 * (the replica's write fails before it commits, and the next scan retries).
 */
export async function* readStable(abs: string, seen: LocalRecord): AsyncIterable<Uint8Array> {
  const handle = await open(abs, "r");
  try {
    const same = async () => {
      const s = await handle.stat();
      return s.size === seen.size && Math.floor(s.mtimeMs) === seen.mtimeMs;
    };
    if (!(await same())) throw new FileChanged();
    const stream = createReadStream("", {
      fd: handle.fd,
      autoClose: false,
      highWaterMark: 1 << 20,
    });
    for await (const block of stream) yield block as Uint8Array;
    if (!(await same())) throw new FileChanged();
  } finally {
    await handle.close();
  }
}
