/** Opening a command's folders when no daemon holds them: the selection, and the sync lock held while they are open. */
import { type DeviceIdentity, ready } from "@weft/crypto";
import { AgentError, type FolderRecord } from "../home/index.js";
import type { ConnectionOptions, FolderSync } from "../sync/folder-sync.js";
import { openFolders, withSyncLock } from "../sync/run.js";
import type { CommandContext } from "./command.js";
import { devicePassphrase } from "./prompt.js";

/** The folders named by `paths` (all without any). @throws AgentError NOT_READY when there are none */
export async function selected(ctx: CommandContext, paths: string[]): Promise<FolderRecord[]> {
  const folders = await ctx.home.selectFolders(paths);
  if (folders.length === 0)
    throw new AgentError(
      "NOT_READY",
      "no synced folders yet; run: weft folder create PATH (or folder join)",
    );
  return folders;
}

/**
 * Opens the folders (holding the sync lock) for one command, and closes them after. A command
 * waits (saying so) while another command holds the lock; a daemon holding it is refused.
 */
export async function withFolders<T>(
  ctx: CommandContext,
  folders: FolderRecord[],
  online: boolean,
  work: (syncs: FolderSync[], device: DeviceIdentity) => Promise<T> | T,
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
        return await work(syncs, device);
      } finally {
        await Promise.allSettled(syncs.map((s) => s.close()));
      }
    },
    options.daemon ? "daemon" : "command",
    (holder) =>
      process.stderr.write(`waiting for another weft command (pid ${holder.pid}) to finish\n`),
  );
}

/** `--reconnect-max` and `--keepalive` (or their environment variables), in ms. @throws AgentError USAGE */
export function connectionOptions(ctx: CommandContext): ConnectionOptions {
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
