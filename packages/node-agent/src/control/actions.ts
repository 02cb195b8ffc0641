/**
 * What a person asks of open folders: list conflicts, a file's history, restore a version, sync
 * until nothing is pending. One implementation for the CLI (folders opened by the command
 * itself), the daemon's control socket and the dashboard, so that all three answer alike.
 */
import { ProtocolError } from "@weft/core";
import type { DeviceId } from "@weft/crypto";
import { AgentError, type Home } from "../home/index.js";
import { type ReadOut, onPath, readToFile, readToStream } from "../remote/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import { writeStatus } from "../sync/run.js";
import type { AgentFolderStatus } from "../sync/status.js";
import { type RefusedView, refusalMessage, refusedView } from "../sync/refused.js";
import { type VersionView, restoreVersion, versionsOf } from "../sync/versions.js";

/** A file with concurrent versions, as `weft conflicts` lists it. */
export interface ConflictItem {
  /** The folder's path on this device. */
  folder: string;
  path: string;
  copies: { path: string; device: DeviceId; time: number; contentHash: string | null }[];
}

/** Every conflict of `syncs`. */
export function listConflicts(syncs: readonly FolderSync[]): ConflictItem[] {
  return syncs.flatMap((s) =>
    s.replica.conflicts().map((c) => ({
      folder: s.folder.path,
      path: c.path,
      copies: c.copies.map((k) => ({
        path: k.path,
        device: k.device,
        time: k.wall,
        contentHash: k.contentHash,
      })),
    })),
  );
}

/** A file's earlier versions, as `weft history` prints them. */
export interface FileHistory {
  path: string;
  /** Whether no file is there now: the versions are those of the file deleted from there. */
  deleted: boolean;
  versions: VersionView[];
}

/** The earlier versions of `rel`. @throws AgentError NOT_FOUND */
export function historyOf(s: FolderSync, rel: string): FileHistory {
  const { versions, deletedId } = versionsOf(s, rel);
  return { path: rel, deleted: deletedId !== undefined, versions };
}

/** What `weft restore` did. */
export interface RestoreResult {
  path: string;
  restored: VersionView;
  /** Whether the relay has it (other devices get it from there). */
  sent: boolean;
  /** Why it is not sent yet, when it is not. */
  problem?: string;
}

/**
 * Makes the `n`-th earlier version of `rel` (1 = the newest) current, writes it to disk and
 * sends it. Not reaching the relay is not a failure: the version is restored here and goes out
 * with the next sync.
 * @throws AgentError NOT_FOUND when there is no such version
 */
export async function restoreNth(s: FolderSync, rel: string, n: number): Promise<RestoreResult> {
  const { versions } = versionsOf(s, rel);
  const v = versions[n - 1];
  if (!v)
    throw new AgentError("NOT_FOUND", `${rel} has ${versions.length} earlier versions, not ${n}`);
  await restoreVersion(s, rel, v.version);
  try {
    await s.syncOnce();
    return { path: rel, restored: v, sent: true };
  } catch (error) {
    return { path: rel, restored: v, sent: false, problem: (error as Error).message };
  }
}

/** What `weft sync --once` reports. */
export interface SyncReport {
  folders: AgentFolderStatus[];
  /** How long it took. */
  ms: number;
}

/**
 * Syncs `syncs` until nothing is pending either way (the daemon's folders keep syncing after).
 * @param timeoutS gives up after this many seconds (0: never)
 * @throws AgentError RELAY when the time is up, or when problems were met on the way; REFUSED
 *   when a strong folder refused a change made here meanwhile (kept; the message says how)
 */
export async function syncUntilDone(
  home: Home,
  syncs: readonly FolderSync[],
  timeoutS: number,
): Promise<SyncReport> {
  const started = Date.now();
  const before = new Set(syncs.flatMap((s) => s.replica.refusedWrites().map((r) => r.id)));
  let timer: NodeJS.Timeout | undefined;
  // A relay quota that is full refuses the same upload on every retry: the replica would retry
  // for as long as it runs, and `--once` would never end. It stops with the relay's reason.
  let stopFull: ((error: AgentError) => void) | undefined;
  const full = new Promise<never>((_, reject) => (stopFull = reject));
  full.catch(() => undefined); // raced below; one after the race must not go unhandled
  const offs = syncs.map((s) =>
    s.replica.on("error", ({ error, context }) => {
      if (error instanceof ProtocolError && error.wireCode === "quota_exceeded")
        stopFull?.(
          new AgentError(
            "RELAY",
            `${s.folder.path}: ${context}: ${error.message} (the change is kept here and sent ` +
              "by the next weft sync once there is room)",
            { cause: error },
          ),
        );
    }),
  );
  try {
    const done = Promise.all(syncs.map((s) => s.syncOnce()));
    if (timeoutS === 0) await Promise.race([done, full]);
    else
      await Promise.race([
        done,
        full,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(notInSync(syncs, timeoutS)), timeoutS * 1000);
        }),
      ]);
  } catch (error) {
    await writeStatus(home, syncs).catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
    for (const off of offs) off();
  }
  const folders = await writeStatus(home, syncs);
  // A strong folder's change refused on the way (saved here from a version replaced elsewhere
  // first): synced, but the person must hear of it, as from weft put (exit 3).
  const refused = syncs.flatMap((s) =>
    s.replica
      .refusedWrites()
      .filter((r) => !before.has(r.id))
      .map((r) => refusalMessage(s.folder.folderId, r)),
  );
  if (refused.length > 0)
    throw new AgentError(
      "REFUSED",
      refused[0]! +
        (refused.length > 1 ? ` (and ${refused.length - 1} more refused: weft refused)` : ""),
    );
  const failed = syncs.flatMap((s) =>
    s.errors.filter((e) => e.level === "error" && e.time >= started),
  );
  if (failed.length > 0) {
    const first = failed[0]!;
    throw new AgentError(
      "RELAY",
      `synced, but ${failed.length} problem${failed.length === 1 ? "" : "s"} left (see weft status); first: ${first.path ? `${first.path}: ` : ""}${first.message}`,
    );
  }
  return { folders, ms: Date.now() - started };
}

function notInSync(syncs: readonly FolderSync[], seconds: number): AgentError {
  const last = syncs
    .flatMap((s) => s.errors)
    .sort((a, b) => a.time - b.time)
    .at(-1);
  return new AgentError(
    "RELAY",
    `not in sync after ${seconds} s${last ? `; last problem: ${last.path ? `${last.path}: ` : ""}${last.message}` : ""}`,
  );
}

/** What the daemon answers to `weft folder select`: it started taking the selection up. */
export interface SelectAnswer {
  started: true;
}

/**
 * Takes up the folder's selection as chosen now (`weft folder select` stored it): writes what
 * it added and stops writing what it left out, then scans with it. Answers at once; the work
 * goes on in the background, its problems reported in the folder's status.
 */
export function takeSelection(s: FolderSync): SelectAnswer {
  s.apply()
    .then(() => s.scan())
    .catch((error: unknown) => s.notice(`taking up the selection: ${(error as Error).message}`));
  return { started: true };
}

/** What a running daemon did with a pause or resume: the folder's pause (since when) or null. */
export interface PauseAnswer {
  paused: number | null;
}

/**
 * A folder paused or resumed under WEFT_HOME: a pause stops its sending and fetching at once; a
 * resume starts them again, writes what arrived meanwhile and scans for what changed here.
 */
export async function takePause(s: FolderSync): Promise<PauseAnswer> {
  const pause = await s.refreshPause();
  if (!pause)
    s.apply()
      .then(() => s.scan())
      .catch((error: unknown) => s.notice(`resuming: ${(error as Error).message}`));
  return { paused: pause?.since ?? null };
}

/** What `weft get` read, and the bytes the replica downloaded meanwhile. */
export interface GetResult extends ReadOut {
  bytesDownloaded: number;
}

/**
 * `weft get` on a synced folder: the file at `path` read from the folder's replica (chunk cache,
 * then the relay), verified, into `out` (a file placed once complete, or stdout for `-`).
 * @throws AgentError NOT_FOUND, CONFLICT (a directory), INTERRUPTED; WeftError INTEGRITY
 */
export async function readFileOf(
  s: FolderSync,
  path: string,
  out: string,
  signal: AbortSignal = new AbortController().signal,
): Promise<GetResult> {
  const before = s.replica.stats().bytesDownloaded;
  const read = await onPath(s.folder.folderId, () =>
    out === "-"
      ? readToStream(s.replica, path, process.stdout, signal)
      : readToFile(s.replica, path, out, signal),
  );
  return { ...read, bytesDownloaded: s.replica.stats().bytesDownloaded - before };
}

/** A strong folder's refused changes, as `weft refused` lists them. */
export interface RefusedList {
  folderId: string;
  refused: RefusedView[];
}

/** The folder's changes made here and refused (empty for an eventual folder). */
export function refusedOf(s: FolderSync): RefusedList {
  const folderId = s.folder.folderId;
  return { folderId, refused: s.replica.refusedWrites().map((r) => refusedView(folderId, r)) };
}

/** What `weft reapply` did. */
export interface ReapplyResult {
  folderId: string;
  id: string;
  path: string;
  kind: string;
  discarded: boolean;
  /** Whether the relay has it now (not for a discard); false when it could not be reached. */
  sent: boolean;
  /** Why it is not sent yet, when it is not. */
  problem?: string;
}

/**
 * Writes refused change `id` again on top of the file's version now (or drops it with
 * `discard`), then syncs until the relay has answered; the folder on disk follows either way.
 * Not reaching the relay is not a failure: the change stays queued and is checked on return.
 * @throws AgentError NOT_FOUND for an unknown id; REFUSED when the file changed elsewhere again
 *   meanwhile (kept again, under a new id)
 */
export async function reapplyRefused(
  s: FolderSync,
  id: string,
  discard: boolean,
): Promise<ReapplyResult> {
  const folderId = s.folder.folderId;
  const r = s.replica.refusedWrites().find((x) => x.id === id);
  if (!r)
    throw new AgentError(
      "NOT_FOUND",
      `no refused change ${id} in folder ${folderId} (see: weft refused ${folderId})`,
    );
  const done = { folderId, id, path: r.path, kind: r.op.kind, discarded: discard };
  if (discard) {
    await s.replica.discardRefused(id);
    return { ...done, sent: false };
  }
  const before = new Set(s.replica.refusedWrites().map((x) => x.id));
  await s.replica.reapply(id);
  try {
    await s.syncOnce();
  } catch (error) {
    return { ...done, sent: false, problem: (error as Error).message };
  }
  const again = s.replica.refusedWrites().find((x) => !before.has(x.id) && x.path === r.path);
  if (again) throw new AgentError("REFUSED", refusalMessage(folderId, again));
  return { ...done, sent: true };
}
