/**
 * One scan of a folder: walk it, compare every entry with what the previous scan recorded,
 * hash only what looks changed, and pair vanished paths with new ones into moves.
 */
import { type ChunkDigest, forEachLimited, resolveChunkerOptions } from "@weft/core";
import { hashFileChecked } from "./hash.js";
import { pairByHash, pairByInode } from "./moves.js";
import type { LocalFileState, ScanError, ScanMove, ScanOptions, ScanResult } from "./types.js";
import { errnoCode, ioMessage, walkFolder } from "./walk.js";
import type { WalkEntry } from "./walk.js";

/** Files hashed at once: enough to overlap I/O with hashing, few enough to leave the disk usable. */
const HASH_CONCURRENCY = 4;

/** Default of {@link ScanOptions.stableMs}. */
export const DEFAULT_STABLE_MS = 1000;

/**
 * Scans the folder at `options.root` and reports what changed since `options.previous`.
 *
 * Cheap when little changed: a file whose size, mtime and inode equal its previous record
 * keeps its previous hash unread (a change of permission bits alone is reported as modified
 * without reading the file), and at most four files are hashed at a time.
 *
 * Safe when the disk misbehaves: an entry that cannot be read is reported in `errors` and
 * keeps its previous record (as does everything under a directory that cannot be listed),
 * so an unreadable path is never mistaken for a deleted one. A file modified within
 * `stableMs` of `now()` (either way: a clock far off is not taken as "being written"), or
 * that changed while it was hashed, is left for the next scan (`unstable`). Symlinks are
 * reported and never followed; sockets, FIFOs and devices are errors.
 *
 * Moves: a vanished path and a new one with the same inode (and, for a file, the same size
 * and mtime) are a move; otherwise a vanished file and a new file with the same content hash,
 * when exactly one of each has it and it is not empty. A moved directory is reported, and so
 * is each file under it. A path that is now ignored is dropped from `current` without being
 * reported removed (see {@link ScanResult.removed}); one outside `selected` (or outside `paths`,
 * when given) is neither walked nor reported, and keeps its previous record.
 *
 * @throws WeftError NOT_FOUND / NOT_A_DIRECTORY / STORAGE when the root itself is missing, not
 * a directory, or unreadable (nothing is reported removed then); WeftError INVALID_OPTIONS for
 * bad chunking sizes; `signal.reason` when aborted
 */
export async function scanFolder(options: ScanOptions): Promise<ScanResult> {
  const { ignore, previous, chunking, signal, onProgress } = options;
  const stableMs = options.stableMs ?? DEFAULT_STABLE_MS;
  const now = options.now ?? Date.now;
  resolveChunkerOptions(chunking); // bad sizes fail the scan up front, not file by file
  const selected = withinPaths(options.selected, options.paths);
  // Outside the selection is skipped like an ignored path (but its records are kept: below).
  const skip = selected
    ? { ignores: (p: string, isDir: boolean) => ignore.ignores(p, isDir) || !selected(p, isDir) }
    : ignore;
  const walk = await walkFolder(options.root, skip, signal);

  const errors: ScanError[] = walk.errors;
  const unstable: string[] = [];
  const added: LocalFileState[] = [];
  const modified: LocalFileState[] = [];
  const moved: ScanMove[] = [];
  const current = new Map<string, LocalFileState>();
  let unchanged = 0;

  const gone = goneRecords(walk.entries, walk.errors, { ...options, selected });
  for (const kept of gone.kept) current.set(kept.path, kept);

  // Files that look as they were keep their hash; the rest are hashed below, after renames.
  const toHash: WalkEntry[] = [];
  const appeared: WalkEntry[] = [];
  for (const e of walk.entries) {
    const prev = sameKind(previous.get(e.path), e.kind);
    if (prev === undefined) {
      appeared.push(e);
    } else if (e.kind === "dir" || looksUnchanged(prev, e)) {
      const rec = recordOf(e, prev.hash);
      current.set(e.path, rec);
      if (rec.mode !== prev.mode) modified.push(rec);
      else unchanged++;
    } else {
      toHash.push(e);
    }
  }

  const byInode = pairByInode(gone.records, appeared);
  const paired = new Set<LocalFileState>();
  for (const e of appeared) {
    const from = byInode.get(e.path);
    if (from !== undefined) {
      const to = recordOf(e, from.hash);
      moved.push({ from, to });
      paired.add(from);
      current.set(e.path, to);
    } else if (e.kind === "dir") {
      const rec = recordOf(e, null);
      added.push(rec);
      current.set(e.path, rec);
    } else {
      toHash.push(e);
    }
  }

  // Hash what is left, a few files at a time.
  let files = 0;
  let bytesHashed = 0;
  const hashed: LocalFileState[] = [];
  const chunks = new Map<string, ChunkDigest[]>();
  const readFreshUpTo = options.readFreshUpTo ?? 0;
  const isFresh = (e: { size: number; mtimeMs: number }): boolean =>
    e.size > readFreshUpTo && Math.abs(now() - e.mtimeMs) < stableMs;
  const keepPrevious = (path: string): void => {
    const prev = sameKind(previous.get(path), "file");
    if (prev !== undefined) current.set(path, prev);
  };
  // A scan fails whole: after the first failure no other file starts hashing.
  await forEachLimited(toHash, HASH_CONCURRENCY, { onFailure: "stop" }, async (e) => {
    signal?.throwIfAborted();
    if (isFresh(e)) {
      unstable.push(e.path);
      keepPrevious(e.path);
      return;
    }
    let counted = 0;
    try {
      const r = await hashFileChecked(e.absPath, {
        chunking,
        signal,
        onBlock: (bytesRead) => {
          bytesHashed += bytesRead - counted;
          counted = bytesRead;
          onProgress?.({ files, bytesHashed });
        },
      });
      files++;
      onProgress?.({ files, bytesHashed });
      // Not a file any more: it was replaced since the walk, so it is changing; look again later.
      if (r.status !== "ok" || isFresh(r)) {
        unstable.push(e.path);
        keepPrevious(e.path);
        return;
      }
      const { size, mtimeMs, ino, mode, hash } = r;
      hashed.push({ path: e.path, kind: "file", size, mtimeMs, ino, mode, hash });
      chunks.set(e.path, r.chunks);
    } catch (err) {
      if (signal?.aborted || errnoCode(err) === undefined) throw err;
      keepPrevious(e.path);
      // ELOOP: swapped for a symlink since the walk (the open does not follow it).
      if (errnoCode(err) === "ELOOP") unstable.push(e.path);
      else errors.push({ path: e.path, message: ioMessage(err, "cannot read") });
    }
  });

  const newFiles: LocalFileState[] = [];
  for (const rec of hashed) {
    current.set(rec.path, rec);
    const prev = sameKind(previous.get(rec.path), "file");
    if (prev === undefined) newFiles.push(rec);
    else if (rec.hash !== prev.hash || rec.mode !== prev.mode) modified.push(rec);
    else unchanged++; // touched, or saved again with the same bytes
  }
  const unpaired = gone.records.filter((r) => !paired.has(r));
  const byHash = pairByHash(unpaired, newFiles);
  for (const rec of newFiles) {
    const from = byHash.get(rec.path);
    if (from === undefined) {
      added.push(rec);
    } else {
      moved.push({ from, to: rec });
      paired.add(from);
    }
  }
  for (const move of await movedOutOfSelection(options, gone.records, paired)) {
    moved.push(move);
    paired.add(move.from);
    current.set(move.to.path, move.to);
  }
  const removed = gone.records.filter((r) => !paired.has(r));

  const byPath = (a: { path: string }, b: { path: string }): number => compare(a.path, b.path);
  return {
    added: added.sort(byPath),
    modified: modified.sort(byPath),
    removed: removed.sort(byPath),
    moved: moved.sort((a, b) => compare(a.to.path, b.to.path)),
    unstable: unstable.sort(compare),
    symlinks: walk.symlinks.sort(compare),
    errors: errors.sort(byPath),
    unchanged,
    current,
    chunks,
  };
}

/**
 * Gone records (not `paired` yet) found again by inode outside the selection: the person moved
 * them there (see {@link ScanOptions.unselected}). Only what is new there pairs (a path with a
 * previous record was there before); nothing found is read.
 */
async function movedOutOfSelection(
  { root, ignore, previous, unselected, signal }: ScanOptions,
  gone: readonly LocalFileState[],
  paired: ReadonlySet<LocalFileState>,
): Promise<ScanMove[]> {
  const unpaired = gone.filter((r) => !paired.has(r));
  if (unselected === undefined || unpaired.length === 0) return [];
  const outside = await walkFolder(
    root,
    { ignores: (p, isDir) => ignore.ignores(p, isDir) || !unselected(p, isDir) },
    signal,
  );
  const candidates = outside.entries.filter(
    (e) => !previous.has(e.path) && unselected(e.path, false),
  );
  const byInode = pairByInode(unpaired, candidates);
  return candidates.flatMap((e) => {
    const from = byInode.get(e.path);
    return from ? [{ from, to: recordOf(e, from.hash), leftSelection: true as const }] : [];
  });
}

/**
 * Previous records with nothing of their kind at their path any more. Those at or under a
 * path the walk could not read are `kept` (unknown is not gone); those now ignored are left
 * out of both lists (the agent stops tracking them without deleting them). Those outside the
 * selection are `kept` too: not walked, so not known to be gone, and left as they were.
 */
function goneRecords(
  entries: readonly WalkEntry[],
  walkErrors: readonly ScanError[],
  { previous, ignore, selected }: ScanOptions,
): { records: LocalFileState[]; kept: LocalFileState[] } {
  const found = new Map<string, WalkEntry["kind"]>();
  for (const e of entries) found.set(e.path, e.kind);
  const unreadable = new Set(walkErrors.map((e) => e.path));
  const underUnreadable = (path: string): boolean => {
    if (unreadable.size === 0) return false;
    for (let p = path; p !== ""; p = p.slice(0, Math.max(0, p.lastIndexOf("/")))) {
      if (unreadable.has(p)) return true;
    }
    return false;
  };
  const records: LocalFileState[] = [];
  const kept: LocalFileState[] = [];
  for (const prev of previous.values()) {
    if (found.get(prev.path) === prev.kind) continue;
    if (underUnreadable(prev.path) || (selected && !selected(prev.path, prev.kind === "dir")))
      kept.push(prev);
    else if (!ignore.ignores(prev.path, prev.kind === "dir")) records.push(prev);
  }
  return { records, kept };
}

/**
 * `selected`, narrowed to `paths` (see {@link ScanOptions.paths}): a path is in when it or a
 * directory above it is one of `paths`; a directory above one of them is in too (it is listed,
 * and its other entries are out).
 */
function withinPaths(
  selected: ScanOptions["selected"],
  paths: ReadonlySet<string> | undefined,
): ScanOptions["selected"] {
  if (paths === undefined || paths.has("")) return selected;
  const parent = (p: string): string => p.slice(0, Math.max(0, p.lastIndexOf("/")));
  const above = new Set<string>();
  for (const p of paths)
    for (let q = parent(p); q !== "" && !above.has(q); q = parent(q)) above.add(q);
  const inScope = (path: string, isDir: boolean): boolean => {
    if (isDir && above.has(path)) return true;
    for (let q = path; q !== ""; q = parent(q)) if (paths.has(q)) return true;
    return false;
  };
  return selected ? (p, isDir) => inScope(p, isDir) && selected(p, isDir) : inScope;
}

/** Same size, mtime and inode as recorded, and a hash to keep: no need to read it again. */
function looksUnchanged(prev: LocalFileState, e: WalkEntry): boolean {
  return (
    prev.hash !== null && prev.size === e.size && prev.mtimeMs === e.mtimeMs && prev.ino === e.ino
  );
}

function sameKind(
  rec: LocalFileState | undefined,
  kind: LocalFileState["kind"],
): LocalFileState | undefined {
  return rec?.kind === kind ? rec : undefined;
}

function recordOf(e: WalkEntry, hash: string | null): LocalFileState {
  return {
    path: e.path,
    kind: e.kind,
    size: e.size,
    mtimeMs: e.mtimeMs,
    ino: e.ino,
    mode: e.mode,
    hash: e.kind === "dir" ? null : hash,
  };
}

/** Code-unit order: the same on every machine, whatever its locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
