/** state: the agent's local state (index snapshot, acks, bookkeeping) in SQLite. */
export { SqliteStateStore } from "./sqlite-state-store.js";
export { SqliteBlobStore } from "./sqlite-blob-store.js";
