/**
 * The walk of a scan: every file and directory under the root that is not ignored, with its
 * lstat, without following symlinks; what cannot be synced is reported, never thrown.
 */
import type { Stats } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MAX_PATH_BYTES, WeftError, forEachLimited, nameProblem } from "@weft/core";
import type { IgnoreRules } from "../ignore/index.js";
import type { ScanError } from "./types.js";

/** lstat calls in flight at once within one directory. */
const STAT_CONCURRENCY = 16;

/** What the walk skips: the ignore rules, or those and the paths outside the selection. */
export type PathFilter = Pick<IgnoreRules, "ignores">;

/** A file or directory found by the walk. */
export interface WalkEntry {
  /** Folder-relative, `/`-separated, NFC. */
  path: string;
  /** Where it is on disk (built from the names as the file system spells them). */
  absPath: string;
  kind: "file" | "dir";
  /** Bytes; 0 for directories. */
  size: number;
  /** Whole milliseconds. */
  mtimeMs: number;
  ino: number;
  /** Permission bits. */
  mode: number;
}

/** Everything the walk found. Unsorted. */
export interface WalkResult {
  entries: WalkEntry[];
  symlinks: string[];
  errors: ScanError[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Walks the folder at `root`. The root itself is followed if it is a symlink (the user chose
 * it); nothing under it is. Ignored directories are not descended into.
 *
 * @throws WeftError NOT_FOUND / NOT_A_DIRECTORY / STORAGE when the root is missing, not a
 * directory, or unreadable: a scan that saw nothing must not be taken for "everything was
 * deleted"; `signal.reason` when aborted
 */
export async function walkFolder(
  root: string,
  ignore: PathFilter,
  signal?: AbortSignal,
): Promise<WalkResult> {
  const absRoot = resolve(root);
  await checkRoot(absRoot);
  const out: WalkResult = { entries: [], symlinks: [], errors: [] };
  const dirs: { abs: string; rel: string }[] = [{ abs: absRoot, rel: "" }];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    signal?.throwIfAborted();
    const children = await listDir(dir.abs, dir.rel, ignore, out.errors);
    if (children === undefined) continue;
    await forEachLimited(children, STAT_CONCURRENCY, { onFailure: "stop" }, async (child) => {
      const entry = await statChild(child, ignore, out);
      if (entry?.kind === "dir") dirs.push({ abs: entry.absPath, rel: entry.path });
    });
  }
  return out;
}

/** The root must exist and be a directory (listing it is checked by the walk itself). */
async function checkRoot(absRoot: string): Promise<void> {
  let s: Stats;
  try {
    s = await stat(absRoot);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") {
      throw new WeftError("NOT_FOUND", `folder ${absRoot} does not exist`, { cause: err });
    }
    throw new WeftError("STORAGE", `cannot read folder ${absRoot} (${code})`, { cause: err });
  }
  if (!s.isDirectory()) {
    throw new WeftError("NOT_A_DIRECTORY", `folder ${absRoot} is not a directory`);
  }
}

/** A directory entry whose name passed the checks, before its lstat. */
interface Child {
  path: string;
  absPath: string;
  direntIsDir: boolean;
}

/**
 * The valid, not-ignored entries of one directory, in byte order of their names. Names that
 * cannot be synced become errors; a directory that cannot be listed is an error, not a throw.
 */
async function listDir(
  abs: string,
  rel: string,
  ignore: PathFilter,
  errors: ScanError[],
): Promise<Child[] | undefined> {
  let dirents;
  try {
    dirents = await readdir(abs, { withFileTypes: true, encoding: "buffer" });
  } catch (err) {
    if (rel === "") {
      throw new WeftError("STORAGE", `cannot list folder ${abs} (${errnoCode(err)})`, {
        cause: err,
      });
    }
    errors.push({ path: rel, message: ioMessage(err, "cannot list the directory") });
    return undefined;
  }
  dirents.sort((a, b) => Buffer.compare(a.name, b.name)); // which of two NFC twins wins
  const seen = new Set<string>();
  const children: Child[] = [];
  for (const d of dirents) {
    let raw: string;
    try {
      raw = utf8.decode(d.name);
    } catch {
      errors.push({
        path: joinRel(rel, printable(d.name)),
        message: "the name is not valid UTF-8, so it cannot be synced portably",
      });
      continue;
    }
    const name = raw.normalize("NFC");
    const path = joinRel(rel, name);
    // Before the name checks, so a .weftignore line can silence a name that cannot be synced;
    // and before any lstat, so an ignored tree costs nothing.
    if (ignore.ignores(path, d.isDirectory())) continue;
    const problem = namingProblem(name, path, seen);
    seen.add(name);
    if (problem !== undefined) {
      errors.push({ path, message: problem });
      continue;
    }
    children.push({ path, absPath: join(abs, raw), direntIsDir: d.isDirectory() });
  }
  return children;
}

/** Why a (NFC) name cannot be synced, or undefined. */
function namingProblem(name: string, path: string, siblings: Set<string>): string | undefined {
  const problem = nameProblem(name);
  if (problem !== undefined) return `${problem}, so it cannot be synced`;
  if (name.includes("\\")) return "the name contains '\\', so it cannot be synced portably";
  if (CONTROL.test(name)) {
    return "the name contains a control character, so it cannot be synced portably";
  }
  if (encoder.encode(path).length > MAX_PATH_BYTES) {
    return `the path is longer than ${MAX_PATH_BYTES} bytes, so it cannot be synced`;
  }
  if (siblings.has(name)) {
    return "another name in this directory has the same Unicode NFC form; only the first is synced";
  }
  return undefined;
}

/**
 * lstats one entry and files it as an entry, a symlink, an error, or nothing (ignored after
 * all). Returns the entry when it is one.
 */
async function statChild(
  child: Child,
  ignore: PathFilter,
  out: WalkResult,
): Promise<WalkEntry | undefined> {
  let s: Stats;
  try {
    s = await lstat(child.absPath);
  } catch (err) {
    out.errors.push({ path: child.path, message: ioMessage(err, "cannot read") });
    return undefined;
  }
  // The type from the listing, which the ignore check used, can be stale (replaced since).
  if (s.isDirectory() !== child.direntIsDir && ignore.ignores(child.path, s.isDirectory())) {
    return undefined;
  }
  if (s.isSymbolicLink()) {
    out.symlinks.push(child.path);
    return undefined;
  }
  if (!s.isFile() && !s.isDirectory()) {
    out.errors.push({
      path: child.path,
      message: `${specialKind(s)} is not a regular file or directory, so it cannot be synced`,
    });
    return undefined;
  }
  const dir = s.isDirectory();
  const entry: WalkEntry = {
    path: child.path,
    absPath: child.absPath,
    kind: dir ? "dir" : "file",
    size: dir ? 0 : s.size,
    mtimeMs: Math.floor(s.mtimeMs),
    ino: s.ino,
    mode: s.mode & 0o777,
  };
  out.entries.push(entry);
  return entry;
}

function specialKind(s: Stats): string {
  if (s.isFIFO()) return "a FIFO (named pipe)";
  if (s.isSocket()) return "a socket";
  if (s.isBlockDevice() || s.isCharacterDevice()) return "a device";
  return "a special file";
}

function joinRel(rel: string, name: string): string {
  return rel === "" ? name : `${rel}/${name}`;
}

/** A name that is not UTF-8, for messages: ASCII as is, every other byte as \xNN. */
function printable(name: Buffer): string {
  let s = "";
  for (const b of name) {
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return s;
}

/** The errno code of a system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A short message for an I/O failure on one entry (the path is reported beside it). */
export function ioMessage(err: unknown, what: string): string {
  const code = errnoCode(err);
  if (code === "ENOENT") return "vanished during the scan";
  if (code === "EACCES" || code === "EPERM") return `${what}: permission denied (${code})`;
  if (code !== undefined) return `${what} (${code})`;
  return `${what}: ${err instanceof Error ? err.message : String(err)}`;
}
