/** Storage: the StateStore and BlobStore interfaces every adapter implements, their key and id rules, and in-memory implementations. */
export {
  type StorageKey,
  MAX_KEY_PARTS,
  MAX_KEY_PART_BYTES,
  checkStorageData,
  checkStorageKey,
  checkStoragePrefix,
  compareStorageKeys,
  keyHasPrefix,
  storageKeyProblem,
} from "./keys.js";
export {
  type StateEntry,
  type StateOp,
  type StateStore,
  checkStateOp,
  checkStateOps,
} from "./state-store.js";
export {
  type BlobStore,
  type BlobStoreSize,
  type ByteRange,
  checkChunkId,
  checkChunkIds,
  resolveByteRange,
} from "./blob-store.js";
export { MemoryStateStore } from "./memory-state-store.js";
export { MemoryBlobStore } from "./memory-blob-store.js";
export { type StorageErrorOptions, storageError } from "./storage-error.js";
