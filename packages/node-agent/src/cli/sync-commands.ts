/** The everyday commands: sync (daemon or --once), status, conflicts, history, restore. */
import { ready, shortDeviceId } from "@weft/crypto";
import { AgentError, type FolderRecord } from "../home/index.js";
import type { ConnectionOptions, FolderStatus, FolderSync } from "../sync/folder-sync.js";
import {
  openFolders,
  readStoredStatus,
  runDaemon,
  runningSync,
  syncLockHolder,
  withSyncLock,
  writeStatus,
} from "../sync/run.js";
import { restoreVersion, versionsOf } from "../sync/versions.js";
import { runningDashboard, startDashboard } from "../ui/index.js";
import type { Command, CommandContext } from "./command.js";
import { devicePassphrase } from "./prompt.js";
import { formatBytes, statusLine } from "./format.js";

async function selected(ctx: CommandContext, paths: string[]): Promise<FolderRecord[]> {
  const folders = await ctx.home.selectFolders(paths);
  if (folders.length === 0)
    throw new AgentError(
      "NOT_READY",
      "no synced folders yet; run: weft folder create PATH (or folder join)",
    );
  return folders;
}

/** Opens the folders (holding the sync lock) for one command, and closes them after. */
async function withFolders<T>(
  ctx: CommandContext,
  folders: FolderRecord[],
  online: boolean,
  work: (syncs: FolderSync[]) => Promise<T> | T,
  options: { connection?: ConnectionOptions; daemon?: boolean } = {},
): Promise<T> {
  await ready();
  const device = await ctx.home.device(devicePassphrase(ctx.env));
  return withSyncLock(
    ctx.home,
    async () => {
      // Only the daemon waits out a full WEFT_HOME; a command fails and is run again.
      const connection = {
        ...options.connection,
        ...(options.daemon ? {} : { diskFullWaitMs: 0 }),
      };
      const syncs = await openFolders(ctx.home, device, folders, online, connection);
      try {
        return await work(syncs);
      } finally {
        await Promise.allSettled(syncs.map((s) => s.close()));
      }
    },
    options.daemon ? "daemon" : "command",
    (holder) =>
      process.stderr.write(`waiting for another weft command (pid ${holder.pid}) to finish\n`),
  );
}

const sync: Command = {
  name: "sync",
  args: "[PATH ...]",
  arity: [0, Infinity],
  summary:
    "Syncs folders: watches them and stays running until stopped (Ctrl-C), or with --once\n" +
    "syncs until nothing is pending either way and exits 0.",
  details:
    "Without PATH, every folder of this device. One `weft sync` runs per WEFT_HOME; `weft status`\n" +
    "reads what it reports. --rescan SECONDS sets the full rescan period (default 60).\n" +
    "--timeout SECONDS (with --once) gives up after that long, exit 1, naming the last problem.\n" +
    "The daemon reconnects by itself for as long as it runs, waiting at most --reconnect-max\n" +
    "SECONDS between attempts (env WEFT_RECONNECT_MAX; default 2). A relay silent for\n" +
    "--keepalive SECONDS is pinged, and after twice that the connection is replaced\n" +
    "(env WEFT_KEEPALIVE; default 15).\n" +
    "--ui also serves the dashboard on 127.0.0.1 and prints its URL (with a new access token\n" +
    "each start); --port P picks its port (default: a free one). weft ui does this for every folder.",
  example: "weft sync --once ~/shared --json\n  weft sync --ui --port 8800",
  flags: {
    once: { type: "boolean" },
    rescan: { type: "string" },
    timeout: { type: "string" },
    ui: { type: "boolean" },
    port: { type: "string" },
    "reconnect-max": { type: "string" },
    keepalive: { type: "string" },
  },
  run: async (ctx) => {
    const port = dashboardPort(ctx);
    const connection = connectionOptions(ctx);
    const folders = await selected(ctx, ctx.positionals);
    return withFolders(
      ctx,
      folders,
      true,
      async (syncs) => {
        if (ctx.values["once"]) {
          const started = Date.now();
          const progress =
            ctx.interactive && !ctx.json
              ? setInterval(() => {
                  process.stderr.write(
                    `\r${syncs.map((s) => statusLine(s.status())).join("  ")}\x1b[K`,
                  );
                }, 250)
              : undefined;
          const timeout = ctx.values["timeout"] === undefined ? 0 : Number(ctx.values["timeout"]);
          if (!(timeout >= 0)) throw new AgentError("USAGE", "--timeout is a number of seconds");
          let timer: NodeJS.Timeout | undefined;
          try {
            const done = Promise.all(syncs.map((s) => s.syncOnce()));
            if (timeout === 0) await done;
            else
              await Promise.race([
                done,
                new Promise((_, reject) => {
                  timer = setTimeout(() => reject(notInSync(syncs, timeout)), timeout * 1000);
                }),
              ]);
          } catch (error) {
            await writeStatus(ctx.home, syncs).catch(() => undefined);
            throw error;
          } finally {
            clearTimeout(timer);
            if (progress) {
              clearInterval(progress);
              process.stderr.write("\r\x1b[K");
            }
          }
          const statuses = await writeStatus(ctx.home, syncs);
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
          for (const s of statuses)
            ctx.say(
              `${s.path}: in sync (${s.files} files, ${formatBytes(s.bytesUploaded)} up, ${formatBytes(s.bytesDownloaded)} down)`,
            );
          return { folders: statuses, ms: Date.now() - started };
        }
        const rescan = ctx.values["rescan"] === undefined ? 60 : Number(ctx.values["rescan"]);
        if (!(rescan > 0)) throw new AgentError("USAGE", "--rescan is a number of seconds above 0");
        ctx.say(`syncing ${syncs.map((s) => s.folder.path).join(", ")} (Ctrl-C to stop)`);
        const dashboard =
          port === undefined ? undefined : await startDashboard(ctx.home, syncs, { port });
        // With --json stdout is kept for the one final object: the URL goes to stderr then.
        if (dashboard && ctx.json) process.stderr.write(`dashboard: ${dashboard.url}\n`);
        else if (dashboard) ctx.say(`dashboard: ${dashboard.url}`);
        try {
          await runDaemon(syncs, ctx.home, {
            signal: ctx.signal,
            rescanMs: rescan * 1000,
            ...(ctx.interactive && !ctx.json
              ? {
                  onStatus: (all: FolderStatus[]) =>
                    process.stderr.write(`\r${all.map(statusLine).join("  ")}\x1b[K`),
                }
              : {}),
          });
        } finally {
          await dashboard?.close();
        }
        if (ctx.interactive && !ctx.json) process.stderr.write("\n");
        return { stopped: true, ...(dashboard ? { dashboard: dashboard.url } : {}) };
      },
      { connection, daemon: !ctx.values["once"] },
    );
  },
};

/** `--reconnect-max` and `--keepalive` (or their environment variables), in ms. @throws AgentError USAGE */
function connectionOptions(ctx: CommandContext): ConnectionOptions {
  const seconds = (flag: string, env: string): number | undefined => {
    const text = (ctx.values[flag] as string | undefined) ?? ctx.env[env];
    if (text === undefined || text === "") return undefined;
    const n = Number(text);
    if (!(n > 0) || n > 86_400)
      throw new AgentError("USAGE", `--${flag} (${env}) is a number of seconds above 0`);
    return n * 1000;
  };
  const reconnectMaxMs = seconds("reconnect-max", "WEFT_RECONNECT_MAX");
  const keepaliveMs = seconds("keepalive", "WEFT_KEEPALIVE");
  return {
    ...(reconnectMaxMs !== undefined ? { reconnectMaxMs } : {}),
    ...(keepaliveMs !== undefined ? { keepaliveMs } : {}),
  };
}

const status: Command = {
  name: "status",
  args: "[PATH]",
  summary:
    "Shows each folder: state, pending items each way, transfers, peers and how far behind, problems.",
  details:
    "While `weft sync` runs it shows what that process reports; otherwise it reads the local state.",
  example: "weft status --json",
  flags: {},
  run: async (ctx) => {
    const folders = await ctx.home.selectFolders(ctx.positionals);
    // Another process holds the state (the daemon, or a `sync --once`): show what it reports
    // rather than wait for it.
    const holder = await syncLockHolder(ctx.home);
    const pid = holder?.daemon ? holder.pid : undefined;
    let statuses: (FolderStatus & { updated?: number })[];
    if (holder !== undefined) {
      statuses = [];
      for (const f of folders) {
        const s = await readStoredStatus(ctx.home, f);
        statuses.push(s ?? offlineStatus(f));
      }
    } else if (folders.length === 0) statuses = [];
    else
      statuses = await withFolders(ctx, folders, false, async (syncs) =>
        Promise.all(
          syncs.map(async (s) => {
            const now = s.status();
            const last = await readStoredStatus(ctx.home, s.folder);
            // What the last run met (problems, clashes) stays visible until a run clears it.
            return {
              ...now,
              errors: last?.errors ?? now.errors,
              clashes: last?.clashes ?? now.clashes,
              unportable: last?.unportable ?? now.unportable,
              lastSync: last?.lastSync ?? null,
            };
          }),
        ),
      );
    for (const s of statuses) {
      ctx.say(`${s.path}  [${s.folderId}]`);
      ctx.say(`  ${statusLine(s)}`);
      for (const p of s.peers)
        ctx.say(
          `  peer ${shortDeviceId(p.deviceId as never)}: ${p.online ? "online" : "offline"}, ${p.behind} behind`,
        );
      for (const e of s.errors.slice(-5)) ctx.say(`  ! ${e.path ? `${e.path}: ` : ""}${e.message}`);
      for (const c of s.clashes)
        ctx.say(`  ! names clash on case-insensitive disks: ${c.join(", ")}`);
      for (const u of s.unportable.slice(0, 5)) ctx.say(`  ~ ${u.path}: ${u.problem}`);
    }
    if (folders.length === 0) ctx.say("no synced folders yet; run: weft folder create PATH");
    return { daemon: pid ?? null, folders: statuses };
  },
};

function notInSync(syncs: FolderSync[], seconds: number): AgentError {
  const last = syncs
    .flatMap((s) => s.errors)
    .sort((a, b) => a.time - b.time)
    .at(-1);
  return new AgentError(
    "RELAY",
    `not in sync after ${seconds} s${last ? `; last problem: ${last.path ? `${last.path}: ` : ""}${last.message}` : ""}`,
  );
}

const idle = { done: 0, total: 0, bytes: 0, rate: 0, eta: null };

function offlineStatus(f: FolderRecord): FolderStatus {
  return {
    folderId: f.folderId,
    path: f.path,
    state: "offline",
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
  };
}

/** Refuses commands that need the replica while `weft sync` holds it. */
async function needStopped(ctx: CommandContext): Promise<void> {
  const pid = await runningSync(ctx.home);
  if (pid === undefined) return;
  const dashboard = await runningDashboard(ctx.home);
  throw new AgentError(
    "BUSY",
    dashboard
      ? `weft sync is running (pid ${pid}); its dashboard can do this: ${dashboard.url} (or stop it, then run this again)`
      : `weft sync is running (pid ${pid}); stop it first, then run this again`,
  );
}

/** The dashboard's port for `weft sync --ui [--port P]`; undefined without --ui. @throws AgentError USAGE */
function dashboardPort(ctx: CommandContext): number | undefined {
  const port = ctx.values["port"];
  if (!ctx.values["ui"]) {
    if (port !== undefined) throw new AgentError("USAGE", "--port goes with --ui");
    return undefined;
  }
  if (ctx.values["once"]) throw new AgentError("USAGE", "--ui runs with the daemon, not --once");
  const n = port === undefined ? 0 : Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new AgentError(
      "USAGE",
      "--port is a port number (1-65535), or leave it out for a free one",
    );
  return n;
}

const conflicts: Command = {
  name: "conflicts",
  args: "[PATH]",
  summary:
    "Lists files with concurrent versions: the version shown, and the conflict copies beside it.",
  details: "Resolve one by keeping the file you want and deleting the copy; both stay in history.",
  example: "weft conflicts ~/shared --json",
  flags: {},
  run: async (ctx) => {
    await needStopped(ctx);
    const folders = await selected(ctx, ctx.positionals);
    const list = await withFolders(ctx, folders, false, (syncs) =>
      syncs.flatMap((s) =>
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
      ),
    );
    for (const c of list) {
      ctx.say(`${c.folder}/${c.path}`);
      for (const k of c.copies)
        ctx.say(
          `  copy ${k.path} from ${shortDeviceId(k.device)} at ${new Date(k.time).toISOString()}`,
        );
    }
    if (list.length === 0) ctx.say("no conflicts");
    return { conflicts: list };
  },
};

const history: Command = {
  name: "history",
  args: "FILE",
  summary:
    "Lists a file's earlier versions, newest first, numbered for `weft restore --version N`.",
  details: "For a deleted file, name the path it had: its versions are listed the same way.",
  example: "weft history ~/shared/notes.txt --json",
  flags: {},
  run: async (ctx) => {
    await needStopped(ctx);
    const all = await ctx.home.folders();
    const { folder, rel } = ctx.home.folderOf(all, ctx.positionals[0]!);
    const { versions, deletedId } = await withFolders(ctx, [folder], false, ([s]) =>
      versionsOf(s!, rel),
    );
    if (deletedId) ctx.say(`${rel} was deleted; weft restore brings back the version you pick`);
    versions.forEach((v) =>
      ctx.say(
        `${v.n}. ${new Date(v.time).toISOString()}  ${formatBytes(v.size)}  from ${shortDeviceId(v.device)}`,
      ),
    );
    if (versions.length === 0) ctx.say("no earlier versions");
    return { path: rel, deleted: deletedId !== undefined, versions };
  },
};

const restore: Command = {
  name: "restore",
  args: "FILE",
  summary:
    "Makes an earlier version of FILE current again (default: the newest earlier one) and writes it.",
  details:
    "--version N takes the number `weft history` shows. The replaced version goes to history.\n" +
    "A deleted file comes back the same way: name the path it had.",
  example: "weft restore ~/shared/notes.txt --version 2",
  flags: { version: { type: "string" } },
  run: async (ctx) => {
    await needStopped(ctx);
    const all = await ctx.home.folders();
    const { folder, rel } = ctx.home.folderOf(all, ctx.positionals[0]!);
    const n = ctx.values["version"] === undefined ? 1 : Number(ctx.values["version"]);
    if (!Number.isInteger(n) || n < 1)
      throw new AgentError("USAGE", "--version is a number from weft history");
    return withFolders(ctx, [folder], true, async ([s]) => {
      const { versions } = versionsOf(s!, rel);
      const v = versions[n - 1];
      if (!v)
        throw new AgentError(
          "NOT_FOUND",
          `${rel} has ${versions.length} earlier versions, not ${n}`,
        );
      await restoreVersion(s!, rel, v.version);
      let sent = true;
      try {
        await s!.syncOnce();
      } catch (error) {
        sent = false;
        ctx.say(
          `restored here; not sent yet (${(error as Error).message}); the next weft sync sends it`,
        );
      }
      if (sent) ctx.say(`restored ${rel} to version ${n} and sent it`);
      return { path: rel, restored: v, sent };
    });
  },
};

const gc: Command = {
  name: "gc",
  args: "[PATH]",
  summary: "Frees space on the relay: deletes chunks no version references any more (owners only).",
  details:
    "Versions that fell out of history and uploads never committed leave chunks behind. This syncs\n" +
    "first, then asks the relay to delete the unreferenced ones; chunks used within the relay's\n" +
    "grace period (--gc-grace, default an hour) are kept, as another device may be writing them.",
  example: "weft gc ~/shared --json",
  flags: {},
  run: async (ctx) => {
    await needStopped(ctx);
    const folders = await selected(ctx, ctx.positionals);
    const notOwned = folders.find((f) => f.role !== "owner");
    if (notOwned)
      throw new AgentError(
        "AUTH",
        `only a folder's owner can collect its garbage; this device is ${notOwned.role} of ${notOwned.path}`,
      );
    return withFolders(ctx, folders, true, async (syncs) => {
      const reports = [];
      for (const s of syncs) {
        const report = await s.replica.collectGarbage();
        ctx.say(
          `${s.folder.path}: ${report.deleted} chunks deleted, ${report.kept} kept (used recently), ${report.live} in use`,
        );
        reports.push({ folderId: s.folder.folderId, path: s.folder.path, ...report });
      }
      return { folders: reports };
    });
  },
};

/** `weft sync` (also run by `weft ui`). */
export const syncCommand = sync;

/** The everyday commands. */
export const syncCommands: Command[] = [sync, status, conflicts, history, restore, gc];
