/**
 * FolderIndex: the state-based CRDT of a folder (DESIGN.md §3), carried in a Yjs document
 * with one writer per key. Local operations write this device's slots; remote deltas merge in;
 * the tree, conflicts and history are derived views, the same on every replica.
 */
import type { DeviceId } from "@weft/crypto";
import * as Y from "yjs";
import { WeftError } from "../errors.js";
import { type FileId, ROOT_ID, randomFileId } from "../ids.js";
import { HybridClock } from "../model/hlc.js";
import { checkName, splitPath } from "../model/path.js";
import type { FileState, Tree, TreeEntry } from "./tree.js";
import { type FileContentInput, checkContentInput, randomSession } from "./inputs.js";

export type { FileContentInput } from "./inputs.js";
export type { ConflictInfo, Resolution } from "./resolve-conflict.js";
import { type RejectedSlot, SlotStore } from "./slot-store.js";
import { SlotWriter } from "./writer.js";
import { IndexEditor } from "./index-edit.js";
import {
  type ConflictInfo,
  type Resolution,
  conflictsIn,
  resolveConflict,
} from "./resolve-conflict.js";
import { type VersionSnapshot, versionId } from "./records.js";
import {
  DEFAULT_RETENTION,
  type RetentionPolicy,
  mergeHistory,
  openConflicts,
} from "./registers.js";

/** Options for a {@link FolderIndex}. */
export interface FolderIndexOptions {
  /** This device; every local write goes to its slots. */
  device: DeviceId;
  /** The clock for local writes; tests inject one with a controlled time source. */
  clock?: HybridClock;
  /** How much history to keep per file. */
  retention?: RetentionPolicy;
  /** Source of new file ids (injected by deterministic tests). */
  newFileId?: () => FileId;
  /**
   * This run's session id (1–13 characters `0-9a-z`), part of every key it writes; random by
   * default. Only deterministic tests set it, and must give each run of a device a new one.
   */
  session?: string;
}

/** What applying a remote delta did. */
export interface ApplyResult {
  /** Slots added, changed or removed by the delta. */
  changed: number;
  /** Slots of the delta that were refused (and are ignored). */
  rejected: RejectedSlot[];
}

const REMOTE = Symbol("weft-remote");

/**
 * One device's copy of a folder's index: the files, their places and versions as a CRDT that
 * every device merges the same way. Local operations (write, move, remove, restore, resolve)
 * write this device's slots; remote deltas merge in; the tree, conflicts and history are views
 * derived from the merged state.
 */
export class FolderIndex {
  /** The Yjs document carrying the records; exposed for transports that speak Yjs sync. */
  readonly doc: Y.Doc;
  readonly device: DeviceId;
  private readonly map: Y.Map<unknown>;
  private readonly clock: HybridClock;
  private readonly retention: RetentionPolicy;
  private readonly newFileId: () => FileId;
  private readonly store: SlotStore;
  private readonly writer: SlotWriter;
  private readonly listeners = new Set<(update: Uint8Array) => void>();
  /** Editing steps shared by the local writes and conflict resolution. */
  private readonly edit: IndexEditor;
  constructor(options: FolderIndexOptions, snapshot?: Uint8Array) {
    this.device = options.device;
    this.clock = options.clock ?? new HybridClock();
    this.retention = options.retention ?? DEFAULT_RETENTION;
    this.newFileId = options.newFileId ?? randomFileId;
    this.doc = new Y.Doc();
    this.map = this.doc.getMap("records");
    this.store = new SlotStore(this.map, this.clock);
    this.writer = new SlotWriter(
      this.device,
      this.doc,
      this.map,
      this.store,
      this.clock,
      this.retention,
      this,
      options.session ?? randomSession(),
    );
    this.edit = new IndexEditor(
      this.writer,
      {
        file: (id) => this.file(id),
        tree: () => this.tree(),
        mkdir: (path) => this.mkdir(path),
        mutate: (run) => this.mutate(run),
      },
      this.newFileId,
    );
    this.map.observe((event) => {
      if (event.transaction.origin === this) return; // local writes are loaded eagerly
      for (const key of event.keysChanged as Set<string>) this.store.loadKey(key);
    });
    // A snapshot goes into a fresh document: if it is malformed the constructor throws and no
    // half-loaded index is ever returned, so the validation pass of applyDelta (which builds
    // every struct once more, a third of the garbage of a large load) is not needed here.
    if (snapshot) this.apply(snapshot); // learns this device's earlier slots (adopt)
  }

  /** Loads an index from a snapshot made by {@link FolderIndex.snapshot}. */
  static load(snapshot: Uint8Array, options: FolderIndexOptions): FolderIndex {
    return new FolderIndex(options, snapshot);
  }

  // ---------------------------------------------------------------- reading

  /** The merged state of one file, or undefined if no replica wrote it. */
  file(fileId: FileId): FileState | undefined {
    return this.store.file(fileId);
  }

  /**
   * The derived tree. It is the index's own view, kept up to date in place for speed: read
   * it, do not modify it, and call `tree()` again after a change rather than keeping it.
   */
  tree(): Tree {
    return this.store.tree();
  }

  /** The entry at a path, or undefined. */
  stat(path: string): TreeEntry | undefined {
    return this.tree().entries.get(splitPath(path).join("/"));
  }

  /** The entries directly inside a directory (the root by default), sorted by name. */
  list(dir = ""): TreeEntry[] {
    const prefix = splitPath(dir).join("/");
    if (prefix !== "") {
      const d = this.stat(prefix);
      if (!d) throw new WeftError("NOT_FOUND", `no such directory: ${prefix}`);
      if (d.kind !== "dir") throw new WeftError("NOT_A_DIRECTORY", `not a directory: ${prefix}`);
    }
    const out: TreeEntry[] = [];
    for (const e of this.tree().entries.values()) {
      const slash = e.path.lastIndexOf("/");
      if ((slash < 0 ? "" : e.path.slice(0, slash)) === prefix) out.push(e);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Earlier versions of a file, newest first (conflict copies are listed by `conflicts()`). */
  history(path: string): VersionSnapshot[] {
    return this.historyOf(this.edit.requireMain(path).fileId);
  }

  /** Earlier versions of a file by id: also for a deleted file, which has no path. */
  historyOf(fileId: FileId): VersionSnapshot[] {
    const f = this.file(fileId);
    if (!f) return [];
    return mergeHistory(
      [],
      f.contents.map((c) => c.history),
      Number.MAX_SAFE_INTEGER,
      { maxVersions: Infinity, maxAgeMs: Infinity },
    );
  }

  /**
   * Every path with unresolved concurrent versions: those of one file, and those of other files
   * created apart under the same name (its rivals, see {@link TreeEntry.rivals}).
   */
  conflicts(): ConflictInfo[] {
    return conflictsIn(this.tree());
  }

  /** Slots refused by validation (ignored on every replica). */
  rejectedSlots(): RejectedSlot[] {
    return this.store.rejectedSlots();
  }

  /** Ids of every file known, live or deleted. */
  fileIds(): FileId[] {
    return [...this.store.fileIds()];
  }

  /** Number of files known (live or deleted). */
  get fileCount(): number {
    return this.store.fileCount;
  }

  // ---------------------------------------------------------------- local writes

  /** Writes a file's content, creating the file and any missing parent directories. */
  writeFile(path: string, input: FileContentInput): FileId {
    // Checked before anything is written: a bad argument must not leave parent directories.
    const content = checkContentInput(input);
    return this.mutate(() => {
      const parts = splitPath(path);
      if (parts.length === 0)
        throw new WeftError("INVALID_PATH", "cannot write to the folder root");
      const existing = this.tree().entries.get(parts.join("/"));
      if (existing && existing.conflictVersion === undefined) {
        if (existing.kind === "dir")
          throw new WeftError("IS_A_DIRECTORY", `is a directory: ${existing.path}`);
        if (existing.kind !== "file")
          throw new WeftError(
            "ALREADY_EXISTS",
            `${existing.path} is a ${existing.kind}; remove it first`,
          );
        this.writer.writeContent(existing.fileId, {
          kind: existing.kind,
          deleted: false,
          manifest: content.manifest,
          target: null,
          mode: content.mode ?? 0o644,
          mtime: content.mtime,
          ...(content.basedOn ? { basedOn: content.basedOn } : {}),
        });
        this.edit.absorbTwins(existing);
        return existing.fileId;
      }
      if (existing)
        throw new WeftError(
          "ALREADY_EXISTS",
          `${existing.path} is a conflict copy; resolve the conflict first`,
        );
      return this.edit.createAt(parts, "file", {
        manifest: content.manifest,
        mode: content.mode ?? 0o644,
        mtime: content.mtime,
      });
    });
  }

  /** Creates a directory and any missing parents; returns its id (an existing one is fine). */
  mkdir(path: string): FileId {
    return this.mutate(() => {
      const parts = splitPath(path);
      if (parts.length === 0) return ROOT_ID;
      const existing = this.tree().entries.get(parts.join("/"));
      if (existing) {
        if (existing.kind !== "dir")
          throw new WeftError("NOT_A_DIRECTORY", `not a directory: ${existing.path}`);
        if (existing.resurrected)
          this.writer.writeContent(existing.fileId, {
            kind: "dir",
            deleted: false,
            manifest: null,
            target: null,
            mode: existing.version.mode,
          });
        return existing.fileId;
      }
      return this.edit.createAt(parts, "dir", { manifest: null, mode: 0o755 });
    });
  }

  /**
   * Brings a removed directory back where it was (not its children), as `mkdir` does a
   * directory shown only for a live child. A strong folder makes a directory again this way
   * (`reviveDirs` in strong-claims.ts).
   * @throws WeftError NOT_FOUND when it is not a removed directory
   */
  reviveDir(fileId: FileId): void {
    const w = this.file(fileId)?.winner;
    if (!w?.deleted || w.kind !== "dir")
      throw new WeftError("NOT_FOUND", "that directory is not removed");
    this.mutate(() =>
      this.writer.writeContent(fileId, {
        kind: "dir",
        deleted: false,
        manifest: null,
        target: null,
        mode: w.mode,
      }),
    );
  }

  /** Creates a symbolic link (stored, never followed). */
  symlink(path: string, target: string): FileId {
    if (
      typeof target !== "string" ||
      target.length === 0 ||
      target.length > 4096 ||
      target.includes("\0")
    ) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        "a link target is a non-empty string without NUL, at most 4096 characters",
      );
    }
    return this.mutate(() => {
      const parts = splitPath(path);
      if (this.tree().entries.has(parts.join("/")))
        throw new WeftError("ALREADY_EXISTS", `already exists: ${parts.join("/")}`);
      return this.edit.createAt(parts, "symlink", { manifest: null, target, mode: 0o777 });
    });
  }

  /** Moves or renames a file or directory (same file id: history follows it). */
  move(from: string, to: string): void {
    const entry = this.edit.requireMain(from);
    const parts = splitPath(to);
    if (parts.length === 0) throw new WeftError("INVALID_PATH", "cannot move onto the folder root");
    const name = checkName(parts[parts.length - 1]!);
    const dest = parts.join("/");
    if (dest === entry.path) return;
    if (dest.startsWith(`${entry.path}/`))
      throw new WeftError("MOVE_INTO_SELF", `cannot move ${entry.path} into itself`);
    const target = this.tree().entries.get(dest);
    if (target) throw new WeftError("ALREADY_EXISTS", `already exists: ${target.path}`);
    this.mutate(() => {
      const parent = this.mkdir(parts.slice(0, -1).join("/"));
      // Every id shown at the path goes: they meet again at the destination as one entry.
      for (const id of idsAt(entry)) this.writer.writePlace(id, parent, name);
    });
  }

  /** Removes a file, or a directory with everything in it. Removed content stays in history. */
  remove(path: string): void {
    const entry = this.edit.requireMain(path);
    this.mutate(() => {
      const prefix = `${entry.path}/`;
      // Every id shown at a path is removed, so none of them comes back on its own.
      const gone: FileId[] = [];
      for (const e of this.tree().entries.values()) {
        if (e.conflictVersion === undefined && e.path.startsWith(prefix)) gone.push(...idsAt(e));
      }
      gone.push(...idsAt(entry));
      for (const id of gone) this.writer.deleteFile(id);
    });
  }

  /** Restores an earlier version (from history or a conflict copy) as the current content. */
  restore(path: string, version: string): void {
    this.mutate(() => {
      const entry = this.edit.requireMain(path);
      const f = this.file(entry.fileId)!;
      const open = f.winner ? openConflicts(f.contents, f.winner) : [];
      const all = [...this.history(path), ...open];
      const v = all.find((h) => versionId(h) === version);
      if (!v) throw new WeftError("NO_SUCH_VERSION", `${entry.path} has no version ${version}`);
      this.writer.writeContent(entry.fileId, {
        kind: v.kind,
        deleted: false,
        manifest: v.manifest,
        target: v.target,
        mode: v.mode,
        mtime: v.mtime,
      });
      this.edit.absorbTwins(entry);
    });
  }

  /**
   * Brings a deleted file back at the path it had, with one of its earlier versions (see
   * `deletedAt` in deleted.ts to find them).
   * @throws WeftError NOT_FOUND when the file is not deleted; NO_SUCH_VERSION
   */
  undelete(fileId: FileId, version: string): void {
    this.mutate(() => {
      const f = this.file(fileId);
      if (!f?.winner?.deleted) throw new WeftError("NOT_FOUND", "that file is not deleted");
      const v = this.historyOf(fileId).find((h) => versionId(h) === version);
      if (!v) throw new WeftError("NO_SUCH_VERSION", `the deleted file has no version ${version}`);
      const { kind, manifest, target, mode, mtime } = v;
      this.writer.writeContent(fileId, { kind, deleted: false, manifest, target, mode, mtime });
    });
  }

  /**
   * Settles a conflict at `path` (the file's own path, not a copy's): keep one version (the
   * others go to history), keep both (each conflict copy becomes a file of its own under the name
   * it is shown with), write a merged result, or settle a single copy (see {@link Resolution}).
   * The copies are the file's own concurrent versions and the files created apart under the same
   * name (rivals); both settle the same way, so a person never needs to know which is which.
   * @throws WeftError NOT_FOUND when the path has no conflict; NO_SUCH_VERSION; ALREADY_EXISTS
   *   when `keepCopy` names a path that is taken; IS_A_DIRECTORY for `merged`, or `keep` of a
   *   file's version, when a directory holds the name
   */
  resolveConflict(path: string, resolution: Resolution): void {
    resolveConflict(this.edit, path, resolution);
  }

  // ---------------------------------------------------------------- sync

  /** This replica's Yjs state vector: what it has seen. */
  stateVector(): Uint8Array {
    return Y.encodeStateVector(this.doc);
  }

  /** Everything this replica has that a peer with `stateVector` lacks (all of it by default). */
  encodeDelta(stateVector?: Uint8Array): Uint8Array {
    try {
      return Y.encodeStateAsUpdate(this.doc, stateVector);
    } catch (cause) {
      throw new WeftError("INVALID_UPDATE", "malformed state vector", { cause });
    }
  }

  /** A full snapshot of the index: load it with {@link FolderIndex.load}. */
  snapshot(): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc);
  }

  /**
   * Merges a delta or snapshot from another replica. Deltas may arrive in any order, twice, or
   * late; slots that fail validation are reported and ignored, never half-applied.
   */
  applyDelta(update: Uint8Array): ApplyResult {
    try {
      Y.decodeUpdate(update); // validates the whole structure before anything is applied
    } catch (cause) {
      throw new WeftError("INVALID_UPDATE", "malformed index update", { cause });
    }
    return this.apply(update);
  }

  private apply(update: Uint8Array): ApplyResult {
    try {
      const result = this.store.collect(() => Y.applyUpdate(this.doc, update, REMOTE));
      // Slots this device wrote in another run (a backup restored elsewhere) are learnt, never
      // rewritten; a pending batch of this run is untouched.
      // Only the buckets this update touched: scanning all of this device's slots per update
      // made loading a 100,000-file folder's log quadratic (32 s).
      if (result.devices.has(this.device)) this.writer.adopt(result.keys);
      return { changed: result.changed, rejected: result.rejected };
    } catch (cause) {
      throw new WeftError("INVALID_UPDATE", "index update could not be applied", { cause });
    }
  }

  /** Subscribes to local changes: each call gets a Yjs update to seal and send. */
  onLocalUpdate(listener: (update: Uint8Array) => void): () => void {
    // Subscribed on first use: with a listener, Yjs encodes an update after every transaction.
    if (this.listeners.size === 0) this.doc.on("update", this.emitUpdate);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.doc.off("update", this.emitUpdate);
    };
  }

  /**
   * Drops this device's slots whose versions other devices have all superseded (and carry in
   * their history). Every device compacts its own slots, so the one-writer-per-key rule holds.
   * Returns the number of slots dropped; the next snapshot is smaller by that much.
   */
  compact(): number {
    return this.mutate(() => this.writer.compact());
  }

  /**
   * Runs several local operations as one: they reach the Yjs document, and the update
   * listeners, as a single update when the outermost call returns (e.g. a scan of many files).
   */
  batch<T>(run: () => T): T {
    return this.mutate(run);
  }

  // ---------------------------------------------------------------- internals

  private depth = 0;

  /** Every local write runs inside this: changed buckets are stored once, at the end. */
  private mutate<T>(run: () => T): T {
    this.depth++;
    try {
      return run();
    } finally {
      if (--this.depth === 0) this.writer.flush();
    }
  }

  private readonly emitUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === REMOTE) return;
    for (const listener of this.listeners) listener(update);
  };
}

/** Every file id shown at a path as one entry to the user: the entry, merged ids, rivals. */
function idsAt(e: TreeEntry): FileId[] {
  return [e.fileId, ...(e.merged ?? []), ...(e.rivals ?? [])];
}
