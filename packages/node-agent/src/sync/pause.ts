/**
 * A folder paused on this device (`weft folder pause`, the dashboard's Pause): nothing is
 * uploaded or downloaded, scanned or written until it is resumed. Kept in the folder's state
 * under WEFT_HOME beside the selection, so it is this device's alone and holds across restarts.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { FolderId } from "@weft/crypto";
import { AgentError, type Home, readJson, writeJsonPrivate } from "../home/index.js";

/** The name of the pause file in the folder's state directory (absent: the folder syncs). */
export const PAUSE_FILE = "paused.json";

/** What the pause file holds: since when the folder is paused (ms since the epoch). */
export interface Pause {
  since: number;
}

function pausePath(home: Home, folderId: FolderId): string {
  return join(home.folderDir(folderId), PAUSE_FILE);
}

/**
 * Whether `folderId` is paused on this device, and since when.
 * @throws AgentError STATE when the file is there but not a pause (edited by hand)
 */
export async function loadPause(home: Home, folderId: FolderId): Promise<Pause | undefined> {
  const file = pausePath(home, folderId);
  const raw = await readJson<{ since?: unknown } | null>(file);
  if (raw === undefined) return undefined;
  const since = raw?.since;
  if (typeof since !== "number" || !Number.isFinite(since))
    throw new AgentError(
      "STATE",
      `${file} is not a pause ({"since": time}); remove it to resume the folder`,
    );
  return { since };
}

/** Pauses (`paused`) or resumes `folderId` on this device; pausing a paused folder keeps its time. */
export async function savePause(
  home: Home,
  folderId: FolderId,
  paused: boolean,
  now = Date.now(),
): Promise<Pause | undefined> {
  if (!paused) {
    await rm(pausePath(home, folderId), { force: true });
    return undefined;
  }
  const known = await loadPause(home, folderId).catch(() => undefined);
  if (known) return known;
  const pause = { since: now };
  await writeJsonPrivate(pausePath(home, folderId), pause);
  return pause;
}
