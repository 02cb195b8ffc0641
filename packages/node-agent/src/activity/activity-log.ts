/** What happened in a folder lately (sent, received, deleted, conflicts, problems): a small ring buffer of its events for the dashboard and the log. */
import type { FolderEvents } from "./events.js";

/** The kinds of things the activity list shows. */
export type ActivityKind =
  "sent" | "received" | "deleted" | "conflict" | "resolved" | "restored" | "error" | "warning";

/** One line of the activity list. */
export interface ActivityEvent {
  /** Increases by one per event, so a page can tell new events from ones it has shown. */
  id: number;
  /** When it happened (ms since the epoch); for a repeated event, the latest time. */
  time: number;
  kind: ActivityKind;
  /** Folder-relative path, when the event is about one file. */
  path?: string;
  /** A few words more, e.g. "here" / "by another device", or the problem. */
  detail?: string;
  /** How many times in a row this same event happened (a failing connection repeats). */
  count: number;
}

/** The last `limit` events of one folder, newest first on read. */
export class ActivityLog {
  private readonly ring: ActivityEvent[] = [];
  private next = 0;
  private nextId = 1;
  private readonly listeners = new Set<(event: ActivityEvent) => void>();

  constructor(
    private readonly limit = 100,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds an event (or counts a repeat of the newest one, so retries do not flush the list). */
  record(kind: ActivityKind, path?: string, detail?: string): void {
    let newest = this.ring.length === 0 ? undefined : this.newest();
    if (newest && newest.kind === kind && newest.path === path && newest.detail === detail) {
      newest.count++;
      newest.time = this.now();
    } else {
      const event: ActivityEvent = {
        id: this.nextId++,
        time: this.now(),
        kind,
        count: 1,
        ...(path !== undefined ? { path } : {}),
        ...(detail !== undefined ? { detail } : {}),
      };
      if (this.ring.length < this.limit) this.ring.push(event);
      else this.ring[this.next] = event;
      this.next = (this.next + 1) % this.limit;
      newest = event;
    }
    for (const listener of this.listeners) listener({ ...newest });
  }

  /** The events, newest first (copies: callers may keep them). */
  recent(): ActivityEvent[] {
    const out: ActivityEvent[] = [];
    for (let i = 1; i <= this.ring.length; i++) {
      const e = this.ring[(this.next - i + this.ring.length * 2) % this.ring.length]!;
      out.push({ ...e });
    }
    return out;
  }

  /**
   * Calls `listener` after every event with that event (a repeat comes with its count raised);
   * returns the function that stops it.
   */
  onChange(listener: (event: ActivityEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Records every later event of `events`; returns the function that stops following. */
  follow(events: FolderEvents): () => void {
    return events.on((e) => this.record(e.kind, e.path, "detail" in e ? e.detail : undefined));
  }

  private newest(): ActivityEvent {
    return this.ring[(this.next - 1 + this.ring.length) % this.ring.length]!;
  }
}
