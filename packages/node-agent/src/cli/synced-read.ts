/**
 * `weft ls`, `get`, `refused` and `reapply` on a folder this device syncs: they use the synced
 * folder's own replica (its index, its chunk cache, the relay for what is not here), so a file
 * left out of the selection (`weft folder select`) can be fetched alone, and a strong folder's
 * refused changes are the ones its sync made. A running `weft sync` does it through its control
 * socket; otherwise the folder is opened here under the sync lock.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { FolderId } from "@weft/crypto";
import type { FolderRecord } from "../home/index.js";
import {
  type GetResult,
  type ReapplyResult,
  type RefusedList,
  readFileOf,
  reapplyRefused,
  refusedOf,
} from "../control/actions.js";
import { type EntryJson, listEntries } from "../remote/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import type { CommandContext } from "./command.js";
import { viaDaemon } from "./daemon-link.js";
import { withFolders } from "./open-folders.js";

/** The folder's record when `weft sync` syncs `folderId` on this device (not removed by the relay). */
export async function syncedFolder(
  ctx: CommandContext,
  folderId: FolderId,
): Promise<FolderRecord | undefined> {
  const record = (await ctx.home.folders()).find((f) => f.folderId === folderId);
  return record && !record.removed ? record : undefined;
}

/** DIR's entries in the synced folder's index (no relay needed). */
export async function lsSynced(
  ctx: CommandContext,
  record: FolderRecord,
  dir: string,
  recursive: boolean,
): Promise<EntryJson[]> {
  const folder = record.folderId;
  return (
    (await viaDaemon<EntryJson[]>(ctx, { op: "ls", folder, path: dir, recursive })) ??
    (await withFolders(ctx, [record], false, ([s]) =>
      listEntries(s!.replica, folder, dir, recursive),
    ))
  );
}

/** Reads `path` of the synced folder into `out` (a file, or stdout for `-`). */
export async function getSynced(
  ctx: CommandContext,
  record: FolderRecord,
  path: string,
  out: string,
): Promise<GetResult> {
  const folder = record.folderId;
  const here = (s: FolderSync) => readFileOf(s, path, out, ctx.signal);
  if (out !== "-")
    return (
      (await viaDaemon<GetResult>(ctx, { op: "get", folder, path, out })) ??
      (await withFolders(ctx, [record], true, ([s]) => here(s!)))
    );
  // The daemon writes a private temporary file, streamed out here: the control socket carries
  // JSON lines, not file content.
  const dir = await mkdtemp(join(tmpdir(), "weft-get-"));
  try {
    const file = join(dir, "content");
    const viaSync = await viaDaemon<GetResult>(ctx, { op: "get", folder, path, out: file });
    if (!viaSync) return await withFolders(ctx, [record], true, ([s]) => here(s!));
    await pipeline(createReadStream(file), process.stdout, { end: false });
    return viaSync;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A synced strong folder's changes made here and refused (no relay needed). */
export async function refusedSynced(
  ctx: CommandContext,
  record: FolderRecord,
): Promise<RefusedList> {
  return (
    (await viaDaemon<RefusedList>(ctx, { op: "refused", folder: record.folderId })) ??
    (await withFolders(ctx, [record], false, ([s]) => refusedOf(s!)))
  );
}

/**
 * Writes a synced strong folder's refused change `id` again on top (or drops it): the folder on
 * disk follows, through the running `weft sync` or a sync here.
 */
export async function reapplySynced(
  ctx: CommandContext,
  record: FolderRecord,
  id: string,
  discard: boolean,
): Promise<ReapplyResult> {
  const request = { op: "reapply", folder: record.folderId, change: id, discard } as const;
  return (
    (await viaDaemon<ReapplyResult>(ctx, request)) ??
    (await withFolders(ctx, [record], true, ([s]) => reapplyRefused(s!, id, discard)))
  );
}
