/** A file's versions for people: history, restore, and conflicts with their resolution; shared by the CLI and the dashboard. */
import type { DeviceId } from "@weft/crypto";
import { type FileId, type VersionSnapshot, versionId as versionIdOf } from "@weft/core";
import { AgentError } from "../home/index.js";
import type { FolderSync } from "./folder-sync.js";

/** One earlier version as `weft history` and the dashboard list it. */
export interface VersionView {
  /** 1 for the newest earlier version (what `weft restore --version N` takes). */
  n: number;
  /** The version's id (`device:counter`), stable across runs. */
  version: string;
  device: DeviceId;
  /** The file's modification time in that version (ms since the epoch). */
  time: number;
  size: number;
  contentHash: string | null;
}

/**
 * The earlier versions of the file at `rel`, or, when no file is there, of the file most
 * recently deleted from there (`deletedId` says which; restoring brings it back).
 * @throws AgentError NOT_FOUND when there is neither
 */
export function versionsOf(
  s: FolderSync,
  rel: string,
): { versions: VersionView[]; deletedId: FileId | undefined } {
  let history: VersionSnapshot[];
  let deletedId: FileId | undefined;
  if (s.replica.stat(rel)) history = s.replica.history(rel);
  else {
    const gone = s.replica.deleted(rel)[0];
    if (!gone)
      throw new AgentError("NOT_FOUND", `${rel} is not in the folder, and was not deleted from it`);
    history = gone.history;
    deletedId = gone.fileId;
  }
  const versions = history.map((v, i) => ({
    n: i + 1,
    version: versionIdOf(v),
    device: v.device,
    time: v.mtime,
    size: v.manifest?.size ?? 0,
    contentHash: v.manifest?.contentHash ?? null,
  }));
  return { versions, deletedId };
}

/**
 * Makes the earlier version `version` of `rel` current again (bringing a deleted file back) and
 * writes it to disk. The replaced version goes to history.
 * @throws AgentError NOT_FOUND when `rel` has no such version
 */
export async function restoreVersion(
  s: FolderSync,
  rel: string,
  version: string,
): Promise<VersionView> {
  const { versions, deletedId } = versionsOf(s, rel);
  const v = versions.find((x) => x.version === version);
  if (!v) throw new AgentError("NOT_FOUND", `${rel} has no earlier version ${version}`);
  if (deletedId) await s.replica.undelete(deletedId, v.version);
  else await s.replica.restore(rel, v.version);
  s.events.emit({
    kind: "restored",
    path: rel,
    detail: `version from ${new Date(v.time).toISOString()}`,
  });
  await s.apply();
  return v;
}

/** One version of a file in conflict: the one shown at its path, or a conflict copy. */
export interface ConflictVersion {
  version: string;
  device: DeviceId;
  /** Whether this device wrote it ("mine"). */
  mine: boolean;
  /** When it was written (ms since the epoch, by its device's clock). */
  time: number;
  size: number;
  /** Where it is on disk: the file's own path for the winner, the conflict copy's otherwise. */
  path: string;
}

/** A file with concurrent versions. */
export interface ConflictView {
  path: string;
  winner: ConflictVersion;
  copies: ConflictVersion[];
}

/** Every file of the folder with concurrent versions. */
export function conflictsOf(s: FolderSync): ConflictView[] {
  const me = s.replica.deviceId;
  return s.replica.conflicts().flatMap((c) => {
    const shown = s.replica.index.stat(c.path)?.version;
    if (!shown) return [];
    const copyOf = (path: string): { size: number } => s.replica.stat(path) ?? { size: 0 };
    return [
      {
        path: c.path,
        winner: {
          version: c.winner,
          device: shown.device,
          mine: shown.device === me,
          time: shown.hlc.wall,
          size: copyOf(c.path).size,
          path: c.path,
        },
        copies: c.copies.map((k) => ({
          version: k.version,
          device: k.device,
          mine: k.device === me,
          time: k.wall,
          size: copyOf(k.path).size,
          path: k.path,
        })),
      },
    ];
  });
}

/**
 * Settles the conflict of `path`: keep one version (the others go to history) or keep both (each
 * copy becomes a file of its own), then writes the result to disk.
 * @throws AgentError NOT_FOUND when `path` has no conflict or no such version
 */
export async function resolveConflict(
  s: FolderSync,
  path: string,
  choice: { keep: string } | { keepBoth: true },
): Promise<void> {
  const conflict = conflictsOf(s).find((c) => c.path === path);
  if (!conflict) throw new AgentError("NOT_FOUND", `${path} has no conflict (any more)`);
  if ("keep" in choice) {
    const all = [conflict.winner, ...conflict.copies];
    if (!all.some((v) => v.version === choice.keep))
      throw new AgentError("NOT_FOUND", `${path} has no version ${choice.keep}`);
  }
  await s.replica.resolveConflict(path, choice);
  s.events.emit({
    kind: "resolved",
    path,
    detail: "keep" in choice ? "kept one version" : "kept both",
  });
  await s.apply();
}
