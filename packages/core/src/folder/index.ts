/** The folder index: a CRDT of a folder's files, their places and versions, and the tree, conflicts and history derived from it. */
export {
  FolderIndex,
  type ApplyResult,
  type FileContentInput,
  type FolderIndexOptions,
} from "./folder-index.js";
export type { ConflictInfo, Resolution } from "./resolve-conflict.js";
export type { FileState, Tree, TreeEntry } from "./tree.js";
export type { RejectedSlot } from "./slot-store.js";
export type { ContentVersion, FileKind, Placement, VersionSnapshot } from "./records.js";
export { versionId } from "./records.js";
export { DEFAULT_RETENTION, type RetentionPolicy, conflictCopyName } from "./registers.js";
export type { DeletedFile } from "./deleted.js";
