/** state: the agent's local state in SQLite: the replica's store and chunks, and the disk state (what this device last saw on disk). */
export { SqliteStateStore } from "./sqlite-state-store.js";
export { SqliteBlobStore } from "./sqlite-blob-store.js";
export { DiskState } from "./disk-state.js";
