/** `weft status`: each folder's connection (since when, why not, next try), what is pending each way, peers and problems; from the running daemon, or from disk when none runs. */
import { shortDeviceId } from "@weft/crypto";
import { NO_DAEMON, type StatusAnswer, askDaemon } from "../control/index.js";
import { AgentError, type FolderRecord } from "../home/index.js";
import { readStoredStatus, syncLockHolder } from "../sync/run.js";
import { type AgentFolderStatus, folderStatus, stoppedStatus } from "../sync/status.js";
import type { Command, CommandContext } from "./command.js";
import { formatWhen, statusLine } from "./format.js";
import { withFolders } from "./open-folders.js";

/** `weft status`: each folder's connection, pending work, peers and problems, from the running daemon or from disk. */
export const statusCommand: Command = {
  name: "status",
  args: "[PATH]",
  summary:
    "Shows each folder: online or offline since when, the last connection problem and the next\n" +
    "try, what is pending each way, transfers, peers and how far behind, problems.",
  details:
    "While `weft sync` runs it asks that process (through its control socket); otherwise it\n" +
    'says "weft sync is not running" and shows what the last run left.\n' +
    "--json: daemon (its pid or null) and running tell a stopped agent from an offline one;\n" +
    "per folder: connection (online, offline, connecting, stopped), connectionSince, lastError\n" +
    "{message, time}, nextRetryAt, pendingOut, pendingChunks, upload, download, errors, lastSync,\n" +
    'removed ({at, reason} once the relay refused this device the folder for good; state "removed"),\n' +
    'paused (since when, or null; state "paused": weft folder pause); a strong folder\'s refused\n' +
    "changes, refused [{id, path, kind, reason, at, message}], and queued (changes not yet\n" +
    "accepted or refused).",
  example: "weft status --json",
  flags: {},
  run: async (ctx) => {
    const folders = await ctx.home.selectFolders(ctx.positionals);
    const ids = folders.map((f) => f.folderId);
    const { answer, fromDiskStatuses } = await readStatus(ctx, folders, ids);
    const statuses: AgentFolderStatus[] = answer
      ? folders.map(
          (f) => answer.folders.find((s) => s.folderId === f.folderId) ?? stoppedStatus(f),
        )
      : fromDiskStatuses;
    const now = Date.now();
    const running = answer?.pid !== undefined;
    if (running) ctx.say(`weft sync is running (pid ${answer.pid})`);
    else if (answer)
      ctx.say("another weft command is using this device's folders; as it last said:");
    for (const s of statuses) {
      ctx.say(`${s.path}  [${s.folderId}]`);
      for (const line of describe(s, running, now)) ctx.say(`  ${line}`);
    }
    if (folders.length === 0) ctx.say("no synced folders yet; run: weft folder create PATH");
    return { daemon: answer?.pid ?? null, running, folders: statuses };
  },
};

type HeldStatus = Omit<StatusAnswer, "pid"> & { pid: number | undefined };

/**
 * The daemon's (or another command's) status when a process holds the folders, else the state
 * on disk. A daemon that starts between the two looks (it takes the lock after this command
 * found none) is asked again rather than reported as an error: a monitoring script that runs
 * `weft status` while the service starts must get an answer.
 */
async function readStatus(
  ctx: CommandContext,
  folders: FolderRecord[],
  ids: string[],
): Promise<{ answer: HeldStatus | undefined; fromDiskStatuses: AgentFolderStatus[] }> {
  if (folders.length === 0) return { answer: undefined, fromDiskStatuses: [] };
  for (let attempt = 0; ; attempt++) {
    const answer = await heldStatus(ctx, folders, ids);
    if (answer) return { answer, fromDiskStatuses: [] };
    try {
      return { answer: undefined, fromDiskStatuses: await fromDisk(ctx, folders) };
    } catch (error) {
      const daemonStarted =
        error instanceof AgentError &&
        error.code === "BUSY" &&
        (await syncLockHolder(ctx.home))?.daemon === true;
      if (!daemonStarted || attempt >= 2) throw error;
    }
  }
}

/**
 * What the running daemon says; undefined when no process holds the folders. One that cannot be
 * asked (a daemon still starting, an older weft, or a command such as `sync --once`) is read from
 * the status.json it writes, rather than waited for; `pid` is then set for a daemon only.
 */
async function heldStatus(
  ctx: CommandContext,
  folders: FolderRecord[],
  ids: string[],
): Promise<HeldStatus | undefined> {
  const answer = await askDaemon<StatusAnswer>(ctx.home, { op: "status", folders: ids });
  if (answer !== NO_DAEMON) return answer;
  const holder = await syncLockHolder(ctx.home);
  if (holder === undefined) return undefined;
  const stored = await Promise.all(
    folders.map((f) => readStoredStatus(ctx.home, f).catch(() => undefined)),
  );
  return {
    pid: holder.daemon ? holder.pid : undefined,
    folders: stored.flatMap((s, i) => (s ? [{ ...stoppedStatus(folders[i]!), ...s }] : [])),
  };
}

/** With no daemon: the local state, and what the last run met (problems, clashes) until a run clears it. */
function fromDisk(ctx: CommandContext, folders: FolderRecord[]): Promise<AgentFolderStatus[]> {
  return withFolders(ctx, folders, false, (syncs) =>
    Promise.all(
      syncs.map(async (s) => {
        const now = folderStatus(s);
        const last = await readStoredStatus(ctx.home, s.folder).catch(() => undefined);
        return {
          ...now,
          state: now.removed
            ? ("removed" as const)
            : now.paused !== null
              ? ("paused" as const)
              : ("stopped" as const),
          errors: last?.errors ?? now.errors,
          clashes: last?.clashes ?? now.clashes,
          unportable: last?.unportable ?? now.unportable,
          lastSync: last?.lastSync ?? null,
          lastError: last?.lastError ?? null,
        };
      }),
    ),
  );
}

/** The lines under a folder's name. */
function describe(s: AgentFolderStatus, running: boolean, now: number): string[] {
  const lines: string[] = [];
  if (s.removed)
    lines.push(
      `removed ${formatWhen(s.removed.at, now)}: ${s.removed.reason}; the files here stay as they were, nothing syncs (a new invite joins it again)`,
    );
  else if (s.paused !== null)
    lines.push(
      `paused on this device ${formatWhen(s.paused, now)}: nothing is sent or fetched (weft folder resume PATH)`,
    );
  else if (!running || s.connection === "stopped")
    lines.push(
      `weft sync is not running; ${s.lastSync === null ? "never synced on this device" : `last synced ${formatWhen(s.lastSync, now)}`}`,
    );
  else {
    const since = s.connectionSince === null ? "" : ` since ${formatWhen(s.connectionSince, now)}`;
    lines.push(`${s.connection}${since}`);
    if (s.connection !== "online" && s.lastError)
      lines.push(
        `last problem ${formatWhen(s.lastError.time, now)}: ${inWords(s.lastError.message)}`,
      );
    if (s.connection !== "online" && s.nextRetryAt !== null)
      lines.push(`next try ${formatWhen(s.nextRetryAt, now)}`);
  }
  lines.push(statusLine(s));
  const toSend = s.upload.total - s.upload.done;
  const toGet = s.download.total - s.download.done;
  if (s.pendingOut > 0 || toSend > 0 || toGet > 0)
    lines.push(
      `pending: ${s.pendingOut} change${s.pendingOut === 1 ? "" : "s"} to send, ${toSend} chunk${toSend === 1 ? "" : "s"} to upload, ${toGet} to download`,
    );
  for (const p of s.peers)
    lines.push(
      `peer ${shortDeviceId(p.deviceId as never)}: ${p.online ? "online" : "offline"}, ${p.behind} behind`,
    );
  const queued = s.queued ?? 0;
  if (queued > 0)
    lines.push(
      `${queued} change${queued === 1 ? "" : "s"} waiting for the relay to accept ${queued === 1 ? "it" : "them"} (strong consistency)`,
    );
  // A refused change is listed while it is kept (its notice would say it a second time).
  const refused = s.refused ?? [];
  const told = new Set(refused.map((r) => r.message));
  for (const r of refused) lines.push(`! ${r.message}`);
  for (const e of s.errors.filter((e) => !told.has(`${e.path}: ${e.message}`)).slice(-5))
    lines.push(`! ${e.path ? `${e.path}: ` : ""}${e.message}`);
  for (const c of s.clashes) lines.push(`! names clash on case-insensitive disks: ${c.join(", ")}`);
  for (const u of s.unportable.slice(0, 5)) lines.push(`~ ${u.path}: ${u.problem}`);
  return lines;
}

/** A network error code said for people, with the original kept after it. */
export function inWords(message: string): string {
  const known: [RegExp, string][] = [
    [/ECONNREFUSED/, "the relay refused the connection (is it running?)"],
    [/ENOTFOUND|EAI_AGAIN/, "the relay's host name could not be found"],
    [/ETIMEDOUT|timed? ?out/i, "the relay did not answer in time"],
    [/ECONNRESET|EPIPE|closed/i, "the connection to the relay was cut"],
    [/ENETUNREACH|EHOSTUNREACH/, "no network route to the relay"],
    [/CERT|certificate|TLS/i, "the relay's TLS certificate was not accepted"],
  ];
  const hit = known.find(([re]) => re.test(message));
  return hit ? `${hit[1]}: ${message}` : message;
}
