/**
 * What an apply pass after a change looks at: the paths the change touched (the index's
 * {@link PathJournal}) and what they imply, instead of the whole tree. A full pass compares
 * every entry of the tree and every record of the disk state; after a full pass, the two agree
 * everywhere but where the tree changed since, so a pass of those paths plans what a full one
 * would (see `FolderSync.materialize` for when a full pass is still made).
 */
import type { Tree } from "@weft/core";
import { type MaterializePlan, planMaterialize } from "../materialize/index.js";
import { clashKey } from "../names/index.js";
import type { LocalFileState } from "../scan/index.js";
import { treeItems, treeItemsAt } from "./tree-items.js";

/**
 * Plans apply passes, full or of the paths changed since the last (see {@link scopeOf}), and
 * keeps what the status shows of the last (clashing and unportable names) and what a pass of
 * changed paths needs of the earlier ones (the {@link ClashIndex}).
 */
export class PassPlanner {
  /** Names that would clash on a case-insensitive disk: left out, reported. */
  clashes: string[][] = [];
  /** Names a Windows device could not hold, by path order. */
  unportable: { path: string; problem: string }[] = [];
  private readonly clashIndex = new ClashIndex();
  private unportableAt = new Map<string, string>();

  /**
   * The plan of a pass: of the whole tree, or of the paths in `touched` and what they imply.
   * Either way the clash and portability lists of the status are brought up to date.
   */
  plan(
    tree: Tree,
    disk: ReadonlyMap<string, LocalFileState>,
    ignores: (path: string, isDir: boolean) => boolean,
    selected: (path: string, isDir: boolean) => boolean,
    touched?: ReadonlySet<string>,
  ): { plan: MaterializePlan; paths: number } {
    if (!touched) {
      const plan = planMaterialize(treeItems(tree), disk, ignores, selected, {
        clashes: (paths) => {
          this.clashIndex.reset(paths);
          return this.clashIndex.all();
        },
      });
      this.unportableAt = new Map(plan.unportable.map((u) => [u.path, u.problem]));
      this.clashes = plan.clashes;
      this.unportable = plan.unportable;
      return { plan, paths: tree.entries.size };
    }
    const scope = scopeOf(touched, tree, disk);
    const items = treeItemsAt(tree, scope);
    // A clash the scope was or is part of: which of its names is written may change, so all of
    // them are planned (each on its own; what is under them did not change).
    const clashed = this.clashIndex.groupsOf(scope);
    this.clashIndex.update(
      scope,
      items
        .filter((e) => !ignores(e.path, e.kind === "dir") && selected(e.path, e.kind === "dir"))
        .map((e) => e.path),
    );
    const more: string[] = [];
    for (const group of [...clashed, ...this.clashIndex.groupsOf(scope)])
      for (const path of group)
        if (!scope.has(path)) {
          scope.add(path);
          more.push(path);
        }
    items.push(...treeItemsAt(tree, more));
    const records: LocalFileState[] = [];
    for (const path of scope) {
      const rec = disk.get(path);
      if (rec) records.push(rec);
    }
    const groups = this.clashIndex.groupsOf(scope);
    const plan = planMaterialize(items, disk, ignores, selected, {
      records,
      clashes: () => groups,
    });
    for (const path of scope) this.unportableAt.delete(path);
    for (const u of plan.unportable) this.unportableAt.set(u.path, u.problem);
    this.clashes = this.clashIndex.all();
    this.unportable = [...this.unportableAt]
      .map(([path, problem]) => ({ path, problem }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { plan, paths: scope.size };
  }
}

/**
 * The paths a pass after `touched` plans: each touched path, the directories above it (one
 * made or removed with it), and, for a touched directory, everything under it in the tree or
 * the disk state (a directory moved or removed takes its contents along). Finding what is under
 * a directory reads every path once (no plan work): a folder's paths are not kept by directory.
 */
export function scopeOf(
  touched: ReadonlySet<string>,
  tree: Tree,
  disk: ReadonlyMap<string, LocalFileState>,
): Set<string> {
  const scope = new Set<string>();
  const dirs = new Set<string>();
  for (const path of touched) {
    scope.add(path);
    if (tree.entries.get(path)?.kind === "dir" || disk.get(path)?.kind === "dir") dirs.add(path);
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1))
      scope.add(path.slice(0, i));
  }
  if (dirs.size === 0) return scope;
  const under = (path: string): boolean => {
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1))
      if (dirs.has(path.slice(0, i))) return true;
    return false;
  };
  for (const path of tree.entries.keys()) if (under(path)) scope.add(path);
  for (const path of disk.keys()) if (under(path)) scope.add(path);
  return scope;
}

/**
 * The paths of the tree a pass writes (not ignored, selected), grouped by {@link clashKey}: the
 * names that would be one file on a case-insensitive disk. A full pass sets them all; a pass of
 * a scope updates the scope's paths, and finds the clashes among them without the whole tree.
 */
export class ClashIndex {
  private readonly byKey = new Map<string, Set<string>>();
  /** The keys shared by two paths or more. */
  private readonly clashing = new Set<string>();

  /** Starts again from `paths` (a full pass). */
  reset(paths: Iterable<string>): void {
    this.byKey.clear();
    this.clashing.clear();
    for (const path of paths) this.add(path);
  }

  /** Takes `scope`'s paths out, then puts those of `present` (each in `scope`) back. */
  update(scope: Iterable<string>, present: Iterable<string>): void {
    for (const path of scope) {
      const key = clashKey(path);
      const group = this.byKey.get(key);
      if (!group?.delete(path)) continue;
      if (group.size === 0) this.byKey.delete(key);
      if (group.size < 2) this.clashing.delete(key);
    }
    for (const path of present) this.add(path);
  }

  /** The clashing groups that hold any of `paths`, each sorted. */
  groupsOf(paths: Iterable<string>): string[][] {
    const keys = new Set<string>();
    for (const path of paths) {
      const key = clashKey(path);
      if (this.clashing.has(key)) keys.add(key);
    }
    return sortGroups(keys, this.byKey);
  }

  /** Every clashing group, each sorted, ordered by their first path. */
  all(): string[][] {
    return sortGroups(this.clashing, this.byKey);
  }

  private add(path: string): void {
    const key = clashKey(path);
    let group = this.byKey.get(key);
    if (!group) this.byKey.set(key, (group = new Set()));
    group.add(path);
    if (group.size >= 2) this.clashing.add(key);
  }
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortGroups(keys: Iterable<string>, byKey: ReadonlyMap<string, Set<string>>): string[][] {
  const groups: string[][] = [];
  for (const key of keys) groups.push([...byKey.get(key)!].sort(byCodeUnit));
  return groups.sort((a, b) => byCodeUnit(a[0]!, b[0]!));
}
