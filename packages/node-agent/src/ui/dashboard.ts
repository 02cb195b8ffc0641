/**
 * The dashboard as part of a running `weft sync`: starts the server and records its URL in
 * WEFT_HOME/ui.json (0600, removed on exit), so `weft ui` can print it and other commands can
 * point to it.
 */
import { rm } from "node:fs/promises";
import type { DeviceIdentity } from "@weft/crypto";
import { join } from "node:path";
import { type Home, processAlive, readJson, writeJsonPrivate } from "../home/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import { type DaemonFolders, runningSync } from "../sync/run.js";
import type { StartFolder } from "./folders-api.js";
import { DashboardServer } from "./server.js";

/** What WEFT_HOME/ui.json holds while a daemon serves the dashboard. */
export interface DashboardFile {
  pid: number;
  /** The URL with the token: whoever can read this file can open the dashboard. */
  url: string;
  token: string;
}

function dashboardPath(home: Home): string {
  return join(home.dir, "ui.json");
}

/** A dashboard being served by this process. */
export interface RunningDashboard {
  url: string;
  /** Stops the server and removes ui.json. */
  close(): Promise<void>;
}

/** Serves the dashboard for `syncs` of `identity` on 127.0.0.1 and records its URL in ui.json. */
export async function startDashboard(
  home: Home,
  identity: DeviceIdentity,
  syncs: readonly FolderSync[],
  options: { port?: number; folders?: DaemonFolders; startFolder?: StartFolder } = {},
): Promise<RunningDashboard> {
  const server = await DashboardServer.start({
    syncs,
    home,
    identity,
    port: options.port ?? 0,
    ...(options.folders ? { folders: options.folders } : {}),
    ...(options.startFolder ? { startFolder: options.startFolder } : {}),
  });
  try {
    await writeJsonPrivate(dashboardPath(home), {
      pid: process.pid,
      url: server.url,
      token: server.token,
    } satisfies DashboardFile);
  } catch (error) {
    await server.close();
    throw error;
  }
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await rm(dashboardPath(home), { force: true });
    },
  };
}

/**
 * The dashboard of this home's running `weft sync`, if it serves one. A file left by a killed
 * process, or by a process that is not the running sync, does not count.
 */
export async function runningDashboard(home: Home): Promise<DashboardFile | undefined> {
  const file = await readJson<DashboardFile>(dashboardPath(home)).catch(() => undefined);
  if (!file || typeof file.url !== "string" || !processAlive(file.pid)) return undefined;
  return (await runningSync(home)) === file.pid ? file : undefined;
}
