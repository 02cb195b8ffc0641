/** Deleted files by the path they had: what `weft restore` needs to bring one back. */
import { type FileId, ROOT_ID } from "../ids.js";
import { splitPath } from "../model/path.js";
import type { FolderIndex } from "./folder-index.js";
import type { VersionSnapshot } from "./records.js";

/** A file deleted from a path, with the versions it had. */
export interface DeletedFile {
  fileId: FileId;
  /** Its path when it was deleted. */
  path: string;
  /** When it was deleted (ms since the epoch, by the deleting device's clock). */
  deletedAt: number;
  /** Its versions, newest first (what {@link FolderIndex.undelete} can bring back). */
  history: VersionSnapshot[];
}

/** Files deleted at `path` (newest deletion first); empty when none was. */
export function deletedAt(index: FolderIndex, path: string): DeletedFile[] {
  const wanted = splitPath(path).join("/");
  const { pathOf } = index.tree();
  const out: DeletedFile[] = [];
  for (const fileId of index.fileIds()) {
    const f = index.file(fileId);
    const w = f?.winner;
    if (!f || !w?.deleted || w.kind !== "file" || !f.place) continue;
    const parent = f.place.parent === ROOT_ID ? "" : pathOf.get(f.place.parent);
    if (parent === undefined) continue; // its directory is gone too
    const at = parent === "" ? f.place.name : `${parent}/${f.place.name}`;
    if (at !== wanted) continue;
    const history = index.historyOf(fileId).filter((v) => v.manifest !== null);
    if (history.length > 0) out.push({ fileId, path: at, deletedAt: w.hlc.wall, history });
  }
  return out.sort((a, b) => b.deletedAt - a.deletedAt);
}
