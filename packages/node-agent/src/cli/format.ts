/** Human formatting for the CLI: sizes, and a folder's one-line status. */
import type { FolderStatus } from "../sync/folder-sync.js";

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** e.g. "syncing · 3 to send · 12 chunks queued · ↑ 1.2 MiB ↓ 30 MiB · 2 conflicts". */
export function statusLine(s: FolderStatus): string {
  const parts: string[] = [s.state === "idle" && s.connection === "online" ? "in sync" : s.state];
  if (s.pendingOut > 0) parts.push(`${s.pendingOut} to send`);
  if (s.pendingChunks > 0) parts.push(`${s.pendingChunks} chunks queued`);
  for (const [arrow, t] of [
    ["↑", s.upload],
    ["↓", s.download],
  ] as const)
    if (t.total > t.done)
      parts.push(
        `${arrow} ${t.done}/${t.total} chunks, ${formatBytes(t.rate)}/s${t.eta === null ? "" : `, ${formatDuration(t.eta)} left`}`,
      );
  parts.push(
    `${s.files} files`,
    `↑ ${formatBytes(s.bytesUploaded)} ↓ ${formatBytes(s.bytesDownloaded)}`,
  );
  const online = s.peers.filter((p) => p.online).length;
  if (s.peers.length > 0) parts.push(`${online}/${s.peers.length} peers online`);
  if (s.conflicts > 0) parts.push(`${s.conflicts} conflicts`);
  if (s.errors.length > 0) parts.push(`${s.errors.length} problems`);
  return parts.join(" · ");
}

/** 75 → "1m15s". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
