/** activity: what happens in a synced folder as events (sent, received, deleted, conflicts, problems), and the lists kept from them for the dashboard, status and log. */
export { type FolderEvent, FolderEvents, type TimedFolderEvent, emitConflicts } from "./events.js";
export { type ActivityEvent, type ActivityKind, ActivityLog } from "./activity-log.js";
export { type SyncNotice, followNotices } from "./notices.js";
