/** The index's tree as the daemon reads it on each pass, without listing and sorting it. */
import type { Tree } from "@weft/core";
import type { TreeItem } from "../materialize/index.js";

/**
 * The files in `tree` (conflict copies included), counted in place: the status, written every
 * second after a change, listed (and sorted) the whole tree for this.
 */
export function countFiles(tree: Tree): number {
  let files = 0;
  for (const e of tree.entries.values()) if (e.kind === "file") files++;
  return files;
}

/**
 * The tree as the write policy takes it, straight from the index's entries: `Replica.list()`
 * and a `stat` per file (a path split and a lookup) cost a daemon ~0.2 s a pass at 20,000 files.
 */
export function treeItems(tree: Tree): TreeItem[] {
  const items: TreeItem[] = [];
  for (const e of tree.entries.values()) {
    const manifest = e.version.manifest;
    items.push({
      path: e.path,
      kind: e.kind,
      size: manifest?.size ?? 0,
      contentHash: e.kind === "file" ? (manifest?.contentHash ?? null) : null,
      ...(e.kind === "file" ? { version: e.version } : {}),
    });
  }
  return items;
}
