/** A strong folder's refused changes as people and scripts see them: "PATH: changed elsewhere; your version is kept as …". */
import type { RefusedWrite } from "@weft/core";

/** A refused change as `weft status`, `weft refused` and the dashboard show it. */
export interface RefusedView {
  /** What `weft reapply FOLDER_ID ID` names it by. */
  id: string;
  path: string;
  /** write, remove, mkdir, move or restore. */
  kind: string;
  /** Why: "changed elsewhere", or what else refused it. */
  reason: string;
  /** When it was refused (ms since the epoch). */
  at: number;
  /** The whole sentence, for people. */
  message: string;
}

/**
 * A strong folder's refused change for people: "PATH: changed elsewhere; your version is kept
 * as …" (`keptAs`, by default the refused change in this folder's state, with the command that
 * writes it again).
 */
export function refusalMessage(folderId: string, r: RefusedWrite, keptAs?: string): string {
  return `${r.path}: ${refusalDetail(folderId, r, keptAs)}`;
}

/** {@link refusalMessage} without the path in front (a notice names its path apart). */
export function refusalDetail(folderId: string, r: RefusedWrite, keptAs?: string): string {
  return (
    `${r.reason}; your version is kept as ` +
    (keptAs ??
      `refused write ${r.id} (write it on top of the new version: weft reapply ${folderId} ${r.id})`)
  );
}

/** `r` as {@link RefusedView}. */
export function refusedView(folderId: string, r: RefusedWrite): RefusedView {
  return {
    id: r.id,
    path: r.path,
    kind: r.op.kind,
    reason: r.reason,
    at: r.at,
    message: refusalMessage(folderId, r),
  };
}
