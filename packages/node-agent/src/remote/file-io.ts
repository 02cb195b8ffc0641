/**
 * Content between a remote folder and a local file or a pipe, streamed with bounded memory: a
 * file read out chunk by chunk (each verified, the whole checked against its content hash) and
 * placed only once complete; a file or stdin read in as the Replica chunks it.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { chmod, open, rename, rm, stat, utimes } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { type Replica, WeftError } from "@weft/core";
import { AgentError } from "../home/index.js";
import { readStable } from "../sync/read-stable.js";

/** What a read out wrote. */
export interface ReadOut {
  size: number;
  contentHash: string;
}

/**
 * The content of `path` in `replica`, block by block, after `signal` aborts no more; checked
 * at the end against the content hash the index gives (each chunk is verified as it opens).
 * @throws WeftError INTEGRITY when the blocks do not add up to the file
 */
async function* verified(
  replica: Replica,
  path: string,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array, ReadOut> {
  const entry = replica.stat(path);
  if (!entry) throw new WeftError("NOT_FOUND", `no such file: ${path}`);
  if (entry.kind !== "file") throw new WeftError("IS_A_DIRECTORY", `not a file: ${entry.path}`);
  // The content hash is SHA-256 over the chunks' SHA-256s (DESIGN.md §3), and a block of the
  // read stream is one chunk.
  const whole = createHash("sha256");
  let size = 0;
  for await (const block of replica.createReadStream(path)) {
    if (signal.aborted) throw interrupted();
    whole.update(createHash("sha256").update(block).digest());
    size += block.length;
    yield block;
  }
  const contentHash = whole.digest("hex");
  if (contentHash !== entry.contentHash || size !== entry.size)
    throw new WeftError("INTEGRITY", `${path} does not match its content hash`);
  return { size, contentHash };
}

/** Writes the content of `path` to `out` (stdout), waiting for it to drain. */
export async function readToStream(
  replica: Replica,
  path: string,
  out: Writable,
  signal: AbortSignal,
): Promise<ReadOut> {
  const blocks = verified(replica, path, signal);
  // A reader that went away (`weft get … - | head`) is an error of the stream, not a crash.
  let failed: Error | undefined;
  const onError = (error: Error) => (failed ??= error);
  out.on("error", onError);
  try {
    for (;;) {
      if (failed) throw new AgentError("INTERRUPTED", `the reader went away: ${failed.message}`);
      const next = await blocks.next();
      if (next.done) return next.value;
      if (!out.write(next.value))
        await once(out, "drain").catch((error: Error) => (failed ??= error));
    }
  } finally {
    out.off("error", onError);
  }
}

/**
 * Writes the content of `path` to the local file `target`: into a temp file beside it, given
 * the file's mode and time, and renamed over `target` only once every byte is verified, so a
 * failed read leaves `target` as it was.
 */
export async function readToFile(
  replica: Replica,
  path: string,
  target: string,
  signal: AbortSignal,
): Promise<ReadOut> {
  const version = replica.index.stat(path)?.version;
  const temp = join(
    dirname(target),
    `.weft-tmp-${randomBytes(6).toString("hex")}-${basename(target)}`,
  );
  const handle = await open(temp, "wx", 0o600).catch((error: NodeJS.ErrnoException) => {
    throw new AgentError(
      error.code === "ENOENT" ? "NOT_FOUND" : "USAGE",
      `cannot write ${target}: ${error.code === "ENOENT" ? "no such directory" : error.message}`,
    );
  });
  try {
    const blocks = verified(replica, path, signal);
    let result: ReadOut;
    for (;;) {
      const next = await blocks.next();
      if (next.done) {
        result = next.value;
        break;
      }
      await handle.write(next.value);
    }
    await handle.sync();
    await handle.close();
    if (version) {
      await chmod(temp, version.mode & 0o777);
      await utimes(temp, new Date(version.mtime), new Date(version.mtime));
    }
    await rename(temp, target);
    return result;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
}

/** A local file to write into a folder: its bytes (read as stat saw them), mode and time. */
export interface LocalSource {
  data: AsyncIterable<Uint8Array>;
  mode?: number;
  mtime?: number;
}

/**
 * The local file `path` as a source for `Replica.writeFile`: read block by block, and refused
 * (FileChangedError) if it changes while read. @throws AgentError NOT_FOUND, USAGE (not a file)
 */
export async function localFile(path: string): Promise<LocalSource> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new AgentError(
      error.code === "ENOENT" ? "NOT_FOUND" : "USAGE",
      `cannot read ${path}: ${error.code === "ENOENT" ? "no such file" : error.message}`,
    );
  });
  if (!info.isFile()) throw new AgentError("USAGE", `${path} is not a file`);
  const mtimeMs = Math.floor(info.mtimeMs);
  return {
    data: readStable(path, { size: info.size, mtimeMs }),
    mode: info.mode & 0o777,
    mtime: mtimeMs,
  };
}

/** The error of a command stopped by Ctrl-C or SIGTERM. */
export function interrupted(): AgentError {
  return new AgentError("INTERRUPTED", "interrupted");
}

/** `source` that stops with "interrupted" once `signal` aborts (Ctrl-C during an upload). */
export async function* abortable(
  source: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): AsyncIterable<Uint8Array> {
  for await (const block of source) {
    if (signal.aborted) throw interrupted();
    yield block;
  }
}
