/** @weft/core — Weft's engine: the Replica (files and documents, sealed and synced), the folder index CRDT, chunking, the wire protocol. */
export { WeftError, type WeftErrorCode } from "./errors.js";
export { type FormatBytesOptions, formatBytes } from "./format-bytes.js";
export { type LimitedOptions, forEachLimited, mapLimited } from "./pool.js";
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
export * from "./folder/index.js";
export * from "./protocol/index.js";
export * from "./storage/index.js";
export * from "./replica/index.js";
export * from "./docs/index.js";
export * from "./client/index.js";
