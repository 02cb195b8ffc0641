/**
 * Deriving the tree: from per-file registers to `path → entry`, deterministically on
 * every replica. Concurrent moves never leave a cycle or lose a node, same-name siblings get
 * distinct names, a directory deleted while a peer added inside it comes back.
 */
import { type FileId, ROOT_ID } from "../ids.js";
import { fitName, splitExtension } from "../model/path.js";
import {
  type ContentVersion,
  type FileKind,
  type Placement,
  type VersionSnapshot,
  lwwCompare,
  snapshotOf,
  versionId,
} from "./records.js";
import { conflictCopyName, openConflicts } from "./registers.js";

/** The merged state of one file: its current content versions, the winner, and its placement. */
export interface FileState {
  readonly fileId: FileId;
  /** Current (undominated) content versions; more than one means concurrent writes. */
  readonly contents: readonly ContentVersion[];
  /** The content version shown at the file's path (modify beats delete, then LWW). */
  readonly winner: ContentVersion | undefined;
  /** Current placements (concurrent moves leave several; the LWW winner applies). */
  readonly places: readonly Placement[];
  readonly place: Placement | undefined;
}

/** One entry of the derived tree. */
export interface TreeEntry {
  /** Folder-relative path, `/`-separated, NFC. */
  readonly path: string;
  readonly name: string;
  readonly fileId: FileId;
  readonly kind: FileKind;
  /** The content shown at this path. */
  readonly version: VersionSnapshot;
  /** For a conflict copy: the version id of the losing version it shows. */
  readonly conflictVersion?: string;
  /** For a conflict copy: the path of the file it is a copy of. */
  readonly conflictOf?: string;
  /** A directory shown only because something live is inside it (its deletion lost to an addition). */
  readonly resurrected: boolean;
  /** The placement was changed to keep the tree a tree (a cycle of concurrent moves was broken here). */
  readonly cycleBroken: boolean;
  /** The version id of the placement that put the entry here. */
  readonly placeVersion: string;
  /**
   * Other ids shown as this very entry: directories with this name merged into it, files with
   * this name and the same content. Operations on the path act on them too.
   */
  readonly merged?: readonly FileId[];
  /**
   * Other files with this name and different content: shown beside it as conflict copies,
   * settled with `resolveConflict` on this path. Removing or moving the path takes them along.
   */
  readonly rivals?: readonly FileId[];
}

/** The derived tree of a folder. */
export interface Tree {
  /** Every visible entry by path (in no particular order; sort the keys for a listing). */
  readonly entries: ReadonlyMap<string, TreeEntry>;
  /** The path of each visible file id (its main entry, not conflict copies). */
  readonly pathOf: ReadonlyMap<FileId, string>;
  /** Live files whose parent has not arrived (yet); shown once it does. */
  readonly orphans: readonly FileId[];
  /** Files shown with conflict copies (the id of the main entry). */
  readonly conflicted: ReadonlySet<FileId>;
  /** Ids that share their path with another id (merged or rivals): never patched in place. */
  readonly unified: ReadonlySet<FileId>;
}

/** The tree as the index keeps it: patched in place for the common local writes. */
interface MutableTree extends Tree {
  readonly entries: Map<string, TreeEntry>;
  readonly pathOf: Map<FileId, string>;
  readonly conflicted: Set<FileId>;
}

/** Materialises the tree from the state of every file. Pure and deterministic. */
export function deriveTree(files: ReadonlyMap<FileId, FileState>): Tree {
  // 1. Effective parent of every placed file. A parent that is a file (only a forged or
  //    corrupt record can say so) would hide the subtree, so such nodes go to the root.
  const parent = new Map<FileId, FileId>();
  for (const [id, f] of files) {
    if (!f.place || id === ROOT_ID) continue; // the root has no record; one claiming to be it is ignored
    let p = f.place.parent;
    const pf = files.get(p);
    if (p !== ROOT_ID && pf?.winner && pf.winner.kind !== "dir") p = ROOT_ID;
    if (p === id) p = ROOT_ID;
    parent.set(id, p);
  }

  // 2. Break cycles. Every node has one parent, so cycles are disjoint and the set of cycles
  //    does not depend on visiting order. In each, the most recent move (by LWW on the
  //    placement) is the one undone: that node is attached to the root.
  const cycleBroken = new Set<FileId>();
  const state = new Map<FileId, 1 | 2>();
  // Default sort compares UTF-16 code units, the same order as cmpString, natively.
  const ids = [...parent.keys()].sort();
  for (const start of ids) {
    if (state.has(start)) continue;
    const path: FileId[] = [];
    let cur: FileId | undefined = start;
    while (cur !== undefined && cur !== ROOT_ID && parent.has(cur) && !state.has(cur)) {
      state.set(cur, 1);
      path.push(cur);
      cur = parent.get(cur);
    }
    if (cur !== undefined && state.get(cur) === 1) {
      const cycle = path.slice(path.indexOf(cur));
      let newest = cycle[0]!;
      for (const n of cycle)
        if (lwwCompare(files.get(n)!.place!, files.get(newest)!.place!) > 0) newest = n;
      parent.set(newest, ROOT_ID);
      cycleBroken.add(newest);
    }
    for (const n of path) state.set(n, 2);
  }

  // 3. Which nodes are shown: every live node whose chain reaches the root, and all of its
  //    ancestors (a deleted ancestor comes back). Chains ending at a missing parent are orphans.
  const shown = new Set<FileId>();
  const orphans: FileId[] = [];
  for (const id of ids) {
    const f = files.get(id)!;
    if (!f.winner || f.winner.deleted) continue;
    const chain: FileId[] = [];
    let cur: FileId = id;
    let reachesRoot = false;
    while (true) {
      if (shown.has(cur)) {
        reachesRoot = true;
        break;
      }
      chain.push(cur);
      const p = parent.get(cur);
      if (p === undefined) break;
      if (p === ROOT_ID) {
        reachesRoot = true;
        break;
      }
      cur = p;
    }
    if (reachesRoot) for (const n of chain) shown.add(n);
    else orphans.push(id);
  }

  // 4. Names per directory, then paths from the root down.
  const children = new Map<FileId, FileId[]>();
  for (const id of ids) {
    if (!shown.has(id)) continue;
    const p = parent.get(id)!;
    let list = children.get(p);
    if (!list) children.set(p, (list = []));
    list.push(id);
  }
  const entries: TreeEntry[] = [];
  const pathOf = new Map<FileId, string>();
  const conflicted = new Set<FileId>();
  const unified = new Set<FileId>();
  const isDir = (f: FileState): boolean => !f.winner || f.winner.deleted || f.winner.kind === "dir";
  // A directory shown at a path may be several ids (directories created apart with one name):
  // their children are listed together, under the one path.
  const queue: [FileId[], string][] = [[[ROOT_ID], ""]];
  for (let qi = 0; qi < queue.length; qi++) {
    const [dirIds, dirPath] = queue[qi]!;
    const kids =
      dirIds.length === 1
        ? (children.get(dirIds[0]!) ?? [])
        : dirIds.flatMap((d) => children.get(d) ?? []).sort();
    const taken = new Set<string>();
    const tries = new Map<string, number>();
    const join = (name: string): string => (dirPath === "" ? name : `${dirPath}/${name}`);
    // Entries with one name in one directory are one entry to the user (the path is what a
    // person sees as identity, as in Syncthing and Dropbox): grouped by name, in file-id order.
    const byName = new Map<string, FileId[]>();
    for (const id of kids) {
      const name = files.get(id)!.place!.name;
      const group = byName.get(name);
      if (group) group.push(id);
      else byName.set(name, [id]);
    }
    const copies: { id: FileId; versions: VersionSnapshot[]; of: string; name: string }[] = [];
    const mainAt = new Map<string, FileId>();
    for (const [wanted, group] of byName) {
      const u = unify(group, files, isDir);
      const f = files.get(u.main)!;
      // Names are unique per group, so only a forged or odd name (one that looks like a
      // conflict copy) can still be taken here.
      const name = claimName(wanted, `name-clash-${u.main.slice(0, 8)}`, taken, tries);
      const path = join(name);
      mainAt.set(path, u.main);
      for (const id of group) pathOf.set(id, path);
      if (group.length > 1) for (const id of group) unified.add(id);
      const live = f.winner && !f.winner.deleted;
      const version: VersionSnapshot = live ? f.winner : syntheticDir(f);
      entries.push({
        path,
        name,
        fileId: u.main,
        kind: live ? f.winner.kind : "dir",
        version,
        resurrected: u.resurrected,
        cycleBroken: cycleBroken.has(u.main),
        placeVersion: versionId(f.place!),
        ...(u.merged.length > 0 ? { merged: u.merged } : {}),
        ...(u.rivals.length > 0 ? { rivals: u.rivals } : {}),
      });
      if (version.kind === "dir") queue.push([[u.main, ...u.merged].sort(), path]);
      // Conflict copies: the file's own concurrent versions, then every version of a rival.
      for (const id of [u.main, ...u.merged]) {
        const m = files.get(id)!;
        if (!m.winner || m.winner.deleted || m.winner.kind === "dir") continue;
        const open = openConflicts(m.contents, m.winner);
        if (open.length > 0) copies.push({ id, versions: open, of: path, name: wanted });
      }
      for (const id of u.rivals) {
        const r = files.get(id)!;
        const open = openConflicts(r.contents, r.winner!);
        copies.push({ id, versions: [snapshotOf(r.winner!), ...open], of: path, name: wanted });
      }
    }
    for (const c of copies) {
      conflicted.add(mainAt.get(c.of)!);
      const f = files.get(c.id)!;
      for (const loser of c.versions) {
        // Copies of one device from one second want one name: numbered, resuming where the
        // last one stopped (a forged slot can carry thousands).
        const base = conflictCopyName(c.name, loser);
        let name = base;
        for (let n = tries.get(base) ?? 1; taken.has(name);) {
          name = conflictCopyName(c.name, loser, ++n);
          tries.set(base, n);
        }
        taken.add(name);
        entries.push({
          path: join(name),
          name,
          fileId: c.id,
          kind: loser.kind,
          version: loser,
          conflictVersion: versionId(loser),
          conflictOf: c.of,
          resurrected: false,
          cycleBroken: false,
          placeVersion: versionId(f.place!),
        });
      }
    }
  }
  const byPath = new Map<string, TreeEntry>();
  for (const e of entries) byPath.set(e.path, e);
  return { entries: byPath, pathOf, orphans, conflicted, unified };
}

/**
 * Updates a tree in place for changes that cannot move anything else: new content for a file
 * that stays where it is with no conflict, or a new file under a free name in a shown directory.
 * Returns false when any change needs a full {@link deriveTree} (moves, deletions, conflicts,
 * anything remote and unusual); the result is then the same as a full rebuild would give.
 */
export function patchTree(
  tree: Tree,
  changed: Iterable<FileId>,
  file: (id: FileId) => FileState | undefined,
): boolean {
  // Changes are applied as they are checked (a new directory, then a file inside it); on a
  // false return the caller discards the tree, so a half-patched tree is never used.
  const t = tree as MutableTree;
  if (t.orphans.length > 0) return false;
  for (const id of changed) {
    const f = file(id);
    const w = f?.winner;
    if (!f || !w || w.deleted || !f.place || t.conflicted.has(id) || t.unified.has(id))
      return false;
    if (openConflicts(f.contents, w).length > 0) return false;
    const placeVersion = versionId(f.place);
    const path = t.pathOf.get(id);
    if (path !== undefined) {
      const prev = t.entries.get(path)!;
      if (prev.resurrected || prev.placeVersion !== placeVersion || prev.kind !== w.kind)
        return false;
      t.entries.set(path, { ...prev, version: w });
      continue;
    }
    // A new file: its parent must be shown as a directory and its name free.
    if (f.contents.length !== 1 || f.places.length !== 1) return false;
    let dirPath = "";
    if (f.place.parent !== ROOT_ID) {
      const p = t.pathOf.get(f.place.parent);
      if (p === undefined || t.entries.get(p)?.kind !== "dir") return false;
      dirPath = p;
    }
    const newPath = dirPath === "" ? f.place.name : `${dirPath}/${f.place.name}`;
    if (t.entries.has(newPath)) return false;
    t.entries.set(newPath, {
      path: newPath,
      name: f.place.name,
      fileId: id,
      kind: w.kind,
      version: w,
      resurrected: false,
      cycleBroken: false,
      placeVersion,
    });
    t.pathOf.set(id, newPath);
  }
  return true;
}

/** How one group of same-named siblings is shown; see {@link unify}. */
interface Unified {
  main: FileId;
  merged: FileId[];
  rivals: FileId[];
  resurrected: boolean;
}

/**
 * Same-named siblings as one entry. Directories merge: the lowest live id (else the lowest) is
 * the entry, the others list their children under it. Files: the last writer's (LWW on the
 * winning versions, then the lowest id) keeps the name, files with the same content are that
 * file, the others are rivals shown as conflict copies. A directory beats files (it may hold
 * anything), which are then all rivals. Every replica computes the same from the same records.
 */
function unify(
  group: readonly FileId[],
  files: ReadonlyMap<FileId, FileState>,
  isDir: (f: FileState) => boolean,
): Unified {
  if (group.length === 1) {
    const f = files.get(group[0]!)!;
    const live = !!f.winner && !f.winner.deleted;
    return { main: group[0]!, merged: [], rivals: [], resurrected: !live };
  }
  // `group` is in file-id order (see the caller), so the first one found is the lowest.
  const dirs = group.filter((id) => isDir(files.get(id)!));
  const others = group.filter((id) => !isDir(files.get(id)!));
  if (dirs.length > 0) {
    const liveDirs = dirs.filter((id) => files.get(id)!.winner?.deleted === false);
    const main = liveDirs[0] ?? dirs[0]!;
    return {
      main,
      merged: dirs.filter((id) => id !== main),
      rivals: others,
      resurrected: liveDirs.length === 0,
    };
  }
  let main = others[0]!;
  for (const id of others)
    if (lwwCompare(files.get(id)!.winner!, files.get(main)!.winner!) > 0) main = id;
  const shown = files.get(main)!.winner!;
  const merged: FileId[] = [];
  const rivals: FileId[] = [];
  for (const id of others) {
    if (id === main) continue;
    (sameContent(files.get(id)!.winner!, shown) ? merged : rivals).push(id);
  }
  return { main, merged, rivals, resurrected: false };
}

/** True when two live versions show the same thing (kind, bytes or link target). */
function sameContent(a: VersionSnapshot, b: VersionSnapshot): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "symlink") return a.target === b.target;
  return (a.manifest?.contentHash ?? null) === (b.manifest?.contentHash ?? null);
}

/** A directory shown without a live content version (resurrected, or its content not yet arrived). */
function syntheticDir(f: FileState): VersionSnapshot {
  const p = f.place!;
  const base = f.winner ?? { mode: 0o755, mtime: 0 };
  return {
    kind: "dir",
    manifest: null,
    target: null,
    mode: base.mode,
    mtime: base.mtime,
    vv: p.vv,
    hlc: p.hlc,
    device: p.device,
  };
}

/** Takes `wanted` if free, else a deterministic variant with `tag`, keeping within the name limit. */
function claimName(
  wanted: string,
  tag: string,
  taken: Set<string>,
  tries: Map<string, number>,
): string {
  let name = wanted;
  // Resume numbering where the last clash on this name stopped: many copies wanting one name
  // (a forged slot can carry thousands) must not cost a scan from 1 each.
  for (let n = tries.get(wanted) ?? 1; taken.has(name); n++) {
    const { stem, ext } = splitExtension(wanted);
    name = fitName(stem, n === 1 ? `.${tag}` : `.${tag}-${n}`, ext);
    tries.set(wanted, n + 1);
  }
  taken.add(name);
  return name;
}
