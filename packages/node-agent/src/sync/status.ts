/** A folder's status as `weft status` reports it: the folder's own counts plus its connection (since when, last failure, next try). */
import type { FolderRecord } from "../home/index.js";
import { connectionOf } from "./connection.js";
import type { FolderStatus, FolderSync } from "./folder-sync.js";

/** {@link FolderStatus} with what people ask of a daemon left alone: is it online, since when, why not. */
export interface AgentFolderStatus extends FolderStatus {
  /** Since when `connection` has been what it is (ms since the epoch); null when not running. */
  connectionSince: number | null;
  /** The last failed connection attempt or lost connection, in words; null if none. */
  lastError: { message: string; time: number } | null;
  /** When the next connection attempt is due (ms since the epoch); null when none is waiting. */
  nextRetryAt: number | null;
}

/**
 * When each open folder was last seen in sync. The daemon never runs a `syncOnce` (which sets
 * `lastSync`), and "last synced" is what people ask once it has stopped.
 */
const seenInSync = new WeakMap<FolderSync, number>();

/** The status of a folder open in this process. */
export function folderStatus(sync: FolderSync): AgentFolderStatus {
  const c = connectionOf(sync.replica);
  const own = sync.status();
  if (c.status === "online" && own.state === "idle" && own.pendingOut === 0 && sync.replica.idle)
    seenInSync.set(sync, sync.clock.now());
  const seen = seenInSync.get(sync);
  return {
    ...own,
    lastSync: seen === undefined ? own.lastSync : Math.max(seen, own.lastSync ?? 0),
    connectionSince: c.status === "stopped" ? null : c.since,
    lastError: c.lastError ?? null,
    nextRetryAt: c.status === "online" ? null : (c.nextRetryAt ?? null),
  };
}

const idle = { done: 0, total: 0, bytes: 0, rate: 0, eta: null };

/** What is known of a folder that no running process has open. */
export function stoppedStatus(f: FolderRecord): AgentFolderStatus {
  return {
    folderId: f.folderId,
    path: f.path,
    state: f.removed ? "removed" : "offline",
    connection: "stopped",
    pendingOut: 0,
    pendingChunks: 0,
    bytesUploaded: 0,
    bytesDownloaded: 0,
    files: 0,
    conflicts: 0,
    peers: [],
    errors: [],
    clashes: [],
    unportable: [],
    upload: idle,
    download: idle,
    lastSync: null,
    connectionSince: null,
    lastError: null,
    nextRetryAt: null,
    removed: f.removed ?? null,
    paused: null,
    refused: [],
    queued: 0,
  };
}
