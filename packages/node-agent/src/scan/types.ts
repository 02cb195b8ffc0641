/** What a scan takes and returns. */
import type { ChunkDigest, ChunkerOptions } from "@weft/core";
import type { IgnoreRules } from "../ignore/index.js";

/** One file or directory of a folder as the agent last saw it on disk. */
export interface LocalFileState {
  /** Folder-relative, `/`-separated, NFC-normalised. */
  path: string;
  kind: "file" | "dir";
  /** Bytes; 0 for directories. */
  size: number;
  /** Modification time, whole milliseconds (`Math.floor(stat.mtimeMs)`). */
  mtimeMs: number;
  /** Inode number (used to recognise renames without hashing). */
  ino: number;
  /** Permission bits only (`stat.mode & 0o777`). */
  mode: number;
  /**
   * Content hash of a file, equal to the Replica's `contentHash` for the same bytes and
   * chunking options (see `contentHashOf` in @weft/core); null for directories.
   */
  hash: string | null;
}

/** Progress of a scan's hashing, for a progress bar. */
export interface ScanProgress {
  /** Files whose hashing finished so far (unchanged files are not hashed and not counted). */
  files: number;
  /** Bytes read for hashing so far, counted block by block as they are read. */
  bytesHashed: number;
}

/** How to scan a folder. */
export interface ScanOptions {
  /** The folder on disk. */
  root: string;
  /** The folder's ignore rules; ignored paths are neither descended into nor reported. */
  ignore: IgnoreRules;
  /** What the last scan (or a sync) recorded, keyed by path. Not modified. */
  previous: ReadonlyMap<string, LocalFileState>;
  /**
   * Which paths this device syncs (selective sync; default all): others are neither descended
   * into nor reported, and their records in `previous` are kept in `current` as they were
   * (left alone, not gone: they sync again as recorded once selected again).
   */
  selected?: (path: string, isDir: boolean) => boolean;
  /**
   * Where a file moved out of the selection may be: whether a path is outside `selected` (a
   * directory: holds something outside it). When selected files are gone and no rename inside
   * the selection explains them, the scan lists these paths (no file is read) and pairs the gone
   * files by inode with files found there: moved out of the selection (`ScanMove.leftSelection`),
   * not deleted. Default: not looked for.
   */
  unselected?: (path: string, isDir: boolean) => boolean;
  /**
   * Scan only these folder-relative paths and everything under them (default: the whole
   * folder). The directories above them are listed, and their other entries keep their previous
   * records, as unselected ones do. What the watcher reported is scanned this way, so an edit
   * costs the same in a folder of 10 files or of 100,000. A rename is found when both its paths
   * are given (the watcher reports both).
   */
  paths?: ReadonlySet<string>;
  /** A file modified less than this many ms before `now()` is left for later (default 1000). */
  stableMs?: number;
  /**
   * Files of at most this many bytes are read even when modified within `stableMs` (default 0:
   * none). Small files are written in one go, and a watcher-driven sync should send them at
   * once; a large file just modified is likely still being written. The hash is still checked
   * against a second look at the file, so one that changed while read stays `unstable`.
   */
  readFreshUpTo?: number;
  /** The clock (default `Date.now`); tests inject one. */
  now?: () => number;
  /** The chunker sizes of the folder's Replica, so hashes match the index's content hashes. */
  chunking?: ChunkerOptions;
  /** Called as hashing makes progress (after each block read, and as each file finishes). */
  onProgress?: (p: ScanProgress) => void;
  /** Aborts the scan; it then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** A rename: the same file or directory, found at a new path. */
export interface ScanMove {
  /** The record at the old path, as it was in `previous`. */
  from: LocalFileState;
  /** The record at the new path. */
  to: LocalFileState;
  /** `to` is outside the selection (see {@link ScanOptions.unselected}): never read or sent. */
  leftSelection?: true;
}

/** An entry the scan could not take, and why (never fatal to the scan). */
export interface ScanError {
  path: string;
  message: string;
}

/** What changed in a folder since the previous scan. Every list is sorted by path. */
export interface ScanResult {
  /** Paths not in `previous` (directories too), not explained by a move. */
  added: LocalFileState[];
  /** Paths in `previous` whose content hash or mode changed. */
  modified: LocalFileState[];
  /**
   * Records of `previous` whose path is gone (or holds the other kind now: a file replaced by a
   * directory is a removed file and an added directory). Not listed here, and kept in
   * `current`: a path in `errors` and every path under it, since what cannot be read is not
   * known to be gone, and a path outside `selected`. Not listed either, but dropped from `current`: paths that are now
   * ignored; the agent stops tracking them without deleting them anywhere, and they come back
   * as `added` if un-ignored.
   */
  removed: LocalFileState[];
  /** Renames and moves, sorted by `to.path`. A moved directory's files are listed too. */
  moved: ScanMove[];
  /** Files skipped this time: modified too recently, or changed while being hashed. */
  unstable: string[];
  /** Symbolic links found: never followed and never synced, reported so the caller can warn. */
  symlinks: string[];
  /** Entries that could not be scanned (permissions, special files, bad names, vanished). */
  errors: ScanError[];
  /** Number of entries found as they were. */
  unchanged: number;
  /**
   * The chunk digests of each file this scan hashed (`contentHashOf`'s `chunks`), by path: the
   * recording of an added or modified file names its chunks from these instead of reading it
   * again (`WriteOptions.chunks` in @weft/core).
   */
  chunks?: Map<string, ChunkDigest[]>;
  /**
   * The folder as it now is: `previous` updated with everything above. Paths in `unstable`
   * and `errors` keep their previous record if they had one (and are absent if not), and so
   * does everything under a directory that could not be listed (the directory's own record
   * is still updated from its lstat, so a `chmod 000` on it shows as a mode change).
   */
  current: Map<string, LocalFileState>;
}
