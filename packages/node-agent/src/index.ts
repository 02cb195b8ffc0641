/**
 * @weft/node-agent — the `weft` agent that keeps real folders in sync across devices (the CLI is
 * `dist/cli/main.js`). Exported for embedding and tests: the SQLite stores, the home, and one
 * folder's sync loop.
 */
export { SqliteBlobStore, SqliteStateStore } from "./state/index.js";
export { Home, AgentError, type AgentErrorCode, type FolderRecord } from "./home/index.js";
export { FolderSync, type FolderStatus, type Clock } from "./sync/index.js";
export { type FolderEvent, FolderEvents } from "./activity/index.js";
export { IgnoreRules, DEFAULT_IGNORES } from "./ignore/index.js";
export { scanFolder, hashFile, type LocalFileState, type ScanResult } from "./scan/index.js";
// Types the exports above refer to: exported as types so the API docs (and callers) can name them.
export type { ActivityEvent, ActivityKind, ActivityLog } from "./activity/activity-log.js";
export type { SyncNotice } from "./activity/notices.js";
export type { TimedFolderEvent } from "./activity/events.js";
export type { TransferMeter, TransferView } from "./sync/transfer-meter.js";
export type { KnownFile, OwnWrites } from "./sync/own-writes.js";
export type { FolderSyncOptions, PassCounts } from "./sync/folder-sync.js";
export type { Selection, SelectionSpec } from "./select/selection.js";
export type { ScanError, ScanMove, ScanOptions, ScanProgress } from "./scan/types.js";
export type { AccountRecord, MemberRecord } from "./home/index.js";
export type { Pause } from "./sync/pause.js";
export type { RefusedView } from "./sync/refused.js";
export type { AccountLogin } from "./account/index.js";
