/** The everyday commands: sync (daemon or --once), conflicts, history, restore, gc; status is in status-command.ts. */
import { formatBytes } from "@weft/core";
import { shortDeviceId } from "@weft/crypto";
import {
  type ConflictItem,
  type FileHistory,
  type RestoreResult,
  type SyncReport,
  historyOf,
  listConflicts,
  restoreNth,
  syncUntilDone,
} from "../control/index.js";
import { AgentError } from "../home/index.js";
import type { Command, CommandContext } from "./command.js";
import { runSyncDaemon } from "./daemon-command.js";
import { needStopped, viaDaemon } from "./daemon-link.js";
import { progressRecord, statusLine } from "./format.js";
import { connectionOptions, selected, withFolders } from "./open-folders.js";
import { statusCommand } from "./status-command.js";

const sync: Command = {
  name: "sync",
  args: "[PATH ...]",
  arity: [0, Infinity],
  summary:
    "Syncs folders: watches them and stays running until stopped (Ctrl-C), or with --once\n" +
    "syncs until nothing is pending either way and exits 0.",
  details:
    "Without PATH, every folder of this device. One `weft sync` runs per WEFT_HOME; while it runs,\n" +
    "status, conflicts, history, restore and sync --once go through it (its control socket,\n" +
    "WEFT_HOME/sync.sock). --rescan SECONDS sets the full rescan period (default 3600: the\n" +
    "watcher reports changes; a folder whose watcher fails rescans every 60 s).\n" +
    "--timeout SECONDS (with --once) gives up after that long, exit 1, naming the last problem.\n" +
    "With --once, a strong folder's change refused on the way (the file changed elsewhere first;\n" +
    "kept, see weft refused) exits 3.\n" +
    "The daemon reconnects by itself for as long as it runs, waiting at most --reconnect-max\n" +
    "SECONDS between attempts (env WEFT_RECONNECT_MAX; default 2). A relay silent for\n" +
    "--keepalive SECONDS is pinged, and after twice that the connection is replaced\n" +
    "(env WEFT_KEEPALIVE; default 15).\n" +
    "The daemon logs JSON lines to WEFT_HOME/logs/weft.log (10 MiB x 5 files, rotated), and to\n" +
    "stdout too when stdout is not a terminal (and not --json): start, connects and disconnects\n" +
    "with the reason, what moved (counts and bytes), every problem with its next try. File names\n" +
    "only with --log-names. WEFT_LOG_MAX_BYTES, WEFT_LOG_FILES and WEFT_LOG_LEVEL change that.\n" +
    "--ui also serves the dashboard on 127.0.0.1 and prints its URL (with a new access token\n" +
    "each start); --port P picks its port (default: a free one). weft ui does this for every folder.\n" +
    "--metrics-port P serves Prometheus metrics on http://127.0.0.1:P/metrics (files, bytes,\n" +
    "pending, conflicts, connection, last sync per folder; 0: a free port, printed at start).",
  example: "weft sync --once ~/shared --json\n  weft sync --ui --port 8800",
  flags: {
    once: { type: "boolean", description: "sync until nothing is pending, then exit 0" },
    rescan: {
      type: "string",
      value: "SECONDS",
      description: "full rescan period of the daemon (default 3600)",
    },
    timeout: {
      type: "string",
      value: "SECONDS",
      description: "with --once: give up after that long, exit 1 (default: never)",
    },
    ui: { type: "boolean", description: "also serve the dashboard on 127.0.0.1" },
    port: { type: "string", value: "P", description: "with --ui: its port (default: a free one)" },
    "log-names": { type: "boolean", description: "put file names in the log" },
    "reconnect-max": {
      type: "string",
      value: "SECONDS",
      env: "WEFT_RECONNECT_MAX",
      description: "longest wait between reconnect attempts (default 2)",
    },
    keepalive: {
      type: "string",
      value: "SECONDS",
      env: "WEFT_KEEPALIVE",
      description: "ping a relay silent this long; replace it after twice that (default 15)",
    },
    "metrics-port": {
      type: "string",
      value: "P",
      description: "serve this daemon's Prometheus metrics on 127.0.0.1:P (0: a free port)",
    },
  },
  run: async (ctx) => {
    const port = dashboardPort(ctx);
    if (ctx.values["once"] && ctx.values["metrics-port"] !== undefined)
      throw new AgentError("USAGE", "--metrics-port goes with the daemon, not --once");
    const connection = connectionOptions(ctx);
    const folders = await selected(ctx, ctx.positionals);
    if (!ctx.values["once"]) return runSyncDaemon(ctx, folders, port, connection);
    if (ctx.values["log-names"]) throw new AgentError("USAGE", "--log-names goes with the daemon");
    const timeout = ctx.values["timeout"] === undefined ? 0 : Number(ctx.values["timeout"]);
    if (!(timeout >= 0)) throw new AgentError("USAGE", "--timeout is a number of seconds");
    const folderIds = folders.map((f) => f.folderId);
    const report =
      (await viaDaemon<SyncReport>(ctx, { op: "sync", folders: folderIds, timeout })) ??
      (await withFolders(
        ctx,
        folders,
        true,
        async (syncs) => {
          // On a terminal, a status line redrawn in place; with --json, one JSON line per
          // second on stderr (stdout keeps the one final object), the first one at once.
          const jsonLine = () =>
            process.stderr.write(
              `${JSON.stringify({ progress: syncs.map((s) => progressRecord(s.status())) })}\n`,
            );
          if (ctx.json) jsonLine();
          const progress = ctx.json
            ? setInterval(jsonLine, 1000)
            : ctx.interactive
              ? setInterval(() => {
                  process.stderr.write(
                    `\r${syncs.map((s) => statusLine(s.status())).join("  ")}\x1b[K`,
                  );
                }, 250)
              : undefined;
          try {
            return await syncUntilDone(ctx.home, syncs, timeout);
          } finally {
            if (progress) {
              clearInterval(progress);
              if (!ctx.json) process.stderr.write("\r\x1b[K");
            }
          }
        },
        { connection },
      ));
    for (const s of report.folders)
      ctx.say(
        `${s.path}: in sync (${s.files} files, ${formatBytes(s.bytesUploaded)} up, ${formatBytes(s.bytesDownloaded)} down)`,
      );
    return { ...report };
  },
};

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
  details:
    "Resolve one with the files: delete the copy to keep the file as it is (the copy's version\n" +
    "stays in the file's history: weft history, weft restore); rename or edit the copy to keep it\n" +
    "as a file of its own; move the copy over the file to keep its version there. Every device\n" +
    "follows on its next sync. The dashboard (weft ui) has Keep mine / Keep theirs / Keep both.\n" +
    "Works while weft sync runs (it answers through its control socket).",
  example: "weft conflicts ~/shared --json",
  flags: {},
  run: async (ctx) => {
    const folders = await selected(ctx, ctx.positionals);
    const list =
      (await viaDaemon<ConflictItem[]>(ctx, {
        op: "conflicts",
        folders: folders.map((f) => f.folderId),
      })) ?? (await withFolders(ctx, folders, false, listConflicts));
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
  details:
    "For a deleted file, name the path it had: its versions are listed the same way.\n" +
    "Works while weft sync runs (it answers through its control socket).",
  example: "weft history ~/shared/notes.txt --json",
  flags: {},
  run: async (ctx) => {
    const all = await ctx.home.folders();
    const { folder, rel } = ctx.home.folderOf(all, ctx.positionals[0]!);
    const { path, deleted, versions } =
      (await viaDaemon<FileHistory>(ctx, {
        op: "history",
        folder: folder.folderId,
        path: rel,
      })) ?? (await withFolders(ctx, [folder], false, ([s]) => historyOf(s!, rel)));
    if (deleted) ctx.say(`${rel} was deleted; weft restore brings back the version you pick`);
    versions.forEach((v) =>
      ctx.say(
        `${v.n}. ${new Date(v.time).toISOString()}  ${formatBytes(v.size)}  from ${shortDeviceId(v.device)}`,
      ),
    );
    if (versions.length === 0) ctx.say("no earlier versions");
    return { path, deleted, versions };
  },
};

const restore: Command = {
  name: "restore",
  args: "FILE",
  summary:
    "Makes an earlier version of FILE current again (default: the newest earlier one) and writes it.",
  details:
    "--version N takes the number `weft history` shows. The replaced version goes to history.\n" +
    "A deleted file comes back the same way: name the path it had.\n" +
    "While weft sync runs, it restores through that process, which also sends it.",
  example: "weft restore ~/shared/notes.txt --version 2",
  flags: {
    version: {
      type: "string",
      value: "N",
      description: "the version number weft history shows (default 1, the newest earlier one)",
    },
  },
  run: async (ctx) => {
    const all = await ctx.home.folders();
    const { folder, rel } = ctx.home.folderOf(all, ctx.positionals[0]!);
    const n = ctx.values["version"] === undefined ? 1 : Number(ctx.values["version"]);
    if (!Number.isInteger(n) || n < 1)
      throw new AgentError("USAGE", "--version is a number from weft history");
    const viaSync = await viaDaemon<RestoreResult>(ctx, {
      op: "restore",
      folder: folder.folderId,
      path: rel,
      version: n,
    });
    const result =
      viaSync ?? (await withFolders(ctx, [folder], true, ([s]) => restoreNth(s!, rel, n)));
    if (result.sent) ctx.say(`restored ${rel} to version ${n} and sent it`);
    else
      ctx.say(
        `restored here; not sent yet (${result.problem ?? "not connected"}); ${viaSync ? "weft sync sends it once it reconnects" : "the next weft sync sends it"}`,
      );
    return { path: result.path, restored: result.restored, sent: result.sent };
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
export const syncCommands: Command[] = [sync, statusCommand, conflicts, history, restore, gc];
