/** Scanning: walks a folder on disk and reports what changed since the last scan (adds, edits, removes, moves), hashing only what looks changed. */
export { scanFolder, DEFAULT_STABLE_MS } from "./scan-folder.js";
export { hashFile, FileChangedError } from "./hash.js";
export { walkFolder } from "./walk.js";
export type {
  LocalFileState,
  ScanOptions,
  ScanResult,
  ScanMove,
  ScanError,
  ScanProgress,
} from "./types.js";
