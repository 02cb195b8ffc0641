/**
 * Carrying out a {@link MaterializePlan} on disk: removals, directories, then files several at
 * once, each through the safe primitives (never over a file that changed since it was
 * recorded), with the disk state updated to what was written.
 */
import { chmod, mkdir } from "node:fs/promises";
import { posix } from "node:path";
import { forEachLimited } from "@weft/core";
import type { FolderEvents } from "../activity/index.js";
import { safeJoin } from "../names/index.js";
import { type LocalFileState, hashFile } from "../scan/index.js";
import type { DiskState } from "../state/index.js";
import { removeDirIfEmpty } from "./dirs.js";
import { type Expected, statExpected } from "./expected.js";
import type {
  ChangeMode,
  MakeDir,
  MaterializePlan,
  RemoveDir,
  RemoveFile,
  WriteFile,
} from "./plan.js";
import { type Move, moveFile, pairMoves } from "./move.js";
import { placeFile } from "./place.js";
import { removeFile } from "./remove.js";
import { partName } from "./temp.js";

/**
 * Files written to disk at once by an apply: each waits on its own fetches, writes and fsync
 * (and its chunks are fetched as it is written, so more at once make fuller batch requests).
 */
const PLACE_CONCURRENCY = 32;
/**
 * Files this large are written to a resumable temp file (`partName`): a download cut halfway
 * (a kill, a lost connection) goes on from what it wrote. Smaller ones start over.
 */
export const RESUMABLE_BYTES = 8 * 1024 * 1024;

/** What applying a plan needs of its folder. */
export interface ApplyContext {
  /** The folder on disk. */
  readonly root: string;
  /** What this device last saw on disk: updated to what is written. */
  readonly disk: DiskState;
  /** The tree's content of a file, verified as it is read. */
  read(path: string): AsyncIterable<Uint8Array>;
  /**
   * Fetches ahead, and holds, the content of files about to be read (see `Replica.prefetch`);
   * resolves with a function that drops what no read took.
   */
  prefetch?(paths: readonly string[]): Promise<() => void>;
  /** Told that `at` now holds the tree's content of `from` (the same path, or its conflict copy). */
  placed?(at: string, from: string): void;
  /**
   * Told that the temp file `part` (a path in the folder) may hold some of the tree's content
   * of `path`, before that is read: a download cut earlier left it.
   */
  resuming?(part: string, path: string): void;
  /** The folder's ignore rules: a directory holding only ignored names still counts as empty. */
  ignores(path: string, isDir: boolean): boolean;
  /** Called just before the agent writes or removes `path`, so its watcher events count as its own. */
  writing(path: string): void;
  /** Where what happened to each path is told: received, deleted, or a problem. */
  readonly events: Pick<FolderEvents, "emit">;
  /**
   * Whether the tree's version of a file changed here goes beside it as a conflict copy
   * (default); false in a strong folder, where the local file is left alone instead and the
   * scan that records it finds it refused (kept), or accepted on top.
   */
  readonly conflictCopies?: boolean;
}

/** Carries out `plan`; resolves with how many paths changed on disk. Failures are reported, not thrown. */
export async function applyPlan(ctx: ApplyContext, plan: MaterializePlan): Promise<number> {
  let changes = 0;
  const problem = (path: string, detail: string): void =>
    ctx.events.emit({ kind: "error", path, detail });
  const remove = async (action: RemoveFile | RemoveDir): Promise<void> => {
    try {
      if (await removeStale(ctx, action)) changes++;
    } catch (error) {
      problem(action.path, `could not remove: ${(error as Error).message}`);
    }
    // Either removed, or changed here since: then the next scan records it as new (edit wins).
    ctx.disk.delete(action.path);
  };
  // A file whose content is written elsewhere in this plan (moved or copied on another device)
  // is removed after the writes: they read its chunks from it instead of fetching them. One
  // new path per such file takes the file itself, renamed, after the other writes (a move).
  const later = sources(plan);
  const moves = pairMoves(plan, later);
  const moved = new Set<WriteFile>(moves.map((m) => m.to));
  for (const action of plan.stale) if (!later.has(action)) await remove(action);
  // Directories first, parents before children; then files, several at once: each waits on its
  // own reads, writes and fsync.
  const run = async (action: MakeDir | ChangeMode | WriteFile): Promise<void> => {
    try {
      if (await place(ctx, action)) changes++;
    } catch (error) {
      problem(action.path, (error as Error).message);
    }
  };
  for (const action of plan.dirs) await run(action);
  // Every file is tried: one that fails is reported and the others are still placed. Small
  // files go in groups whose content is fetched in batches while the group before is written.
  const groups = groupsOf(plan.files.filter((f) => f.do !== "write" || !moved.has(f)));
  const fetchAhead = (g: (ChangeMode | WriteFile)[] | undefined) =>
    g && ctx.prefetch
      ? ctx
          .prefetch(g.filter((f) => f.do === "write" && f.size <= GROUP_BYTES).map((f) => f.path))
          .catch(() => () => undefined) // the reads fetch what it could not
      : Promise.resolve(() => undefined);
  let next = fetchAhead(groups[0]);
  for (let i = 0; i < groups.length; i++) {
    const release = await next;
    next = fetchAhead(groups[i + 1]);
    await forEachLimited(groups[i]!, PLACE_CONCURRENCY, { onFailure: "finish" }, run);
    release();
  }
  const gone = new Set<RemoveFile | RemoveDir>();
  for (const move of moves) {
    try {
      if (await carryOut(ctx, move)) {
        gone.add(move.from);
        changes++;
        continue;
      }
    } catch (error) {
      problem(move.to.path, (error as Error).message);
    }
    await run(move.to); // not moved: written as any other file, from the old one if it is there
  }
  for (const action of plan.stale) if (later.has(action) && !gone.has(action)) await remove(action);
  return changes;
}

/** Moves `move.from`'s file to its new path; false when it did not (see {@link moveFile}). */
async function carryOut(ctx: ApplyContext, move: Move): Promise<boolean> {
  const expected = await expectedOf(ctx.root, move.from.recorded);
  if (!expected) return false;
  ctx.writing(move.from.path);
  ctx.writing(move.to.path);
  const placed = await moveFile(ctx.root, move, expected);
  if (!placed) return false;
  ctx.disk.delete(move.from.path);
  ctx.disk.set(placed);
  ctx.placed?.(move.to.path, move.to.path);
  ctx.events.emit({ kind: "received", path: move.to.path });
  return true;
}

/** The content a group of files fetched ahead may hold at most, and its files. */
const GROUP_BYTES = 16 * 1024 * 1024;
const GROUP_FILES = 512;

/** `files` in order, in groups of at most {@link GROUP_FILES} files and {@link GROUP_BYTES}. */
function groupsOf<T extends ChangeMode | WriteFile>(files: readonly T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const f of files) {
    const size = f.do === "write" ? f.size : 0;
    if (group.length > 0 && (group.length === GROUP_FILES || bytes + size > GROUP_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(f);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * The removals of `plan` that hold content a write of the same plan needs, when nothing the
 * plan makes lies at or under their paths (a directory made where the file was needs it gone
 * first), and the directories they are in.
 */
function sources(plan: MaterializePlan): Set<RemoveFile | RemoveDir> {
  const wanted = new Set<string>();
  for (const f of plan.files) if (f.do === "write" && f.contentHash) wanted.add(f.contentHash);
  const out = new Set<RemoveFile | RemoveDir>();
  if (wanted.size === 0) return out;
  const made = [...plan.dirs.map((d) => d.path), ...plan.files.map((f) => f.path)];
  for (const action of plan.stale) {
    if (action.do !== "remove-file" || !action.recorded.hash) continue;
    if (!wanted.has(action.recorded.hash)) continue;
    const p = action.path;
    if (made.some((m) => m === p || m.startsWith(`${p}/`))) continue;
    out.add(action);
  }
  // Their directories, if they go too, go after them (a directory is removed only when empty).
  for (const action of plan.stale)
    if (action.do === "remove-dir" && [...out].some((f) => f.path.startsWith(`${action.path}/`)))
      out.add(action);
  return out;
}

async function removeStale(ctx: ApplyContext, action: RemoveFile | RemoveDir): Promise<boolean> {
  if (action.do === "remove-dir")
    return removeDirIfEmpty(ctx.root, action.path, (name) => ctx.ignores(name, false));
  ctx.writing(action.path);
  const { removed } = await removeFile(
    ctx.root,
    action.path,
    (await expectedOf(ctx.root, action.recorded))!,
  );
  if (removed) ctx.events.emit({ kind: "deleted", path: action.path, detail: "by another device" });
  return removed;
}

/** Carries out one action; true when something was written. */
async function place(
  ctx: ApplyContext,
  action: MakeDir | ChangeMode | WriteFile,
): Promise<boolean> {
  if (action.do === "mkdir") {
    const abs = safeJoin(ctx.root, action.path);
    ctx.writing(action.path);
    await mkdir(abs, { recursive: true });
    const s = await statExpected(abs);
    ctx.disk.set({
      path: action.path,
      kind: "dir",
      size: 0,
      mtimeMs: s?.mtimeMs ?? 0,
      ino: s?.ino ?? 0,
      mode: 0o755,
      hash: null,
    });
    return true;
  }
  if (action.do === "chmod") {
    ctx.writing(action.path);
    await chmod(safeJoin(ctx.root, action.path), action.mode);
    ctx.disk.set({ ...action.recorded, mode: action.mode });
    return true;
  }
  return writeFile(ctx, action);
}

async function writeFile(ctx: ApplyContext, action: WriteFile): Promise<boolean> {
  const { path, mode, recorded } = action;
  let expected: Expected = recorded ? await expectedOf(ctx.root, recorded) : null;
  const abs = recorded ? undefined : safeJoin(ctx.root, path);
  if (abs && (await statExpected(abs))) {
    // A file this device never recorded: if it already holds the same bytes, adopt it.
    const local = await hashFile(abs).catch(() => undefined);
    if (local?.hash === action.contentHash) {
      ctx.disk.set({
        path,
        kind: "file",
        size: local.size,
        mtimeMs: local.mtimeMs,
        ino: local.ino,
        mode,
        hash: local.hash,
      });
      return false;
    }
    expected = null;
  }
  const options = { mode, mtimeMs: action.mtimeMs, size: action.size };
  ctx.writing(path);
  let resumeAs: string | undefined;
  if (action.size >= RESUMABLE_BYTES && action.contentHash) {
    resumeAs = partName(path, action.contentHash);
    const dir = posix.dirname(path);
    ctx.resuming?.(dir === "." ? resumeAs : `${dir}/${resumeAs}`, path);
  }
  const result = await placeFile(ctx.root, path, ctx.read(path), {
    ...options,
    expected,
    ...(resumeAs ? { resumeAs } : {}),
  });
  if (result.placed) {
    ctx.placed?.(path, path);
    ctx.events.emit({ kind: "received", path });
    const s = result.stat;
    ctx.disk.set({
      path,
      kind: "file",
      size: s.size,
      mtimeMs: s.mtimeMs,
      ino: s.ino,
      mode,
      hash: action.contentHash,
    });
    return true;
  }
  // The local file changed since this device last saw it: keep it, and put the other
  // device's version beside it as a conflict copy, which the next scan syncs.
  if (ctx.conflictCopies === false) return false;
  const copy = action.conflictCopy;
  ctx.writing(copy);
  const placed = await placeFile(ctx.root, copy, ctx.read(path), { ...options, expected: null });
  const before = ctx.disk.get(path);
  // The incoming version is kept beside it: the local edit is now settled against that
  // version, so the next scan records it as an edit of it (the copy a file of its own) rather
  // than as concurrent with it (which would make the engine show a second copy).
  if (placed.placed && before) ctx.disk.set({ ...before, hash: action.contentHash });
  if (placed.placed)
    ctx.events.emit({
      kind: "error",
      path,
      detail: `changed here and on another device; theirs is in ${copy}`,
    });
  return placed.placed;
}

/**
 * What the file at `rec.path` must still be for this device to replace or remove it: as
 * recorded, or, for a racy record (no trusted mtime), as it is now if it still hashes the same.
 */
async function expectedOf(root: string, rec: LocalFileState): Promise<Expected> {
  const recorded = { size: rec.size, mtimeMs: rec.mtimeMs, ino: rec.ino };
  if (rec.kind !== "file" || rec.mtimeMs !== -1) return recorded;
  const now = await hashFile(safeJoin(root, rec.path)).catch(() => undefined);
  return now?.hash === rec.hash ? { size: now.size, mtimeMs: now.mtimeMs, ino: now.ino } : recorded;
}
