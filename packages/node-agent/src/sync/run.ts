/** Runs sync for a set of folders: once (until nothing is pending) or as a daemon (watch, rescan, apply), with one sync process per home. */
import { link, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DeviceIdentity } from "@weft/crypto";
import { AccountLogin } from "../account/index.js";
import { AgentError, type FolderRecord, type Home, processAlive } from "../home/index.js";
import { watchFolder } from "../watch/index.js";
import { FolderSync, type FolderSyncOptions } from "./folder-sync.js";
import { WATCH_BLIND_MS } from "./own-writes.js";
import { after } from "./clock.js";
import { PassRetry } from "./retry.js";
import { type AgentFolderStatus, folderStatus } from "./status.js";
import { readStatusFile, writeStatusFile } from "./status-file.js";

/** A scan that found files still being written looks again after this long. */
const STABLE_RETRY_MS = 1100;
/**
 * The daemon sends files up to this size as soon as the watcher reports them, even if just
 * modified (small files are written in one go); larger ones wait until a second has passed
 * since their last change. Edits reach other devices in tens of milliseconds, not a second.
 */
const READ_FRESH_UP_TO = 1024 * 1024;
/** How long writing and downloads stay quiet before a watch paused for a bulk write resumes. */
const WATCH_RESUME_MS = 1000;
/** The longest a bulk write's pause waits on downloads still pending before watching again. */
const WATCH_PAUSE_MAX_MS = 30_000;

/**
 * The daemon's full rescan period by default: an hour, as Syncthing's, because the watcher sees
 * changes (each of its reports starts a scan of the paths it names) and a rescan of 100,000 files costs seconds
 * of CPU: every minute, that was most of an idle daemon's cost.
 */
export const RESCAN_MS = 3_600_000;
/** The rescan period of a folder whose watcher failed (no inotify watches left, say). */
export const UNWATCHED_RESCAN_MS = 60_000;

/** How a daemon run behaves. */
export interface DaemonOptions {
  /**
   * Full rescan period, in case the watcher missed an event (default {@link RESCAN_MS}); a
   * folder whose watcher fails rescans every {@link UNWATCHED_RESCAN_MS} at most instead.
   */
  rescanMs?: number;
  /** Stops the daemon. */
  signal: AbortSignal;
  /** Called about once a second with every folder's status. */
  onStatus?: (folders: AgentFolderStatus[]) => void;
  /** Folders added while the daemon runs (the dashboard's create and join) are synced too. */
  folders?: DaemonFolders;
}

/**
 * The daemon's open folders, to which a folder can be added while it runs: the list is the one
 * array the control socket, the dashboard, the status writer and the metrics all read, and
 * whoever runs something per folder (the sync loop, the log) hears of each new one.
 */
export class DaemonFolders {
  private readonly listeners = new Set<(sync: FolderSync) => Promise<void> | void>();

  /** `list`: the folders opened at start; this array grows with each {@link add}. */
  constructor(readonly list: FolderSync[]) {}

  /** Calls `listener` for every folder added from now on; returns the function that stops it. */
  onAdd(listener: (sync: FolderSync) => Promise<void> | void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Adds an opened folder: it is listed at once and each listener starts its part for it. */
  async add(sync: FolderSync): Promise<void> {
    this.list.push(sync);
    for (const listener of this.listeners) await listener(sync);
  }
}

/** The status a running daemon last wrote, with when and by whom. */
export interface StoredStatus extends AgentFolderStatus {
  updated: number;
  pid: number;
}

function statusPath(home: Home, folder: FolderRecord): string {
  return join(home.folderDir(folder.folderId), "status.json");
}

/** Who holds a home's sync lock: a `weft sync` daemon, or a command that opened the state for a moment. */
export interface SyncLockHolder {
  pid: number;
  /** A `weft sync` daemon (runs until stopped), not a command such as `weft status`. */
  daemon: boolean;
}

/** How long a command waits for another command (not a daemon) to release the home's state. */
const LOCK_WAIT_MS = 60_000;

/** The live process holding this home's sync lock, if any (a lock left by a killed process is none). */
export async function syncLockHolder(home: Home): Promise<SyncLockHolder | undefined> {
  const holder = parseHolder(await readFile(home.syncPidPath, "utf8").catch(() => ""));
  return holder && holder.pid !== process.pid && processAlive(holder.pid) ? holder : undefined;
}

/** The pid of the running `weft sync` daemon of this home, if any. */
export async function runningSync(home: Home): Promise<number | undefined> {
  const holder = await syncLockHolder(home);
  return holder?.daemon ? holder.pid : undefined;
}

function parseHolder(text: string): SyncLockHolder | undefined {
  const [pidText, kind] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, daemon: kind !== "command" } : undefined;
}

/**
 * Holds the home's sync lock while `work` runs, so two processes never open the same replica
 * state. A second daemon is refused with a clear message. Anything else that finds the lock held
 * by a command (`weft status`, `weft conflicts`, …) waits for it: a daemon started while a
 * monitoring script runs `weft status` must start, not exit.
 *
 * The lock file is written complete under another name and linked into place, so no process
 * ever reads a half-written one and takes it for a lock left by a killed process.
 */
export async function withSyncLock<T>(
  home: Home,
  work: () => Promise<T>,
  kind: "daemon" | "command" = "command",
  onWait?: (holder: SyncLockHolder) => void,
): Promise<T> {
  const lock = home.syncPidPath;
  const temp = `${lock}.${process.pid}.tmp`;
  await writeFile(temp, `${process.pid} ${kind}\n`, { mode: 0o600 });
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    let waitedFor: number | undefined;
    for (;;) {
      try {
        await link(temp, lock);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const text = await readFile(lock, "utf8").catch(() => "");
      const holder = parseHolder(text);
      if (holder && processAlive(holder.pid)) {
        if (holder.daemon)
          throw new AgentError(
            "BUSY",
            `weft sync is running (pid ${holder.pid}); stop it first, or use it`,
          );
        if (Date.now() > deadline)
          throw new AgentError(
            "BUSY",
            `another weft command (pid ${holder.pid}) has held this device's state for ${LOCK_WAIT_MS / 1000} s`,
          );
        if (waitedFor !== holder.pid) onWait?.(holder);
        waitedFor = holder.pid;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      // Left by a killed process: removed only if it is still the same file's content, so
      // a lock another process has just taken in its place is not removed with it.
      if ((await readFile(lock, "utf8").catch(() => "")) === text) await rm(lock, { force: true });
    }
  } finally {
    await rm(temp, { force: true });
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Opens every folder, connected to its relay. The caller closes them. */
export async function openFolders(
  home: Home,
  identity: DeviceIdentity,
  folders: readonly FolderRecord[],
  online: boolean,
  connection: FolderSyncOptions = {},
): Promise<FolderSync[]> {
  const opened: FolderSync[] = [];
  try {
    for (const folder of folders) {
      // A request that hangs (a stalled network) holds up the start, the key fetch included:
      // it gives up when a silent connection would, and the folder opens with stored keys.
      const timeout = connection.keepaliveMs ? { timeoutMs: 2 * connection.keepaliveMs } : {};
      const session = online ? await AccountLogin.open(home, folder.relay, timeout) : undefined;
      opened.push(await FolderSync.open(home, folder, identity, session, connection));
    }
  } catch (error) {
    await Promise.allSettled(opened.map((f) => f.close()));
    throw error;
  }
  return opened;
}

/**
 * How often a running daemon rewrites a status that did not change but for when it was last
 * in sync. `weft status` asks the daemon itself; the file is for a daemon that cannot answer
 * and for after it stops, so an idle daemon need not write it every second.
 */
export const UNCHANGED_STATUS_MS = 60_000;
/** Each folder's last written status (without its `lastSync`), and when it was written. */
const written = new WeakMap<FolderSync, { same: string; at: number }>();

/**
 * Writes each folder's status where `weft status` reads it while this process runs. With
 * `onlyChanged`, a folder's file is left as it is when nothing in its status changed but
 * `lastSync`, unless it is {@link UNCHANGED_STATUS_MS} old.
 */
export async function writeStatus(
  home: Home,
  syncs: readonly FolderSync[],
  onlyChanged = false,
): Promise<AgentFolderStatus[]> {
  const all = syncs.map(folderStatus);
  const now = Date.now();
  await Promise.all(
    syncs.map(async (s, i) => {
      const same = JSON.stringify({ ...all[i], lastSync: null });
      const last = written.get(s);
      if (onlyChanged && last?.same === same && now - last.at < UNCHANGED_STATUS_MS) return;
      await writeStatusFile(statusPath(home, s.folder), {
        ...all[i],
        updated: now,
        pid: process.pid,
      });
      written.set(s, { same, at: now });
    }),
  );
  return all;
}

/** The status a running daemon wrote for `folder`. */
export function readStoredStatus(
  home: Home,
  folder: FolderRecord,
): Promise<StoredStatus | undefined> {
  return readStatusFile<StoredStatus>(statusPath(home, folder));
}

/**
 * Watches and syncs until `options.signal` aborts: local changes are scanned a moment after the
 * file system reports them (and every `rescanMs` regardless), remote changes are written to disk
 * as they arrive.
 */
export async function runDaemon(
  syncs: readonly FolderSync[],
  home: Home,
  options: DaemonOptions,
): Promise<void> {
  const { signal } = options;
  const stops: (() => Promise<void>)[] = [];
  const startFolder = async (sync: FolderSync): Promise<void> => {
    // A pass failed when it threw, or reported a problem with a file (a placement or a record
    // that failed: a full disk, a file in the way); the connection's own errors do not count.
    const failedSince = (since: number): boolean =>
      sync.errors.some((e) => e.level === "error" && e.path !== undefined && e.time >= since);
    let applying = false;
    let again = false;
    const clock = sync.clock;
    const applyRetry = new PassRetry(() => apply(), undefined, undefined, clock);
    const apply = (): void => {
      if (signal.aborted) return;
      if (applying) {
        again = true;
        return;
      }
      applying = true;
      const started = clock.now();
      let threw = false;
      sync
        .apply()
        .catch((error: unknown) => {
          threw = true;
          sync.notice(`writing to disk: ${(error as Error).message}`);
        })
        .finally(() => {
          applying = false;
          applyRetry.after(threw || failedSince(started));
          resumeWatchSoon();
          recheckOwnWrites();
          if (again) {
            again = false;
            apply();
          }
        });
    };
    // Files this agent just placed are looked at again once the watcher can see them: an
    // edit made in the moment after a placement is not reported by it (see WATCH_BLIND_MS).
    let recheck: (() => void) | undefined;
    const recheckOwnWrites = (): void => {
      if (recheck || signal.aborted || !sync.ownWrites.pendingCheck) return;
      recheck = after(clock, WATCH_BLIND_MS, () => {
        recheck = undefined;
        sync.ownWrites
          .changedSinceWritten(sync.folder.path, (path) => sync.knownFile(path))
          .then(
            (changed) => changed.length > 0 && scan(new Set(changed)),
            () => scan(),
          )
          .finally(recheckOwnWrites);
      });
    };
    let retry: (() => void) | undefined;
    // What the retry looks at: the paths of the scans that left files for later (undefined:
    // the whole folder).
    let retryPaths: Set<string> | undefined;
    const scanRetry = new PassRetry(() => scan(), undefined, undefined, clock);
    // A scan of the whole folder, or of `paths` and what is under them (what the watcher saw).
    const scan = (paths?: ReadonlySet<string>): void => {
      if (signal.aborted) return;
      const started = clock.now();
      sync.scan({ readFreshUpTo: READ_FRESH_UP_TO, ...(paths ? { paths } : {}) }).then(
        ({ unstable }) => {
          scanRetry.after(failedSince(started));
          // Files still being written are looked at again once they have had time to settle.
          if (unstable === 0) return;
          if (retry) {
            if (!paths) retryPaths = undefined;
            else for (const p of paths) retryPaths?.add(p);
            return;
          }
          retryPaths = paths && new Set(paths);
          retry = after(clock, STABLE_RETRY_MS, () => {
            retry = undefined;
            scan(retryPaths);
          });
        },
        (error: unknown) => {
          sync.notice(`scanning: ${(error as Error).message}`);
          scanRetry.after(true);
        },
      );
    };
    // A strong folder's own change reaches the tree only once the relay accepts it (and a
    // refused one leaves the tree's version to write): both are written to disk then.
    const strong = sync.replica.consistency === "strong";
    sync.replica.on("change", ({ origin }) => {
      if (origin === "remote" || strong) apply();
    });
    sync.replica.on("refused", () => apply());
    // Downloads finish after the change that named them: write once transfers go idle too.
    sync.replica.on("progress", ({ direction, done, total }) => {
      if (direction === "download" && done === total) apply();
    });
    sync.startSyncing();
    const watcher = watchFolder(
      sync.folder.path,
      () => sync.ignoreRules,
      // What this agent wrote itself (files it placed, its temp files) needs no scan: a large
      // download would otherwise make the folder be walked again and again.
      (paths) => {
        sync.ownWrites
          .othersChanged(sync.folder.path, paths, (path) => sync.knownFile(path))
          .then(
            (changed) => changed && scan(paths),
            () => scan(paths),
          );
      },
      (error) => {
        sync.notice(`watching: ${error.message}`);
        rescanEvery(Math.min(rescanMs, UNWATCHED_RESCAN_MS));
      },
      undefined,
      () => {
        const selection = sync.selection;
        return (path, isDir) => selection.includes(path, isDir);
      },
    );
    // A bulk write (a first sync, a large download) goes on unwatched: chokidar would read each
    // directory again for every file placed in it. Watching resumes once writing and downloads
    // have been quiet for a moment, and a scan then finds what changed meanwhile (the periodic
    // rescan too, if the pause lasts).
    let paused = false;
    let pausedAt = 0;
    let resumeTimer: (() => void) | undefined;
    sync.onBulkWrite = () => {
      resumeTimer?.();
      resumeTimer = undefined;
      if (paused) return;
      paused = true;
      pausedAt = clock.now();
      watcher.pause().catch((error: Error) => sync.notice(`watching: ${error.message}`));
    };
    // A new selection: watch again with it (a directory just selected was not watched).
    sync.onSelectionChange = () => {
      if (paused || signal.aborted) return; // the resume after the bulk write crawls anew
      watcher
        .pause()
        .then(() => watcher.resume())
        .catch((error: Error) => sync.notice(`watching: ${error.message}`));
    };
    const resumeWatchSoon = (): void => {
      if (!paused || resumeTimer || signal.aborted) return;
      resumeTimer = after(clock, WATCH_RESUME_MS, () => {
        resumeTimer = undefined;
        // Downloads that stall (chunks a peer has not uploaded yet) do not keep it unwatched.
        const downloading =
          sync.replica.stats().pendingChunks > 0 && clock.now() - pausedAt < WATCH_PAUSE_MAX_MS;
        if (applying || downloading) return resumeWatchSoon();
        paused = false;
        watcher.resume().then(
          () => scan(),
          (error: Error) => sync.notice(`watching: ${error.message}`),
        );
      });
    };
    const rescanMs = options.rescanMs ?? RESCAN_MS;
    let timer: NodeJS.Timeout | undefined;
    let every = Infinity;
    const rescanEvery = (ms: number): void => {
      if (ms >= every || signal.aborted) return;
      every = ms;
      clearInterval(timer);
      // A pause or resume the control socket could not tell is taken up here too.
      timer = setInterval(() => {
        void sync.refreshPause().finally(() => {
          scan();
          apply();
        });
      }, ms);
    };
    rescanEvery(rescanMs);
    stops.push(async () => {
      clearInterval(timer);
      retry?.();
      recheck?.();
      resumeTimer?.();
      sync.onBulkWrite = undefined;
      applyRetry.stop();
      scanRetry.stop();
      await watcher.close();
      sync.stopSyncing();
    });
    await watcher.ready;
    scan();
    apply();
  };
  for (const sync of [...syncs]) await startFolder(sync);
  const stopAdding = options.folders?.onAdd(startFolder);
  const ticker = setInterval(() => {
    writeStatus(home, syncs, true).then(options.onStatus, () => undefined);
  }, 1000);
  try {
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  } finally {
    stopAdding?.();
    clearInterval(ticker);
    await Promise.allSettled(stops.map((stop) => stop()));
    await writeStatus(home, syncs).catch(() => undefined);
  }
}
