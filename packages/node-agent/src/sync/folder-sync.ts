/**
 * One synced folder: a Replica kept in step with a directory. FolderSync orchestrates: it opens
 * the stores, runs scans (recorded by record-scan.ts) and applies (planned and carried out by
 * materialize/, which never replaces a file that changed since this device last saw it) one at
 * a time, and emits what happens as events (activity/) for whoever shows it.
 */
import type { Replica } from "@weft/core";
import type { DeviceIdentity } from "@weft/crypto";
import type { AccountLogin } from "../account/index.js";
import type { FolderRecord, Home } from "../home/index.js";
import {
  ActivityLog,
  FolderEvents,
  type SyncNotice,
  emitConflicts,
  followNotices,
} from "../activity/index.js";
import { dirname, join } from "node:path";
import { IgnoreRules, WEFTIGNORE } from "../ignore/index.js";
import {
  RESUMABLE_BYTES,
  applyPlan,
  cleanTempFiles,
  holdPaths,
  partName,
  planMaterialize,
} from "../materialize/index.js";
import { type LocalFileState, type ScanOptions, scanFolder } from "../scan/index.js";
import { Selection, type SelectionSpec } from "../select/index.js";
import { type Removal, confirmRemoved, isForbidden } from "./removal.js";
import type { DiskState, FolderChunks } from "../state/index.js";
import { type Clock, sleep, systemClock } from "./clock.js";
import { type ConnectionOptions, openStores } from "./open-stores.js";
import { OwnWrites } from "./own-writes.js";
import { type Pause, loadPause } from "./pause.js";
import { recordScan } from "./record-scan.js";
import { type RefusedView, refusalDetail, refusedView } from "./refused.js";
import { TransferMeter, type TransferView, downloadRun } from "./transfer-meter.js";
import { countFiles, treeItems } from "./tree-items.js";

export type { SyncNotice } from "../activity/index.js";
export { type ConnectionOptions, RECONNECT_MAX_MS } from "./open-stores.js";

/** Counts of one pass, so callers know whether anything happened. */
export interface PassCounts {
  changes: number;
  unstable: number;
}

/** How a folder is opened: its connection, and the clock its timestamps and waits use. */
export interface FolderSyncOptions extends ConnectionOptions {
  /** Default: the system clock. */
  clock?: Clock;
}

/** A folder's state as `weft status` shows it. */
export interface FolderStatus {
  folderId: string;
  path: string;
  state: "idle" | "scanning" | "syncing" | "offline" | "error" | "stopped" | "removed" | "paused";
  connection: string;
  pendingOut: number;
  pendingChunks: number;
  bytesUploaded: number;
  bytesDownloaded: number;
  files: number;
  conflicts: number;
  peers: { deviceId: string; online: boolean; lastSeen: number; behind: number }[];
  /** The most recent problems, newest last (at most 20). */
  errors: SyncNotice[];
  /** Names that would clash on a case-insensitive file system: not written, reported here. */
  clashes: string[][];
  /** Names a Windows device could not hold (reserved names, `<>:"|?*`, a trailing dot). */
  unportable: { path: string; problem: string }[];
  /** Transfers in progress: chunks done of queued, bytes, rate (B/s), seconds left. */
  upload: TransferView;
  download: TransferView;
  lastSync: number | null;
  /** When and why the relay refused this device the folder for good; null while it has it. */
  removed: Removal | null;
  /** Since when the folder is paused on this device (`weft folder pause`); null while it syncs. */
  paused: number | null;
  /**
   * A strong folder's changes made here and refused (the file changed elsewhere first), oldest
   * first: each kept until `weft reapply` writes it on top or `--discard` drops it.
   */
  refused: RefusedView[];
  /** A strong folder's changes made here and not yet accepted or refused (offline, say). */
  queued: number;
  /**
   * This device's selection (selective sync): `{}` for the whole folder. Absent when no
   * process has the folder open (`weft folder select PATH` reads it then).
   */
  selection?: SelectionSpec;
}

/** A pass writing or removing at least this many files is a bulk write (see `onBulkWrite`). */
export const BULK_WRITE_FILES = 64;

/** The disk state's name for the selection the disk was last brought to. */
const APPLIED_SELECTION = "selection";

/** Eager downloads for a selection: undefined (every file) for the whole folder. */
function downloadsOf(selection: Selection): ((path: string) => boolean) | undefined {
  return selection.all ? undefined : (path) => selection.includes(path, false);
}

/** One synced folder: a Replica kept in step with a directory, local changes in, the tree written back without replacing a file changed since this device last saw it. */
export class FolderSync {
  /**
   * What happens in the folder (sent, received, deleted, conflicts, problems): the dashboard,
   * the log and the lists below subscribe.
   */
  readonly events: FolderEvents;
  /** The recent problems, oldest first (at most 20): what `weft status` shows. */
  readonly errors: SyncNotice[];
  /** Recent events, for the dashboard and the log (repeats counted). */
  readonly activity: ActivityLog;
  private clashes: string[][] = [];
  private unportable: { path: string; problem: string }[] = [];
  private lastSync: number | null = null;
  private state: FolderStatus["state"] = "idle";
  private lane: Promise<unknown> = Promise.resolve();
  private warnedSymlinks = new Set<string>();
  readonly meter = new TransferMeter();
  private counts: { files: number; conflicts: number } | undefined;
  /** Set once the relay refused this device the folder for good: nothing syncs any more. */
  removed: Removal | undefined;
  private checkingRemoval: Promise<boolean> | undefined;
  private removalCheck: (() => Promise<Removal | undefined>) | undefined;
  /** The relay address in use (one of the account's), for the log; undefined when offline-only. */
  relayAddress: (() => string) | undefined;
  /** Whether a daemon runs the replica (see {@link startSyncing}): a resume starts it again. */
  private live = false;

  private constructor(
    readonly folder: FolderRecord,
    readonly replica: Replica,
    private readonly disk: DiskState,
    /** The folder's files as the replica's source of chunks: told what scans and applies change. */
    private readonly chunks: FolderChunks,
    private ignore: IgnoreRules,
    /** The selection chosen on this device (`weft folder select`): what downloads and applies take. */
    private chosen: Selection,
    /**
     * The selection the disk was last brought to: what scans take. It follows the chosen one
     * only after an apply, so a path just selected is written (or its local change kept beside
     * the tree's version) before a scan reads it: a file left here while it was unselected
     * never silently replaces a newer version from elsewhere.
     */
    private applied: Selection,
    private readonly loadSelection: () => Promise<Selection>,
    /** Set while the folder is paused on this device: nothing is sent, fetched, scanned or written. */
    private pause: Pause | undefined,
    private readonly loadPaused: () => Promise<Pause | undefined>,
    private readonly identity: DeviceIdentity,
    private readonly closeStores: () => Promise<void>,
    /** Where the folder's timestamps and waits come from. */
    readonly clock: Clock,
  ) {
    const now = () => clock.now();
    this.events = new FolderEvents(now);
    this.errors = followNotices(this.events);
    this.activity = new ActivityLog(100, now);
    this.activity.follow(this.events);
    this.ownWrites = new OwnWrites(clock);
  }

  /** Opens the folder's replica and disk state; connects through `session` when given. */
  static async open(
    home: Home,
    folder: FolderRecord,
    identity: DeviceIdentity,
    session?: AccountLogin,
    connection: FolderSyncOptions = {},
  ): Promise<FolderSync> {
    const clock = connection.clock ?? systemClock;
    const loadSelection = () => Selection.load(home, folder.folderId);
    const chosen = await loadSelection();
    const loadPaused = () => loadPause(home, folder.folderId);
    const pause = await loadPaused();
    const stores = await openStores(
      home,
      folder,
      identity,
      session,
      connection,
      clock,
      downloadsOf(chosen),
    );
    const { replica, disk, chunks, removed, refused, live } = stores;
    let applied = Selection.ALL; // before selective sync, the disk was brought to everything
    const stored = disk.getMeta(APPLIED_SELECTION);
    if (stored !== undefined)
      try {
        applied = Selection.parse(stored);
      } catch {
        applied = chosen; // not written by this agent: take the chosen one
      }
    // Temp files left by a process killed mid-download: never placed, so safe to remove; but
    // those of large downloads still to do, which the next apply goes on with.
    const resumable = new Set<string>();
    for (const e of replica.list())
      if (e.kind === "file" && e.contentHash && e.size >= RESUMABLE_BYTES)
        if (disk.get(e.path)?.hash !== e.contentHash)
          resumable.add(join(dirname(join(folder.path, e.path)), partName(e.path, e.contentHash)));
    await cleanTempFiles(folder.path, (path) => resumable.has(path));
    const ignore = await IgnoreRules.load(folder.path);
    const sync = new FolderSync(
      folder,
      replica,
      disk,
      chunks,
      ignore,
      chosen,
      applied,
      loadSelection,
      pause,
      loadPaused,
      identity,
      () => stores.close(),
      clock,
    );
    replica.on("error", ({ error, context }) => {
      sync.notice(`${context}: ${error.message}`);
      // Refused by the relay: perhaps this device lost the folder; then stop asking it.
      if (isForbidden(error)) void sync.checkRemoved();
    });
    for (const message of refused) sync.notice(message, undefined, "warning");
    // A strong folder's change refused: the tree's version is written to disk next (the
    // daemon applies on this event), and the person's version is kept in the refused change.
    replica.on("refused", (r) => sync.notice(refusalDetail(folder.folderId, r), r.path, "warning"));
    if (removed) sync.markRemoved(removed);
    else if (live)
      sync.removalCheck = () =>
        confirmRemoved(home, live, identity, folder.folderId, () => clock.now());
    if (live) sync.relayAddress = () => live.relaySession.endpoints.current;
    replica.on("progress", (p) => sync.meter.record(p));
    emitConflicts(replica, sync.events);
    // The daemon writes its status every second: count the tree again only after it changed.
    replica.on("change", () => (sync.counts = undefined));
    return sync;
  }

  /**
   * Asks the relay whether this device still has the folder (after a `forbidden`); if not, the
   * folder is marked removed and its replica stopped: the local copy stays, and nothing asks
   * the relay for it again. Resolves with whether it was removed.
   */
  checkRemoved(): Promise<boolean> {
    if (this.removed) return Promise.resolve(true);
    const check = this.removalCheck;
    if (!check) return Promise.resolve(false);
    this.checkingRemoval ??= check()
      .then((removed) => {
        if (removed) this.markRemoved(removed);
        return removed !== undefined;
      })
      .catch(() => false)
      .finally(() => {
        this.checkingRemoval = undefined;
      });
    return this.checkingRemoval;
  }

  private markRemoved(removed: Removal): void {
    if (this.removed) return;
    this.removed = removed;
    this.replica.stop();
    this.notice(
      `${removed.reason}; the files here stay as they are, and nothing syncs any more`,
      undefined,
      "warning",
    );
  }

  /** This device's selection of the folder, as chosen (see `weft folder select`). */
  get selection(): Selection {
    return this.chosen;
  }

  /**
   * Takes up the selection chosen since (the file under WEFT_HOME): downloads follow it at
   * once; a bad file is reported and the selection in use kept.
   */
  private async refreshSelection(): Promise<void> {
    let chosen: Selection;
    try {
      chosen = await this.loadSelection();
    } catch (error) {
      this.notice(`${(error as Error).message}; the selection in use is kept`);
      return;
    }
    if (chosen.equals(this.chosen)) return;
    this.chosen = chosen;
    this.replica.setDownloads(downloadsOf(chosen));
    this.onSelectionChange?.();
  }

  /** Since when the folder is paused on this device; undefined while it syncs. */
  get paused(): Pause | undefined {
    return this.pause;
  }

  /**
   * Runs the replica (connects, sends and fetches as changes come) for as long as a daemon
   * syncs this folder; a paused folder waits for {@link refreshPause} to find it resumed.
   */
  startSyncing(): void {
    this.live = true;
    if (!this.pause) this.replica.start();
  }

  /** Stops what {@link startSyncing} started. */
  stopSyncing(): void {
    this.live = false;
    this.replica.stop();
  }

  /**
   * Takes up a pause or resume chosen since (the file under WEFT_HOME): a pause stops the
   * replica at once, a resume starts it again under a daemon. Resolves with the pause in use; a
   * bad file is reported and the state in use kept.
   */
  async refreshPause(): Promise<Pause | undefined> {
    let pause: Pause | undefined;
    try {
      pause = await this.loadPaused();
    } catch (error) {
      this.notice(`${(error as Error).message}; the folder stays as it is`);
      return this.pause;
    }
    const was = this.pause;
    this.pause = pause;
    if (pause && !was) this.replica.stop();
    else if (!pause && was && this.live && !this.removed) this.replica.start();
    return pause;
  }

  /** The folder's ignore rules as of the last scan. */
  get ignoreRules(): IgnoreRules {
    return this.ignore;
  }

  /** Runs `work` after every earlier pass: scans and applies never overlap. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.lane.then(work, work);
    this.lane = next.catch(() => undefined);
    return next;
  }

  /** Tells the person about something that did not sync ("error") or is left alone on purpose ("warning"). */
  notice(message: string, path?: string, level: SyncNotice["level"] = "error"): void {
    this.events.emit({ kind: level, detail: message, ...(path !== undefined ? { path } : {}) });
  }

  /**
   * Finds local changes and records them in the replica: everywhere, or only at `paths` and
   * under them (what the watcher reported; see {@link ScanOptions.paths}). A `.weftignore`
   * among them widens the scan to the whole folder: what its rules match can be anywhere.
   */
  scan(options: { readFreshUpTo?: number; paths?: ReadonlySet<string> } = {}): Promise<PassCounts> {
    return this.serial(async () => {
      if (this.pause) return { changes: 0, unstable: 0 };
      this.state = "scanning";
      try {
        const ignore = await IgnoreRules.load(this.folder.path);
        // The same rules as before keep their object, and with it the answers it has given.
        if (ignore.source !== this.ignore.source) this.ignore = ignore;
        const scannedAt = this.clock.now();
        const paths = options.paths;
        const whole = paths === undefined || paths.has(WEFTIGNORE);
        const result = await scanFolder({
          root: this.folder.path,
          ignore: this.ignore,
          previous: this.disk.map,
          ...(this.applied.all ? {} : this.scanSelection(this.applied)),
          ...(options.readFreshUpTo !== undefined ? { readFreshUpTo: options.readFreshUpTo } : {}),
          ...(whole ? {} : { paths }),
        });
        const { changes, changedWhileRead } = await recordScan(
          {
            replica: this.replica,
            root: this.folder.path,
            disk: this.disk,
            events: this.events,
            scannedAt,
            warnedSymlinks: this.warnedSymlinks,
          },
          result,
        );
        this.chunks.invalidate();
        await this.disk.flush();
        return { changes, unstable: result.unstable.length + changedWhileRead };
      } finally {
        this.state = "idle";
      }
    });
  }

  /** What this agent wrote itself lately: the daemon ignores watcher events for those. */
  readonly ownWrites: OwnWrites;

  /**
   * Called as a pass is about to write or remove at least `BULK_WRITE_FILES` (64) files: the
   * daemon stops watching the folder meanwhile (see `FolderWatch.pause`).
   */
  onBulkWrite: (() => void) | undefined;

  /** Called when the selection chosen on this device changed (the daemon watches anew). */
  onSelectionChange: (() => void) | undefined;

  /** What this device last saw of `path` on disk (its disk state), if anything. */
  knownFile(path: string): LocalFileState | undefined {
    return this.disk.get(path);
  }

  /** Writes the replica's tree to disk where it differs from what this device last saw. */
  apply(): Promise<PassCounts> {
    return this.serial(async () => {
      if (this.pause) return { changes: 0, unstable: 0 };
      this.state = "syncing";
      try {
        const changes = await this.materialize();
        await this.disk.flush();
        return { changes, unstable: 0 };
      } finally {
        this.state = "idle";
      }
    });
  }

  private selectedBy(selection: Selection): (path: string, isDir: boolean) => boolean {
    return (path, isDir) => selection.includes(path, isDir);
  }

  /** What a scan takes of a selection: what it walks, and where moved-out files may be. */
  private scanSelection(selection: Selection): Pick<ScanOptions, "selected" | "unselected"> {
    return {
      selected: this.selectedBy(selection),
      unselected: (path, isDir) => selection.leavesOut(path, isDir),
    };
  }

  private async materialize(): Promise<number> {
    await this.refreshSelection();
    const selection = this.chosen;
    const replica = this.replica;
    const tree = treeItems(replica.index.tree());
    const ignores = (path: string, isDir: boolean) => this.ignore.ignores(path, isDir);
    // A strong folder's change made here shows in the tree only once the relay accepts it:
    // until then its paths are left as they are on disk (else an offline save is undone).
    const plan = holdPaths(
      planMaterialize(tree, this.disk.map, ignores, this.selectedBy(selection)),
      replica.queuedWrites(),
    );
    this.clashes = plan.clashes;
    this.unportable = plan.unportable;
    if (plan.files.length + plan.stale.length >= BULK_WRITE_FILES) this.onBulkWrite?.();
    this.chunks.invalidate();
    const download = downloadRun(this.meter, plan);
    const changes = await applyPlan(
      {
        root: this.folder.path,
        disk: this.disk,
        read: (path) => replica.createReadStream(path),
        prefetch: (paths) => replica.prefetch(paths),
        placed: (at, from) => {
          const manifest = replica.index.stat(from)?.version?.manifest;
          if (manifest) this.chunks.placed(at, manifest);
          download.placed(at);
        },
        resuming: (part, path) => {
          const manifest = replica.index.stat(path)?.version?.manifest;
          if (manifest) this.chunks.partial(part, manifest);
        },
        ignores,
        writing: (path) => this.ownWrites.wrote(path),
        events: this.events,
        // A strong folder never shows two versions: a file changed here is left as it is, and
        // the next scan's write of it is refused (kept) if the tree's version came first.
        conflictCopies: replica.consistency !== "strong",
      },
      plan,
    );
    download.end();
    if (!selection.equals(this.applied)) {
      this.applied = selection;
      this.disk.setMeta(APPLIED_SELECTION, selection.toSpec());
    }
    return changes;
  }

  /**
   * Syncs until nothing is pending either way: scan, exchange with the relay, write to disk,
   * again until a pass changes nothing and no local file is still being written.
   */
  async syncOnce(options: { stableMs?: number } = {}): Promise<void> {
    const stableMs = options.stableMs ?? 1000;
    for (let pass = 0; pass < 1000; pass++) {
      if (this.removed || this.pause) return;
      const scanned = await this.scan();
      try {
        await this.replica.syncOnce();
      } catch (error) {
        if (isForbidden(error) && (await this.checkRemoved())) return;
        throw error;
      }
      const applied = await this.apply();
      if (scanned.changes === 0 && applied.changes === 0 && this.replica.idle) {
        if (scanned.unstable === 0) {
          this.lastSync = this.clock.now();
          return;
        }
        await sleep(this.clock, stableMs);
      }
    }
  }

  /** The folder's state for `weft status`. */
  status(): FolderStatus {
    const stats = this.replica.stats();
    const connection = this.replica.status;
    return {
      folderId: this.folder.folderId,
      path: this.folder.path,
      state: this.removed
        ? "removed"
        : this.pause
          ? "paused"
          : this.errors.length > 0 && this.state === "idle" && connection !== "online"
            ? "error"
            : connection !== "online" && this.state === "idle"
              ? "offline"
              : this.state,
      connection,
      pendingOut: stats.pendingOut,
      pendingChunks: stats.pendingChunks,
      bytesUploaded: stats.bytesUploaded,
      bytesDownloaded: stats.bytesDownloaded,
      files: (this.counts ??= {
        files: countFiles(this.replica.index.tree()),
        conflicts: this.replica.conflicts().length,
      }).files,
      conflicts: this.counts.conflicts,
      peers: this.replica
        .peers()
        .filter((p) => p.deviceId !== this.identity.deviceId)
        // Paused, this device hears from no one: what it last heard is not "online" now.
        .map(({ deviceId, online, lastSeen, behind }) => ({
          deviceId,
          online: online && !this.pause,
          lastSeen,
          behind,
        })),
      errors: [...this.errors],
      clashes: this.clashes,
      unportable: this.unportable,
      upload: this.meter.view("upload"),
      download: this.meter.view("download"),
      lastSync: this.lastSync,
      removed: this.removed ?? null,
      paused: this.pause?.since ?? null,
      refused: this.replica.refusedWrites().map((r) => refusedView(this.folder.folderId, r)),
      queued: this.replica.queuedWrites().length,
      selection: this.chosen.toSpec(),
    };
  }

  async close(): Promise<void> {
    await this.lane;
    await this.closeStores();
  }
}
