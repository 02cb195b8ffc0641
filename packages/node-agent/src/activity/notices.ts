/** The folder's recent problems, as `weft status`, the dashboard and the daemon's pass retries read them. */
import type { FolderEvents } from "./events.js";

/** Something the folder wants a person (or the status page) to know. */
export interface SyncNotice {
  time: number;
  /** "error": something did not sync; "warning": something is deliberately left alone. */
  level: "error" | "warning";
  path?: string;
  message: string;
}

/** Problems kept: older ones are dropped. */
const MAX_NOTICES = 20;

/** Keeps the last {@link MAX_NOTICES} problems of a folder's events (its "error" and "warning" events), oldest first. */
export function followNotices(events: FolderEvents): SyncNotice[] {
  const list: SyncNotice[] = [];
  events.on((e) => {
    if (e.kind !== "error" && e.kind !== "warning") return;
    list.push({
      time: e.time,
      level: e.kind,
      message: e.detail,
      ...(e.path !== undefined ? { path: e.path } : {}),
    });
    if (list.length > MAX_NOTICES) list.splice(0, list.length - MAX_NOTICES);
  });
  return list;
}
