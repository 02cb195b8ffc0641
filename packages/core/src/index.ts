/** @weft/core — Weft's engine: version vectors, the folder index CRDT, chunking, conflict policy. */
export { WeftError, type WeftErrorCode } from "./errors.js";
export { type FileId, ROOT_ID, isFileId, randomFileId } from "./ids.js";
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
export type { FileState, Tree, TreeEntry } from "./folder/materialize.js";
export type { RejectedSlot } from "./folder/slot-store.js";
export type { ContentVersion, FileKind, Placement, VersionSnapshot } from "./folder/records.js";
export { versionId } from "./folder/records.js";
export { DEFAULT_RETENTION, type RetentionPolicy, conflictCopyName } from "./folder/registers.js";
export * from "./protocol/index.js";
export * from "./storage/index.js";
