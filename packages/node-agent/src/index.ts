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
