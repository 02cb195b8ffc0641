/** @weft/core — Weft's engine: the Replica (files and documents, sealed and synced), the folder index CRDT, chunking, the wire protocol. */
export { WeftError, type WeftErrorCode } from "./errors.js";
export { type FileId, ROOT_ID, isFileId, randomFileId } from "./ids.js";
export {
  type Clock,
  type ClockTimer,
  type TimerOptions,
  ManualClock,
  sleep,
  systemClock,
} from "./clock.js";
export { VersionVector, type Ordering, type VersionVectorJson } from "./model/version-vector.js";
export {
  HybridClock,
  type HybridClockOptions,
  type Hlc,
  compareHlc,
  parseHlc,
} from "./model/hlc.js";
export {
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  checkName,
  nameProblem,
  normalizePath,
  splitPath,
} from "./model/path.js";
export * from "./chunking/index.js";
export {
  FolderIndex,
  type ApplyResult,
  type ConflictInfo,
  type FileContentInput,
  type FolderIndexOptions,
  type Resolution,
} from "./folder/folder-index.js";
export type { FileState, Tree, TreeEntry } from "./folder/tree.js";
export type { RejectedSlot } from "./folder/slot-store.js";
export type { ContentVersion, FileKind, Placement, VersionSnapshot } from "./folder/records.js";
export { versionId } from "./folder/records.js";
export { DEFAULT_RETENTION, type RetentionPolicy, conflictCopyName } from "./folder/registers.js";
export * from "./protocol/index.js";
export * from "./storage/index.js";
export {
  Replica,
  type ReplicaOptions,
  type FileData,
  type WriteOptions,
  type ListEntry,
  type RawDeflate,
  type RawInflate,
  type ReplicaResolution,
  type ReplicaStats,
} from "./replica/replica.js";
export type {
  PeerInfo,
  ReplicaEventMap,
  ReplicaStatus,
  TransferProgress,
} from "./replica/events.js";
export type { ConnectionState } from "./replica/engine.js";
export { MAX_DOC_NAME_BYTES } from "./replica/payload.js";
export type { CollectableBlobStore, GarbageReport } from "./replica/garbage.js";
export type { DeletedFile } from "./folder/deleted.js";
export * from "./docs/index.js";
export * from "./client/index.js";
