/**
 * What the page is told about each folder. Built field by field from public facts only (status,
 * peers by device id, conflicts, activity): never the folder key, a secret key, a relay token or
 * the dashboard token, so adding a field to an internal type cannot leak it here by accident.
 */
import { shortDeviceId } from "@weft/crypto";
import type { ActivityEvent } from "../activity/index.js";
import type { FolderStatus, FolderSync } from "../sync/folder-sync.js";
import { type ConflictVersion, conflictsOf } from "../sync/versions.js";

/** A version in conflict, with its device's short id for people. */
export type VersionCard = ConflictVersion & { short: string };

/** One folder's card on the page. */
export interface FolderView {
  folderId: string;
  path: string;
  name: string;
  role: string;
  status: Omit<FolderStatus, "peers" | "folderId" | "path">;
  peers: { deviceId: string; short: string; online: boolean; lastSeen: number; behind: number }[];
  conflicts: { path: string; winner: VersionCard; copies: VersionCard[] }[];
  activity: ActivityEvent[];
}

/** Everything the page shows, pushed as one server-sent event. */
export interface DashboardView {
  device: { id: string; short: string };
  folders: FolderView[];
  time: number;
}

function short(device: string): string {
  return shortDeviceId(device as never);
}

function folderView(s: FolderSync): FolderView {
  const st = s.status();
  // Conflicts are looked for only when the (cached) count says there are some.
  const conflicts = st.conflicts > 0 ? conflictsOf(s) : [];
  return {
    folderId: st.folderId,
    path: st.path,
    name: st.path.slice(st.path.lastIndexOf("/") + 1) || st.path,
    role: s.folder.role,
    status: {
      state: st.state,
      connection: st.connection,
      pendingOut: st.pendingOut,
      pendingChunks: st.pendingChunks,
      bytesUploaded: st.bytesUploaded,
      bytesDownloaded: st.bytesDownloaded,
      files: st.files,
      conflicts: st.conflicts,
      errors: st.errors.map((e) => ({ ...e })),
      clashes: st.clashes,
      unportable: st.unportable,
      upload: { ...st.upload },
      download: { ...st.download },
      lastSync: st.lastSync,
      removed: st.removed && { ...st.removed },
      paused: st.paused,
      refused: st.refused.map((r) => ({ ...r })),
      queued: st.queued,
      ...(st.selection ? { selection: st.selection } : {}),
    },
    peers: st.peers.map((p) => ({
      deviceId: p.deviceId,
      short: short(p.deviceId),
      online: p.online,
      lastSeen: p.lastSeen,
      behind: p.behind,
    })),
    conflicts: conflicts.map((c) => ({
      path: c.path,
      winner: { ...c.winner, short: short(c.winner.device) },
      copies: c.copies.map((k) => ({ ...k, short: short(k.device) })),
    })),
    activity: s.activity.recent(),
  };
}

/** The whole page's data. */
export function dashboardView(syncs: readonly FolderSync[], deviceId: string): DashboardView {
  return {
    device: { id: deviceId, short: short(deviceId) },
    folders: syncs.map(folderView),
    time: Date.now(),
  };
}
