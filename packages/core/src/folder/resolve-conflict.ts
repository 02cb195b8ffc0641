/** Conflicts in a folder index: how they are listed, and how a person settles them. */
import type { DeviceId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import type { FileId } from "../ids.js";
import { checkName, splitPath } from "../model/path.js";
import { type FileContentInput, checkContentInput } from "./inputs.js";
import type { Tree, TreeEntry } from "./tree.js";
import { type VersionSnapshot, snapshotOf, versionId } from "./records.js";
import { openConflicts } from "./registers.js";
import type { IndexEditor } from "./index-edit.js";
import type { ContentInput } from "./writer.js";

/**
 * How to settle a file's conflict. `keep`, `keepBoth` and `merged` settle every conflict copy of
 * the file; `dropCopy` and `keepCopy` settle one (the one whose version id they name) and leave
 * the others, which is what removing, renaming or editing a single copy on a disk means.
 */
export type Resolution =
  | { keep: string }
  | { keepBoth: true }
  | { merged: FileContentInput }
  /** That copy disappears; its version goes to the file's history. The file's content stays. */
  | { dropCopy: string }
  /**
   * That copy becomes a file of its own at `path` (by default the name it is shown with); its
   * version also goes to the file's history. The file's content stays.
   */
  | { keepCopy: string; path?: string };

/** One file with concurrent versions, as `conflicts()` reports it. */
export interface ConflictInfo {
  fileId: FileId;
  path: string;
  /** The version shown at `path`. */
  winner: string;
  copies: {
    path: string;
    version: string;
    device: DeviceId;
    wall: number;
    contentHash: string | null;
  }[];
}

/**
 * Every path of `tree` with unresolved concurrent versions: those of one file, and those of
 * other files created apart under the same name (its rivals, see {@link TreeEntry.rivals}).
 */
export function conflictsIn(tree: Tree): ConflictInfo[] {
  const byPath = new Map<string, ConflictInfo>();
  for (const e of tree.entries.values()) {
    if (e.conflictVersion === undefined) continue;
    const of = e.conflictOf!;
    let info = byPath.get(of);
    if (!info) {
      const main = tree.entries.get(of)!;
      byPath.set(
        of,
        (info = {
          fileId: main.fileId,
          path: of,
          winner: versionId(main.version),
          copies: [],
        }),
      );
    }
    info.copies.push({
      path: e.path,
      version: e.conflictVersion,
      device: e.version.device,
      wall: e.version.hlc.wall,
      contentHash: e.version.manifest?.contentHash ?? null,
    });
  }
  return [...byPath.values()];
}

/**
 * Settles a conflict at `path` (the file's own path, not a copy's): keep one version (the
 * others go to history), keep both (each conflict copy becomes a file of its own under the name
 * it is shown with), write a merged result, or settle a single copy (see {@link Resolution}).
 * The copies are the file's own concurrent versions and the files created apart under the same
 * name (rivals); both settle the same way, so a person never needs to know which is which.
 * @throws WeftError NOT_FOUND when the path has no conflict; NO_SUCH_VERSION; ALREADY_EXISTS
 *   when `keepCopy` names a path that is taken; IS_A_DIRECTORY for `merged`, or `keep` of a
 *   file's version, when a directory holds the name
 */
export function resolveConflict(edit: IndexEditor, path: string, resolution: Resolution): void {
  const entry = edit.requireMain(path);
  const winner = edit.index.file(entry.fileId)!.winner;
  const copies = [...edit.index.tree().entries.values()].filter((e) => e.conflictOf === entry.path);
  if (!winner || copies.length === 0)
    throw new WeftError("NOT_FOUND", `${entry.path} has no conflict`);
  if ("dropCopy" in resolution || "keepCopy" in resolution) {
    const version = "dropCopy" in resolution ? resolution.dropCopy : resolution.keepCopy;
    const copy = copies.find((c) => c.conflictVersion === version);
    if (!copy)
      throw new WeftError("NO_SUCH_VERSION", `${entry.path} has no conflict copy ${version}`);
    settleCopy(edit, entry, copy, resolution);
    return;
  }
  if ("merged" in resolution) resolution = { merged: checkContentInput(resolution.merged) };
  const isDir = entry.kind === "dir";
  const rivals = new Set(entry.rivals ?? []);
  // What the path shows: the record's winner, except for a directory deleted on one device and
  // kept alive by content added under it on another (resurrected), which shows its last live
  // version; `conflicts()` names that one as the winner.
  const current = (id: string): boolean =>
    id === versionId(winner) || id === versionId(entry.version);
  if ("keep" in resolution) {
    const keep = resolution.keep;
    if (!current(keep) && !copies.some((c) => c.conflictVersion === keep))
      throw new WeftError("NO_SUCH_VERSION", `${entry.path} has no version ${keep}`);
    if (isDir && !current(keep))
      throw new WeftError(
        "IS_A_DIRECTORY",
        `a directory is at ${entry.path}; keep that copy under its own name instead`,
      );
  }
  if ("merged" in resolution && isDir)
    throw new WeftError("IS_A_DIRECTORY", `a directory is at ${entry.path}; nothing to merge`);
  edit.index.mutate(() => {
    // The file's own concurrent versions (and those of its twins) are settled into its
    // history by the write below; rivals are files of their own and are deleted (their
    // versions go to their history) or, for keepBoth, renamed to the copy's name.
    const own = [entry.fileId, ...(entry.merged ?? [])];
    const settledOf = (id: FileId): VersionSnapshot[] => {
      const f = edit.index.file(id)!;
      return f.winner && !f.winner.deleted ? openConflicts(f.contents, f.winner) : [];
    };
    if ("keepBoth" in resolution) {
      for (const c of copies) {
        const parent = edit.parentOf(c.path);
        const rivalWinner = rivals.has(c.fileId) && edit.index.file(c.fileId)!.winner!;
        if (rivalWinner && versionId(rivalWinner) === c.conflictVersion)
          edit.writer.writePlace(c.fileId, parent, c.name);
        else
          edit.create(parent, c.name, c.version.kind, {
            manifest: c.version.manifest,
            target: c.version.target,
            mode: c.version.mode,
            mtime: c.version.mtime,
          });
      }
      for (const id of [...own, ...rivals]) {
        const settled = settledOf(id);
        if (settled.length === 0) continue;
        const w = edit.index.file(id)!.winner!;
        edit.writer.writeContent(id, { ...snapshotOf(w), deleted: false }, settled);
      }
      return;
    }
    let content: ContentInput | undefined;
    if ("keep" in resolution) {
      const keep = resolution.keep;
      const v = current(keep)
        ? keep === versionId(winner)
          ? winner
          : entry.version
        : copies.find((c) => c.conflictVersion === keep)!.version;
      content = { ...snapshotOf(v), deleted: false };
    } else if ("merged" in resolution) {
      const m = resolution.merged;
      content = {
        kind: "file",
        deleted: false,
        manifest: m.manifest,
        target: null,
        mode: m.mode ?? winner.mode,
        mtime: m.mtime,
      };
    }
    if (!isDir && content)
      edit.writer.writeContent(entry.fileId, content, [
        snapshotOf(winner),
        ...settledOf(entry.fileId),
      ]);
    for (const id of [...own.slice(1), ...rivals]) edit.writer.deleteFile(id);
  });
}

/**
 * Settles one conflict copy: its version goes to history (so `history` and `restore` still
 * reach it) and the file keeps the content it shows; the other copies stay open. With
 * `keepCopy`, the copy's content is also a file of its own from now on: a rival file is
 * renamed to the copy's path (same id, its history follows), a version of this file is
 * written as a new file.
 */
function settleCopy(
  edit: IndexEditor,
  entry: TreeEntry,
  copy: TreeEntry,
  resolution: { dropCopy: string } | { keepCopy: string; path?: string },
): void {
  const owner = edit.index.file(copy.fileId)!;
  const ownerWinner = owner.winner!;
  const isRival =
    (entry.rivals ?? []).includes(copy.fileId) && versionId(ownerWinner) === copy.conflictVersion;
  let dest: string[] | undefined;
  if ("keepCopy" in resolution) {
    dest = splitPath(resolution.path ?? copy.path);
    if (dest.length === 0) throw new WeftError("INVALID_PATH", "cannot write the folder root");
    checkName(dest[dest.length - 1]!);
    // The copy's own name is free once it is settled; any other taken name is refused
    // before anything is written.
    const taken = edit.index.tree().entries.get(dest.join("/"));
    if (taken && taken.path !== copy.path)
      throw new WeftError("ALREADY_EXISTS", `already exists: ${taken.path}`);
  }
  edit.index.mutate(() => {
    if (isRival) {
      // A file created apart under this name: dropping its copy deletes it (its versions go
      // to its history), keeping it renames it.
      if (!dest) edit.writer.deleteFile(copy.fileId);
      else {
        const parent = edit.index.mkdir(dest.slice(0, -1).join("/"));
        edit.writer.writePlace(copy.fileId, parent, dest[dest.length - 1]!);
      }
      return;
    }
    // The new file first: creating its parent directories is what can still fail, and then
    // nothing has been settled.
    const loser = copy.version;
    if (dest)
      edit.createAt(dest, loser.kind, {
        manifest: loser.manifest,
        target: loser.target,
        mode: loser.mode,
        mtime: loser.mtime,
      });
    edit.writer.writeContent(copy.fileId, { ...snapshotOf(ownerWinner), deleted: false }, [loser]);
  });
}
