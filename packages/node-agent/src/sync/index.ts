/** sync: one folder kept in step with its replica (FolderSync: scan, record, exchange, write back), the daemon that runs folders, and what `weft status` reports of them. */
export {
  FolderSync,
  type ConnectionOptions,
  type FolderStatus,
  type FolderSyncOptions,
  type PassCounts,
  RECONNECT_MAX_MS,
} from "./folder-sync.js";
export { type Clock, systemClock } from "./clock.js";
export { type RefusedView, refusalMessage, refusedView } from "./refused.js";
export { type AgentFolderStatus, folderStatus, stoppedStatus } from "./status.js";
export {
  type DaemonOptions,
  openFolders,
  runDaemon,
  runningSync,
  syncLockHolder,
  withSyncLock,
} from "./run.js";
