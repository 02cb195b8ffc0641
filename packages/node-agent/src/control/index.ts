/** control/: the running daemon's local control socket, and the actions it shares with the CLI and the dashboard. */
export { NO_DAEMON, askDaemon } from "./client.js";
export {
  type ConflictItem,
  type FileHistory,
  type RestoreResult,
  type SelectAnswer,
  type SyncReport,
  historyOf,
  listConflicts,
  restoreNth,
  syncUntilDone,
  takeSelection,
} from "./actions.js";
export { type ControlRequest } from "./protocol.js";
export { ControlServer, type StatusAnswer, controlSocketPath } from "./server.js";
