/**
 * What the sync daemon writes to its log, per folder: connects and disconnects with the reason,
 * what moved each second (counts and bytes), and every problem with when it is tried again.
 * File names appear only when the user asked for them (`--log-names`): a log is often pasted
 * into a bug report, and names can say more than their owner meant to share.
 */
import type { Logger } from "pino";
import type { ActivityEvent } from "../activity/index.js";
import { connectionOf } from "../sync/connection.js";
import type { FolderSync } from "../sync/folder-sync.js";

/** How a folder's log lines are made. */
export interface FolderLogOptions {
  /** Put file names in the lines (off by default). */
  logNames: boolean;
  /** When the daemon next scans and writes this folder anyway (its next retry of a local problem). */
  nextRescanAt: () => number;
  /** How often what moved is summed up in one line (default 1 s). */
  summaryMs?: number;
}

/**
 * A problem repeated this many times is logged each time; after that only at the 2^n-th repeat,
 * so a relay that stays down a day fills a few lines, not the disk.
 */
const REPEATS_LOGGED = 3;

/** Follows one folder and logs what it does; returns the function that stops (and logs the rest). */
export function followFolderLog(
  logger: Logger,
  sync: FolderSync,
  options: FolderLogOptions,
): () => void {
  const log = logger.child({ folder: sync.folder.folderId });
  const { logNames } = options;
  const name = (path: string | undefined) => (logNames && path !== undefined ? { path } : {});
  const clean = (message: string, path?: string) =>
    logNames ? message : redactNames(message, sync.folder.path, path);

  let last = connectionOf(sync.replica).status;
  /** Failed attempts since the last connection: a relay down for a day is not 40,000 lines. */
  let failures = 0;
  const offStatus = sync.replica.on("status", ({ status }) => {
    if (status === last) return;
    const was = last;
    last = status;
    // The engine records why and schedules the retry right after it reports the new state.
    setImmediate(() => {
      const c = connectionOf(sync.replica);
      const retry = c.nextRetryAt === undefined ? {} : { nextRetryAt: iso(c.nextRetryAt) };
      const reason = c.lastError ? { reason: clean(c.lastError.message) } : {};
      if (status === "online") {
        // `address`: which of the relay's addresses, when it is not the identity.
        const address = sync.relayAddress?.();
        log.info(
          {
            relay: sync.folder.relay,
            ...(address !== undefined && address !== sync.folder.relay ? { address } : {}),
            ...(failures > 0 ? { failures } : {}),
          },
          "connected",
        );
        failures = 0;
      } else if (status === "offline" && was === "online")
        log.warn({ ...reason, ...retry }, "disconnected");
      else if (status === "offline" && was === "connecting" && logged(++failures))
        log.warn({ ...reason, ...retry, attempt: failures }, "could not connect");
    });
  });

  // What moved, summed up: one line a second at most while busy, none while idle.
  let moved = { sent: 0, received: 0, deleted: 0 };
  let bytes = byteCounts(sync);
  const summary = setInterval(flush, options.summaryMs ?? 1000);
  summary.unref();
  function flush(): void {
    const now = byteCounts(sync);
    const up = now.up - bytes.up;
    const down = now.down - bytes.down;
    if (moved.sent > 0 || up > 0) log.info({ files: moved.sent, bytes: up }, "upload batch");
    if (moved.received > 0 || moved.deleted > 0 || down > 0)
      log.info({ files: moved.received, deleted: moved.deleted, bytes: down }, "download batch");
    moved = { sent: 0, received: 0, deleted: 0 };
    bytes = now;
  }

  const offActivity = sync.activity.onChange((event: ActivityEvent) => {
    switch (event.kind) {
      case "sent":
        moved.sent++;
        if (logNames) log.info({ path: event.path }, "sent");
        return;
      case "received":
        moved.received++;
        if (logNames) log.info({ path: event.path }, "received");
        return;
      case "deleted":
        if (event.detail !== "here") moved.deleted++;
        if (logNames) log.info({ path: event.path, by: event.detail }, "deleted");
        return;
      case "error":
      case "warning": {
        if (!logged(event.count)) return;
        const c = connectionOf(sync.replica);
        // Offline, everything waits for the next connection attempt; online, a local problem
        // is looked at again by the next scan at the latest.
        const retryAt =
          c.status !== "online" && c.nextRetryAt !== undefined
            ? c.nextRetryAt
            : options.nextRescanAt();
        const fields = {
          problem: clean(event.detail ?? "", event.path),
          ...name(event.path),
          ...(event.count > 1 ? { repeated: event.count } : {}),
          nextRetryAt: iso(retryAt),
        };
        if (event.kind === "error") log.error(fields, "problem");
        else log.warn(fields, "left alone");
        return;
      }
      default:
        // conflict, resolved, restored: worth a line each, named only when asked.
        log.info(
          {
            ...name(event.path),
            ...(event.detail ? { detail: clean(event.detail, event.path) } : {}),
          },
          event.kind,
        );
    }
  });

  return () => {
    offStatus();
    offActivity();
    clearInterval(summary);
    flush();
  };
}

/** Whether the `n`-th time in a row is logged: the first few, then every power of two. */
function logged(n: number): boolean {
  return n <= REPEATS_LOGGED || (n & (n - 1)) === 0;
}

function byteCounts(sync: FolderSync): { up: number; down: number } {
  const s = sync.replica.stats();
  return { up: s.bytesUploaded, down: s.bytesDownloaded };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * `message` with every path inside the folder cut to the folder itself (system errors quote the
 * file they failed on: "EACCES: permission denied, open '/home/ana/shared/tax/2024.pdf'"), and
 * with the name of the file it is about (`path`, folder-relative) left out wherever it appears,
 * stem included, as in a conflict copy's name ("2024 (conflict …).pdf").
 */
export function redactNames(message: string, folderPath: string, path?: string): string {
  const HOLE = "\u0000"; // stands for the folder's own path while names are taken out
  let out = "";
  let from = 0;
  const prefix = `${folderPath}/`;
  for (;;) {
    const at = message.indexOf(prefix, from);
    if (at < 0) break;
    out += `${message.slice(from, at)}${HOLE}/…`;
    // A quoted or listed path ends at its quote, comma or the end; the name inside is dropped.
    const end = message.slice(at + prefix.length).search(/['"`]|, |\)$|$/);
    from = at + prefix.length + end;
  }
  out = (out + message.slice(from)).split(folderPath).join(HOLE);
  if (path) {
    const base = path.slice(path.lastIndexOf("/") + 1);
    const dot = base.lastIndexOf(".");
    const stem = dot > 0 ? base.slice(0, dot) : base;
    // Longest first, so that the whole path goes before its parts; a one-letter stem would
    // take letters out of words, and says little anyway.
    for (const part of [path, base, stem].filter((p) => p.length > 1))
      out = out.split(part).join("…");
  }
  return out.split(HOLE).join(folderPath);
}
