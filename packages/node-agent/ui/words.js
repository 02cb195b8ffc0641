// Plain words for the dashboard: sizes, times, and a folder's state as one sentence.

/** 3_200_000 → "3.2 MB" (decimal units, as people read sizes and speeds). */
export function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 75 → "about 1 min 15 s". */
export function duration(seconds) {
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `about ${m} min${seconds % 60 ? ` ${Math.round(seconds % 60)} s` : ""}`;
  return `about ${Math.floor(m / 60)} h ${m % 60} min`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A moment as "just now", "5 min ago", or a date for anything older than a day. */
export function ago(time, now = Date.now()) {
  const s = Math.round((now - time) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return dateTime.format(time);
}

/** A moment as a date and time. */
export function when(time) {
  return dateTime.format(time);
}

/** "1 file" / "3 files". */
export function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function transfer(verb, t) {
  const parts = [`${verb} ${Math.floor((100 * t.done) / Math.max(t.total, 1))}%`];
  if (t.rate > 0) parts.push(`${bytes(t.rate)}/s`);
  if (t.eta !== null) parts.push(`${duration(t.eta)} left`);
  return parts.join(" · ");
}

/**
 * The folder's state as one sentence and a tone ("ok", "busy", "warn", "error") for its colour:
 * "Up to date", "Sending 40% · 3.2 MB/s · about 20 s left", "Can't reach the relay: …".
 */
export function stateSentence(status) {
  const lastError = status.errors.filter((e) => e.level === "error").at(-1);
  if (status.state === "paused")
    return { tone: "warn", text: "Paused on this device: nothing is sent or received" };
  if (status.connection === "stopped") return { tone: "warn", text: "Not syncing" };
  if (status.connection !== "online") {
    if (lastError) return { tone: "error", text: `Can't reach the relay: ${lastError.message}` };
    return { tone: "busy", text: "Connecting to the relay…" };
  }
  const moving = [];
  if (status.upload.total > status.upload.done) moving.push(transfer("Sending", status.upload));
  if (status.download.total > status.download.done)
    moving.push(transfer("Receiving", status.download));
  if (moving.length > 0) return { tone: "busy", text: moving.join(" — ") };
  if (status.state === "scanning") return { tone: "busy", text: "Looking for changes…" };
  if (status.state === "syncing") return { tone: "busy", text: "Writing changes to disk…" };
  if (status.pendingOut > 0)
    return { tone: "busy", text: `${count(status.pendingOut, "change")} waiting to be sent` };
  if (status.conflicts > 0)
    return {
      tone: "warn",
      text: `Up to date · ${count(status.conflicts, "conflict")} to look at`,
    };
  return { tone: "ok", text: "Up to date" };
}

/** How a peer is doing: "online · up to date", "offline · last seen 5 min ago", "3 changes behind". */
export function peerSentence(peer) {
  const where = peer.online
    ? "online"
    : peer.lastSeen > 0
      ? `offline · last seen ${ago(peer.lastSeen)}`
      : "offline";
  const behind = peer.behind > 0 ? `${count(peer.behind, "change")} behind` : "up to date";
  return `${where} · ${behind}`;
}

const VERBS = {
  sent: "Sent",
  received: "Received",
  deleted: "Deleted",
  conflict: "Conflict",
  resolved: "Resolved",
  restored: "Restored",
  error: "Problem",
  warning: "Note",
};

/** An activity event's verb ("Received", "Deleted", "Problem"). */
export function activityVerb(kind) {
  return VERBS[kind] ?? kind;
}
