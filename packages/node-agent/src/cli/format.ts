/** Human formatting for the CLI: sizes, and a folder's one-line status. */
import { formatBytes } from "@weft/core";
import type { FolderStatus } from "../sync/folder-sync.js";

/** e.g. "syncing · 3 to send · 12 chunks queued · ↑ 1.2 MiB ↓ 30 MiB · 2 conflicts". */
export function statusLine(s: FolderStatus): string {
  const parts: string[] = [inSync(s) ? "in sync" : s.state === "idle" ? "pending" : s.state];
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

/** Idle, online, and nothing pending either way: the only state called "in sync". */
export function inSync(s: FolderStatus): boolean {
  return (
    s.state === "idle" &&
    s.connection === "online" &&
    s.pendingOut === 0 &&
    s.pendingChunks === 0 &&
    s.upload.done >= s.upload.total &&
    s.download.done >= s.download.total
  );
}

/** One folder's progress as a `weft sync --once --json` progress line carries it (on stderr). */
export function progressRecord(s: FolderStatus): Record<string, unknown> {
  return {
    folderId: s.folderId,
    state: inSync(s) ? "in sync" : s.state,
    pendingOut: s.pendingOut,
    pendingChunks: s.pendingChunks,
    upload: s.upload,
    download: s.download,
    files: s.files,
    bytesUploaded: s.bytesUploaded,
    bytesDownloaded: s.bytesDownloaded,
  };
}

/** 75 → "1m15s". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * A moment for people, with how long ago (or how soon) it is: "14:05:12 (20 s ago)",
 * "2025-01-02 14:05 (3 days ago)". Local time: that is the clock on the user's wall.
 */
export function formatWhen(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const sameDay = new Date(now).toDateString() === d.toDateString();
  const at = sameDay
    ? `${time}:${pad(d.getSeconds())}`
    : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  const seconds = Math.round((now - ms) / 1000);
  if (seconds === 0) return `${at} (now)`;
  const span =
    Math.abs(seconds) >= 86_400 * 2
      ? `${Math.round(Math.abs(seconds) / 86_400)} days`
      : formatDuration(Math.abs(seconds)).replace(/^(\d+)s$/, "$1 s");
  return `${at} (${seconds >= 0 ? `${span} ago` : `in ${span}`})`;
}
