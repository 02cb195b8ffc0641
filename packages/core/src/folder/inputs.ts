/** Checks of what callers pass to a folder index's local operations, before anything is written. */
import { WeftError } from "../errors.js";
import type { Manifest } from "../chunking/index.js";

/** The content a local write gives a file. */
export interface FileContentInput {
  manifest: Manifest;
  /** Permission bits; 0o644 by default, 0o755 keeps a file executable. */
  mode?: number;
  /** Modification time in ms; the clock's wall time by default. */
  mtime?: number;
  /**
   * The content hash of the version the new content was made from, when the caller knows it
   * (a file edited on disk: what was on disk before). If the file has a newer version since,
   * the write is concurrent with it: both survive, as a conflict.
   */
  basedOn?: string;
}

/** A random session id: 64 bits in base 36. */
export function randomSession(): string {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return (words[0]!.toString(36) + words[1]!.toString(36)).slice(0, 13);
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Validates what a caller gives `writeFile`, with errors that name the problem, and normalises
 * the time: `fs.stat().mtimeMs` is fractional, the index keeps whole milliseconds.
 */
export function checkContentInput(input: FileContentInput): FileContentInput {
  const bad = (what: string): never => {
    throw new WeftError("INVALID_ARGUMENT", what);
  };
  const m = input?.manifest;
  if (typeof m !== "object" || m === null || !Array.isArray(m.chunks))
    bad("a manifest with a chunks array is required");
  let total = 0;
  for (const c of m.chunks) {
    if (typeof c?.id !== "string" || !HEX64.test(c.id))
      bad("a chunk id is 64 lower-case hex digits");
    if (!Number.isSafeInteger(c.size) || c.size < 1) bad("a chunk size is a positive integer");
    total += c.size;
  }
  if (m.size !== total) bad(`manifest size ${m.size} is not the sum of its chunk sizes (${total})`);
  if (typeof m.contentHash !== "string" || !HEX64.test(m.contentHash))
    bad("a content hash is 64 lower-case hex digits");
  const mode = input.mode ?? 0o644;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
    bad("mode is an integer from 0 to 0o7777");
  let mtime = input.mtime;
  if (mtime !== undefined) {
    if (!Number.isFinite(mtime) || mtime < 0) bad("mtime is a non-negative number of milliseconds");
    mtime = Math.floor(mtime);
  }
  if (input.basedOn !== undefined && !HEX64.test(input.basedOn))
    bad("basedOn is a content hash: 64 lower-case hex digits");
  return { manifest: m, mode, mtime, ...(input.basedOn ? { basedOn: input.basedOn } : {}) };
}
