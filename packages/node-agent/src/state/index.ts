/** state: the agent's local state in SQLite: the replica's store and chunks (@weft/sqlite-store), and the disk state (what this device last saw on disk). */
export { SqliteBlobStore, SqliteStateStore } from "@weft/sqlite-store";
export { DiskState } from "./disk-state.js";
export { FolderChunks } from "./folder-chunks.js";
