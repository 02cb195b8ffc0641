/** @weft/browser — Weft in a web page: a StateStore and a BlobStore in IndexedDB, so a browser Replica keeps its state across reloads. */
export { type IndexedDbOptions } from "./idb.js";
export { IndexedDbStateStore } from "./indexeddb-state-store.js";
export { IndexedDbBlobStore } from "./indexeddb-blob-store.js";
