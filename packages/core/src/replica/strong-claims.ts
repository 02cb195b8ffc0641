/**
 * What a strong folder's write replaces and claims: the heads it saw when it was made, whether
 * they still hold, and the file and place claims of a change (strong-writes.ts sends them).
 */
import { headHandle, headToken, toHex } from "@weft/crypto";
import type { FolderIndex } from "../folder/folder-index.js";
import { type ContentVersion, lwwCompare, versionId } from "../folder/records.js";
import type { FileState } from "../folder/tree.js";
import { type FileId, ROOT_ID } from "../ids.js";
import { splitPath } from "../model/path.js";
import type { HeadClaim } from "../protocol/messages.js";
import type { StrongOp } from "./strong-types.js";

/** The path an op writes (a move's source). */
export function pathOf(op: StrongOp): string {
  return op.kind === "move" ? op.from : op.path;
}

/** Runs a queued op on an index. */
export function runOp(index: FolderIndex, op: StrongOp): void {
  switch (op.kind) {
    case "write":
      reviveDirs(index, op.path, false);
      index.writeFile(op.path, { manifest: op.manifest, mode: op.mode, mtime: op.mtime });
      return;
    case "remove":
      return index.remove(op.path);
    case "mkdir":
      reviveDirs(index, op.path, true);
      return void index.mkdir(op.path);
    case "move":
      reviveDirs(index, op.to, false);
      return index.move(op.from, op.to);
    case "restore":
      return index.restore(op.path, op.version);
  }
}

/**
 * Brings back, for each directory `path` needs that the tree lacks (its parents, and itself
 * when `self`), the directory last removed from that place, rather than letting the op make a
 * new one. Place claims are keyed by the parent's id: a new directory made where one was
 * removed would have a new id, so a file another device added meanwhile in the old one would
 * claim a place under another parent; both changes would pass, the old directory would come
 * back for its live child, and two directories of one name would meet as a conflict. Brought
 * back, it is the same directory, and the two files claim the same place (one is refused).
 */
export function reviveDirs(index: FolderIndex, path: string, self: boolean): void {
  const parts = splitPath(path);
  let parent: FileId = ROOT_ID;
  for (let i = 0; i < (self ? parts.length : parts.length - 1); i++) {
    const entry = index.stat(parts.slice(0, i + 1).join("/"));
    if (entry) {
      if (entry.kind !== "dir") return;
      parent = entry.fileId;
      continue;
    }
    const removed = removedDirAt(index, parent, parts[i]!);
    if (!removed) return;
    index.reviveDir(removed);
    parent = removed;
  }
}

/** The directory last removed from (parent, name) (the latest removal, by its clock). */
function removedDirAt(index: FolderIndex, parent: FileId, name: string): FileId | undefined {
  let best: { fileId: FileId; gone: ContentVersion } | undefined;
  for (const fileId of index.fileIds()) {
    const f = index.file(fileId);
    const gone = f?.winner;
    if (!f || !gone?.deleted || gone.kind !== "dir") continue;
    if (f.place?.parent !== parent || f.place.name !== name) continue;
    if (!best || lwwCompare(gone, best.gone) > 0) best = { fileId, gone };
  }
  return best?.fileId;
}

/** An op as far as what it replaces goes (a write's content is not needed). */
export type ObservedOp = StrongOp | { kind: "write"; path: string };

/** What `op` replaces as `index` shows it (see {@link QueuedWrite.seen}). */
export function seenBy(index: FolderIndex, op: ObservedOp): Record<string, string | null> {
  const seen: Record<string, string | null> = {};
  const at = (path: string, withChildren = false): void => {
    const entry = index.stat(path);
    if (!entry) {
      seen[`path:${splitPath(path).join("/")}`] = null;
      return;
    }
    seen[`file:${entry.fileId}`] = headOf(index.file(entry.fileId));
    if (!withChildren || entry.kind !== "dir") return;
    const prefix = `${entry.path}/`;
    for (const e of index.tree().entries.values())
      if (e.conflictVersion === undefined && e.path.startsWith(prefix))
        seen[`file:${e.fileId}`] = headOf(index.file(e.fileId));
  };
  switch (op.kind) {
    case "write":
    case "restore":
      at(op.path);
      break;
    case "remove":
      at(op.path, true);
      break;
    case "mkdir":
      if (!index.stat(op.path)) at(op.path);
      break;
    case "move":
      at(op.from);
      at(op.to);
      break;
  }
  return seen;
}

/** Whether every head `seen` recorded is still the head in `index`. */
export function stillSeen(index: FolderIndex, seen: Record<string, string | null>): boolean {
  for (const [key, version] of Object.entries(seen)) {
    if (version?.startsWith("@")) return false;
    if (key.startsWith("file:")) {
      if (headOf(index.file(key.slice(5) as FileId)) !== version) return false;
    } else if (index.stat(key.slice(5)) !== undefined) return false;
  }
  return true;
}

export function headOf(f: FileState | undefined): string | null {
  return f?.winner ? versionId(f.winner) : null;
}

/** Where a file is while it exists (its parent and name), for the place handles. */
function placeOf(f: FileState | undefined): string | undefined {
  if (!f?.winner || f.winner.deleted || !f.place) return undefined;
  return `${f.place.parent}/${f.place.name}`;
}

/**
 * The claims of the change from `before` to `after`: per file whose winning version changed,
 * its handle from the old version's token to the new one's; per place (parent and name) a file
 * leaves or takes, the place's handle from that file to none, or from none to it. So two
 * devices editing one file, or creating a file at one free place, cannot both be accepted.
 */
export function claimsOf(before: FolderIndex, after: FolderIndex, key: Uint8Array): HeadClaim[] {
  const token = (what: string | undefined): Uint8Array =>
    what === undefined ? new Uint8Array(0) : headToken(key, what);
  const claims = new Map<string, HeadClaim>();
  const add = (what: string, base: string | undefined, next: string | undefined): void => {
    const handle = headHandle(key, what);
    const k = toHex(handle);
    const held = claims.get(k);
    // A place left and taken in one change: from its old occupant straight to the new.
    claims.set(k, { handle, base: held ? held.base : token(base), next: token(next) });
  };
  const taken: [string, FileId][] = [];
  for (const id of after.fileIds()) {
    const was = before.file(id);
    const now = after.file(id);
    const v0 = headOf(was);
    const v1 = headOf(now);
    if (v0 !== v1)
      add(`file:${id}`, v0 === null ? undefined : `v:${v0}`, v1 === null ? undefined : `v:${v1}`);
    const p0 = placeOf(was);
    const p1 = placeOf(now);
    if (p0 === p1) continue;
    if (p0 !== undefined) add(`place:${p0}`, `f:${id}`, undefined);
    if (p1 !== undefined) taken.push([p1, id]);
  }
  for (const [place, id] of taken) add(`place:${place}`, undefined, `f:${id}`);
  return [...claims.values()];
}
