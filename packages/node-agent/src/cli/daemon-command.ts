/** `weft sync` as a daemon: opens the log, the folders, the control socket (and the dashboard with --ui), and syncs until stopped. */
import { join } from "node:path";
import { ControlServer } from "../control/index.js";
import { AgentError, type FolderRecord } from "../home/index.js";
import type { ConnectionOptions } from "../sync/folder-sync.js";
import { DEFAULT_ROTATION, agentVersion, followFolderLog, openAgentLog } from "../log/index.js";
import type { MetricsServer } from "../metrics/index.js";
import { DaemonFolders, RESCAN_MS, openFolders, runDaemon } from "../sync/run.js";
import type { AgentFolderStatus } from "../sync/status.js";
import { startDashboard } from "../ui/index.js";
import type { CommandContext } from "./command.js";
import { statusLine } from "./format.js";
import { withFolders } from "./open-folders.js";

/** Runs the daemon for `folders` until ctx.signal aborts; `port` serves the dashboard too. */
export async function runSyncDaemon(
  ctx: CommandContext,
  folders: FolderRecord[],
  port: number | undefined,
  connection: ConnectionOptions,
): Promise<Record<string, unknown>> {
  const rescan =
    ctx.values["rescan"] === undefined ? RESCAN_MS / 1000 : Number(ctx.values["rescan"]);
  if (!(rescan > 0)) throw new AgentError("USAGE", "--rescan is a number of seconds above 0");
  const logNames = ctx.values["log-names"] === true;
  const metricsPortText = ctx.values["metrics-port"];
  const metricsPort = metricsPortText === undefined ? undefined : Number(metricsPortText);
  if (
    metricsPort !== undefined &&
    !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)
  )
    throw new AgentError("USAGE", "--metrics-port is a port number (0-65535; 0 picks a free one)");
  const log = openAgentLog({
    dir: join(ctx.home.dir, "logs"),
    // A service manager reads stdout; on a terminal the status line is shown instead. With
    // --json stdout is kept for the one final object.
    toStdout: !process.stdout.isTTY && !ctx.json,
    rotation: {
      maxBytes: positive(ctx.env["WEFT_LOG_MAX_BYTES"], DEFAULT_ROTATION.maxBytes),
      files: positive(ctx.env["WEFT_LOG_FILES"], DEFAULT_ROTATION.files),
    },
    level: ctx.env["WEFT_LOG_LEVEL"] || "info",
  });
  const logger = log.logger;
  try {
    return await withFolders(
      ctx,
      folders,
      true,
      async (syncs, device) => {
        logger.info(
          {
            version: agentVersion(),
            folders: syncs.map((s) => ({
              folderId: s.folder.folderId,
              path: s.folder.path,
              relay: s.folder.relay,
              role: s.folder.role,
            })),
            rescanSeconds: rescan,
            logNames,
            log: log.path,
          },
          "weft sync started",
        );
        ctx.say(`syncing ${syncs.map((s) => s.folder.path).join(", ")} (Ctrl-C to stop)`);
        // The same array withFolders closes at the end: a folder added while running is closed too.
        const folders = new DaemonFolders(syncs);
        // A folder created or joined on the dashboard: opened and synced without a restart.
        const startFolder = async (record: FolderRecord) => {
          if (ctx.signal.aborted) throw new AgentError("INTERRUPTED", "weft sync is stopping");
          const [sync] = await openFolders(ctx.home, device, [record], true, connection);
          await folders.add(sync!);
          logger.info({ folderId: record.folderId, path: record.path }, "folder added");
        };
        let control: ControlServer | undefined;
        try {
          control = await ControlServer.start(ctx.home, syncs);
        } catch (error) {
          // The daemon syncs all the same; other commands then refuse while it runs, as they say.
          logger.warn({ problem: (error as Error).message }, "no control socket");
        }
        const dashboard =
          port === undefined
            ? undefined
            : await startDashboard(ctx.home, device, syncs, { port, folders, startFolder });
        // With --json stdout is kept for the one final object: the URL goes to stderr then.
        // Never into the log: the URL holds the dashboard's access token.
        if (dashboard && ctx.json) process.stderr.write(`dashboard: ${dashboard.url}\n`);
        else if (dashboard) ctx.say(`dashboard: ${dashboard.url}`);
        if (dashboard) logger.info("dashboard served (its URL: weft ui)");
        let metrics: MetricsServer | undefined;
        try {
          // Loaded only when asked for: prom-client is not needed by every weft command.
          metrics =
            metricsPort === undefined
              ? undefined
              : await (await import("../metrics/index.js")).startMetricsServer(syncs, metricsPort);
        } catch (error) {
          await control?.close();
          await dashboard?.close();
          throw error;
        }
        if (metrics) {
          logger.info({ metrics: metrics.url }, "metrics served");
          if (ctx.json) process.stderr.write(`metrics: ${metrics.url}\n`);
          else ctx.say(`metrics: ${metrics.url}`);
        }
        const started = Date.now();
        const rescanMs = rescan * 1000;
        const nextRescanAt = () =>
          started + Math.max(1, Math.ceil((Date.now() - started) / rescanMs)) * rescanMs;
        const unfollow = syncs.map((s) => followFolderLog(logger, s, { logNames, nextRescanAt }));
        unfollow.push(
          folders.onAdd((s) => {
            unfollow.push(followFolderLog(logger, s, { logNames, nextRescanAt }));
          }),
        );
        try {
          await runDaemon(syncs, ctx.home, {
            signal: ctx.signal,
            folders,
            rescanMs,
            ...(ctx.interactive && !ctx.json
              ? {
                  onStatus: (all: AgentFolderStatus[]) =>
                    process.stderr.write(`\r${all.map(statusLine).join("  ")}\x1b[K`),
                }
              : {}),
          });
        } finally {
          for (const stop of unfollow) stop();
          await control?.close();
          await dashboard?.close();
          await metrics?.close();
        }
        logger.info("weft sync stopped");
        if (ctx.interactive && !ctx.json) process.stderr.write("\n");
        return { stopped: true, ...(dashboard ? { dashboard: dashboard.url } : {}) };
      },
      { connection, daemon: true },
    );
  } catch (error) {
    logger.error({ problem: (error as Error).message.split("\n")[0] }, "weft sync failed");
    throw error;
  } finally {
    log.close();
  }
}

/** A positive whole number from the environment, or `fallback`. @throws AgentError USAGE */
function positive(text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new AgentError("USAGE", `not a positive whole number: ${text}`);
  return n;
}
