/**
 * What happens in a synced folder, as events. The parts that do the work (the scan, the
 * materializer, the version commands, FolderSync itself) emit them; the parts that show it
 * (the activity list, the problems list, the dashboard, the daemon's log) subscribe, so the
 * workers need not know who is watching.
 */
import type { Replica } from "@weft/core";

/** Something that happened in a folder. */
export type FolderEvent =
  /** A local change was recorded and sent. */
  | { kind: "sent"; path: string }
  /** Another device's version was written to disk. */
  | { kind: "received"; path: string }
  /** A file was deleted: here (and sent), or by another device (and removed here). */
  | { kind: "deleted"; path: string; detail: "here" | "by another device" }
  /** A file newly has concurrent versions. */
  | { kind: "conflict"; path: string; detail: string }
  /** A conflict was settled, or an earlier version made current; `detail` says how. */
  | { kind: "resolved" | "restored"; path: string; detail: string }
  /** Something did not sync ("error"), or is deliberately left alone ("warning"). */
  | { kind: "error" | "warning"; path?: string; detail: string };

/** A {@link FolderEvent} as subscribers receive it: with when it happened (ms since the epoch). */
export type TimedFolderEvent = FolderEvent & { time: number };

/** One folder's events: emitted by the parts that work, delivered at once to every subscriber. */
export class FolderEvents {
  private readonly listeners = new Set<(event: TimedFolderEvent) => void>();

  /** `now`: the clock events are stamped with. */
  constructor(private readonly now: () => number = Date.now) {}

  /** Delivers `event`, stamped with the time, to every subscriber in the order they subscribed. */
  emit(event: FolderEvent): void {
    const timed = { ...event, time: this.now() };
    for (const listener of this.listeners) listener(timed);
  }

  /** Calls `listener` with every later event; returns the function that stops it. */
  on(listener: (event: TimedFolderEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}

/**
 * Emits a "conflict" event for each file that newly has concurrent versions, as the replica
 * reports them after remote changes. Returns the function that stops following.
 */
export function emitConflicts(replica: Replica, events: FolderEvents): () => void {
  let known = new Set(replica.conflicts().map((c) => c.path));
  return replica.on("conflict", ({ conflicts }) => {
    const now = new Set(conflicts.map((c) => c.path));
    for (const path of now)
      if (!known.has(path))
        events.emit({ kind: "conflict", path, detail: "changed here and on another device" });
    known = now;
  });
}
