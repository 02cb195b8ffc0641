/** Opening a command's folders when no daemon holds them: the selection, and the sync lock held while they are open. */
import { ready } from "@weft/crypto";
import { AgentError, type FolderRecord } from "../home/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
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

/** Opens the folders (holding the sync lock) for one command, and closes them after. */
export async function withFolders<T>(
  ctx: CommandContext,
  folders: FolderRecord[],
  online: boolean,
  work: (syncs: FolderSync[]) => Promise<T> | T,
): Promise<T> {
  await ready();
  const device = await ctx.home.device(devicePassphrase(ctx.env));
  return withSyncLock(ctx.home, async () => {
    const syncs = await openFolders(ctx.home, device, folders, online);
    try {
      return await work(syncs);
    } finally {
      await Promise.allSettled(syncs.map((s) => s.close()));
    }
  });
}
