/**
 * The write policy, with no I/O: given the replica's tree and the disk state (what this device
 * last saw on disk), what to write, change or remove. Names that clash on a case-insensitive
 * disk are left out; what left the tree is removed only if still as recorded; a file is
 * replaced only over what was recorded, else the tree's version goes beside it as a conflict
 * copy. {@link applyPlan} carries the plan out.
 */
import { conflictCopyName } from "@weft/core";
import { findClashes, windowsProblem } from "../names/index.js";
import type { LocalFileState } from "../scan/index.js";

/** What the tree holds at a path, as the plan needs it. */
export interface TreeItem {
  path: string;
  kind: "file" | "dir" | "symlink";
  size: number;
  contentHash: string | null;
  /** A file's current version (mode, mtime, who wrote it when); undefined when the index has none. */
  version?: TreeVersion | undefined;
}

/** The parts of a file's content version the policy uses (core's `ContentVersion` has them). */
export interface TreeVersion {
  mode: number;
  mtime: number;
  hlc: { wall: number };
  device: string;
}

/** Gone from the tree: remove the file if it is still as recorded (it is in history). */
export interface RemoveFile {
  do: "remove-file";
  path: string;
  recorded: LocalFileState;
}

/** Gone from the tree: remove the directory if nothing (but ignored names) is left in it. */
export interface RemoveDir {
  do: "remove-dir";
  path: string;
}

/** A directory of the tree this device has not made yet. */
export interface MakeDir {
  do: "mkdir";
  path: string;
}

/** The content is as recorded; only the permission bits changed. */
export interface ChangeMode {
  do: "chmod";
  path: string;
  mode: number;
  recorded: LocalFileState;
}

/**
 * New content for `path`. It replaces the file only if that is still as `recorded`; with no
 * record, a file already holding the same bytes is adopted and any other is left alone. A file
 * that is not replaced keeps its local change, and the tree's version goes to `conflictCopy`.
 */
export interface WriteFile {
  do: "write";
  path: string;
  size: number;
  contentHash: string | null;
  mode: number;
  mtimeMs: number;
  recorded: LocalFileState | undefined;
  /** Where the tree's version goes if the local file changed since it was recorded. */
  conflictCopy: string;
}

/** Everything one apply does, in the order it must be done. */
export interface MaterializePlan {
  /** Names that would be one file on a case-insensitive disk (each group sorted). */
  clashes: string[][];
  /** Names a Windows device could not hold: synced, but reported. */
  unportable: { path: string; problem: string }[];
  /** Removals, children before their directories: done first. */
  stale: (RemoveFile | RemoveDir)[];
  /** Directories, parents before children: made next, one after another. */
  dirs: MakeDir[];
  /** File writes and mode changes: independent of each other, so done several at once. */
  files: (ChangeMode | WriteFile)[];
}

/**
 * The plan that brings the disk to `tree`, from `disk` (what this device last saw at each
 * path). `ignores` is the folder's ignore rules: ignored paths of the tree are not written.
 * `selected` is this device's selection (default: everything): paths outside it are left
 * alone, neither written nor removed, whatever the tree or the disk state holds for them.
 * The tree may come in any order; every list of the plan is in path order (so directories
 * come before what is in them).
 */
export function planMaterialize(
  tree: readonly TreeItem[],
  disk: ReadonlyMap<string, LocalFileState>,
  ignores: (path: string, isDir: boolean) => boolean,
  selected: (path: string, isDir: boolean) => boolean = () => true,
): MaterializePlan {
  const entries = tree.filter(
    (e) => !ignores(e.path, e.kind === "dir") && selected(e.path, e.kind === "dir"),
  );
  // Names that would be one file on a case-insensitive disk: the one already here (or the
  // first) is written, the others are left out and reported, never written over it.
  const clashes = findClashes(entries.map((e) => e.path));
  const skip = new Set<string>();
  for (const group of clashes) {
    const keep = group.find((p) => disk.get(p)) ?? group[0];
    for (const p of group) if (p !== keep) skip.add(p);
  }
  const unportable = entries.flatMap((e) => {
    const problem = windowsProblem(e.path.slice(e.path.lastIndexOf("/") + 1));
    return problem ? [{ path: e.path, problem }] : [];
  });

  // Gone from the tree (a clash left out is still in it): children before their directories.
  const inTree = new Set(entries.map((e) => e.path));
  const stale = [...disk.values()]
    .filter((rec) => !inTree.has(rec.path) && selected(rec.path, rec.kind === "dir"))
    .sort((a, b) => (a.path < b.path ? 1 : -1))
    .map((rec): RemoveFile | RemoveDir =>
      rec.kind === "file"
        ? { do: "remove-file", path: rec.path, recorded: rec }
        : { do: "remove-dir", path: rec.path },
    );

  const dirs: MakeDir[] = [];
  const files: (ChangeMode | WriteFile)[] = [];
  for (const entry of entries) {
    if (skip.has(entry.path) || entry.kind === "symlink") continue;
    const rec = disk.get(entry.path);
    if (entry.kind === "dir") {
      if (rec?.kind !== "dir") dirs.push({ do: "mkdir", path: entry.path });
      continue;
    }
    const version = entry.version;
    if (!version) continue;
    const mode = version.mode & 0o777;
    if (rec?.kind === "file" && rec.hash === entry.contentHash) {
      if (rec.mode !== mode) files.push({ do: "chmod", path: entry.path, mode, recorded: rec });
      continue;
    }
    files.push({
      do: "write",
      path: entry.path,
      size: entry.size,
      contentHash: entry.contentHash,
      mode,
      mtimeMs: version.mtime,
      recorded: rec,
      conflictCopy: conflictCopyPath(entry.path, version),
    });
  }
  const byPath = (a: { path: string }, b: { path: string }): number =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  return {
    clashes,
    unportable: unportable.sort(byPath),
    stale,
    dirs: dirs.sort(byPath),
    files: files.sort(byPath),
  };
}

/** Where the other device's version of `path` goes when the local file changed: beside it. */
export function conflictCopyPath(path: string, version: TreeVersion): string {
  const slash = path.lastIndexOf("/") + 1;
  return path.slice(0, slash) + conflictCopyName(path.slice(slash), version);
}

/**
 * `plan` without any action on `held` paths, or on a path under or above one: a strong folder's
 * changes made here and not yet accepted. The tree shows such a path as it was before the change
 * until the relay accepts it, and writing that would undo the change on disk (a file saved
 * offline put back as it was, a file removed here written again, a file moved here removed).
 * Once accepted the tree shows the change; once refused, the tree's version is written (the
 * change itself is kept as refused).
 */
export function holdPaths(plan: MaterializePlan, held: readonly string[]): MaterializePlan {
  if (held.length === 0) return plan;
  const touches = (path: string): boolean =>
    held.some((h) => h === path || h.startsWith(`${path}/`) || path.startsWith(`${h}/`));
  return {
    ...plan,
    stale: plan.stale.filter((a) => !touches(a.path)),
    dirs: plan.dirs.filter((a) => !touches(a.path)),
    files: plan.files.filter((a) => !touches(a.path)),
  };
}
