/** The status file a running daemon rewrites every second, still written when WEFT_HOME's disk is full. */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { errnoCode } from "../materialize/fs-errors.js";

/**
 * Every status file is padded with spaces to at least this size (JSON allows them), so that a
 * later status fits into the blocks the file already has: when the disk is full, a new file
 * cannot be created but these blocks can be overwritten. A status is 1–8 KiB.
 */
export const STATUS_RESERVE_BYTES = 16 * 1024;

/** A status: any JSON object; its `errors` list, oldest first, may be shortened to fit. */
export type StatusLike = { errors?: readonly unknown[] } & Record<string, unknown>;

/**
 * Writes `value` (a folder's status) as JSON to `path`, readable by the owner only.
 *
 * Normally whole: a temp file renamed over the old one, so a reader never sees half of it (not
 * fsynced: it is rewritten every second, and a status lost in a power cut is worth nothing).
 * When the disk is full the temp file cannot be written, and a person needs the status most
 * then, to read that the disk is full: the status is written over the old file's own blocks
 * instead, with its oldest problems left out if it would not fit. A reader may then see a
 * torn file for a moment; {@link readStatusFile} reads again.
 */
export async function writeStatusFile(path: string, value: StatusLike): Promise<void> {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
    try {
      const handle = await open(temp, "wx", 0o600);
      try {
        const bytes = Buffer.from(text);
        await handle.writeFile(
          bytes.length >= STATUS_RESERVE_BYTES
            ? bytes
            : Buffer.concat([bytes, Buffer.alloc(STATUS_RESERVE_BYTES - bytes.length, 0x20)]),
        );
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "ENOSPC" && code !== "EDQUOT") throw error;
    await overwriteInPlace(path, value, text);
  }
}

/** Writes the status over the existing file's bytes, never past its end. */
async function overwriteInPlace(path: string, value: StatusLike, text: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const room = (await handle.stat()).size;
    let fitted = Buffer.from(text);
    // The newest problems are the ones that explain why the file could not be written whole.
    let errors = value.errors ?? [];
    while (fitted.length > room && errors.length > 0) {
      errors = errors.slice(Math.ceil(errors.length / 2));
      fitted = Buffer.from(`${JSON.stringify({ ...value, errors }, null, 2)}\n`);
    }
    // Spaces after the JSON up to the old size: no new block is needed, none is freed.
    const bytes =
      fitted.length >= room
        ? fitted
        : Buffer.concat([fitted, Buffer.alloc(room - fitted.length, 0x20)]);
    await handle.write(bytes, 0, bytes.length, 0);
  } finally {
    await handle.close();
  }
}

/**
 * Reads a status file written by {@link writeStatusFile}; undefined when there is none, or
 * when it stays unreadable (torn by a write in place) after a few tries.
 */
export async function readStatusFile<T>(path: string): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      if (attempt >= 3) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
