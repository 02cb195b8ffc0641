/**
 * @weft/sqlite-store: persistent storage for a Node `Replica` without the agent: its
 * `StateStore` and `BlobStore` each in one SQLite file (WAL mode, better-sqlite3, mode 0600).
 */
export { SqliteStateStore } from "./sqlite-state-store.js";
export { SqliteBlobStore } from "./sqlite-blob-store.js";
