/**
 * FolderFeeds: the live entries of each watched folder, put in seq order (no gap, no duplicate)
 * before they reach its local subscribers, whichever order the appends completed in and
 * whichever relay appended them.
 */
import type { FolderId } from "@weft/crypto";
import type { ProtocolConnection } from "./connection.js";
import type { LogStore } from "./log-store.js";
import { REPLAY_BATCH_BYTES } from "./limits.js";

/** How long an entry waits for the ones before it before the gap is read from the store. */
export const GAP_WAIT_MS = 100;
/**
 * How long a feed trusts the roles it looked up: a member removed through another relay stops
 * getting live entries here within this (one removed through this relay, at once).
 */
export const MEMBERS_TTL_MS = 1000;
/** Entries one read of {@link FolderFeeds.catchUp} asks for. */
const CATCH_UP_ENTRIES = 500;
/** Reads of a gap that still find it open before the feed skips it (its entries were pruned). */
const GAP_TRIES = 10;

interface Held {
  envelope: Uint8Array;
  /** The local connection that appended it (not pushed back to it), if any. */
  writer: ProtocolConnection | undefined;
}

/** One folder's feed. */
export interface Feed {
  /** The last seq delivered to the folder's subscribers. */
  delivered: number;
  /** Entries above `delivered + 1`, waiting for the ones before them. */
  readonly held: Map<number, Held>;
  /** Per account, whether it is a member (a removed one gets nothing more); filled on demand. */
  readonly members: Map<string, boolean>;
  /** When `members` was last emptied (ms since the epoch). */
  membersSince: number;
  /** A delivery is waiting on a lookup: entries queue behind it. */
  busy: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Gap reads in a row that did not close it. */
  tries: number;
}

/**
 * Delivers one entry to the folder's subscribers, or returns a promise to wait on first (a
 * lookup), after which the same entry is offered again.
 */
export type Sink = (
  folderId: FolderId,
  feed: Feed,
  seq: number,
  envelope: Uint8Array,
  writer: ProtocolConnection | undefined,
) => Promise<unknown> | undefined;

/** The feeds of the folders with local subscribers. */
export class FolderFeeds {
  private readonly feeds = new Map<FolderId, Feed>();
  /** A {@link catchUpAll} is running. */
  private catchingUp = false;
  /** Another {@link catchUpAll} was asked for meanwhile: the running one passes once more. */
  private catchUpAgain = false;

  constructor(
    private readonly store: LogStore,
    private readonly sink: Sink,
    private readonly gapWaitMs: number = GAP_WAIT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get(folderId: FolderId): Feed | undefined {
    return this.feeds.get(folderId);
  }

  /** Starts a feed that has delivered up to `head`; false if the folder had one already. */
  open(folderId: FolderId, head: number): boolean {
    if (this.feeds.has(folderId)) return false;
    this.feeds.set(folderId, {
      delivered: head,
      held: new Map(),
      members: new Map(),
      membersSince: this.now(),
      busy: false,
      timer: undefined,
      tries: 0,
    });
    return true;
  }

  /**
   * Reads the folder's entries after those delivered from the store and offers them, up to the
   * head: what was appended elsewhere and did not come by {@link offer}.
   */
  async catchUp(folderId: FolderId): Promise<void> {
    const feed = this.feeds.get(folderId);
    if (!feed) return;
    let after = feed.delivered;
    for (;;) {
      const entries = await this.store.readLog(
        folderId,
        after,
        CATCH_UP_ENTRIES,
        REPLAY_BATCH_BYTES,
      );
      const last = entries.at(-1)?.seq;
      if (this.feeds.get(folderId) !== feed || last === undefined || last <= after) return;
      for (const { seq, envelope } of entries) this.offer(folderId, seq, envelope);
      after = last;
    }
  }

  /**
   * {@link catchUp} of every folder with a feed: one read of their heads, then only those with
   * news are read, one after the other, and never two of these passes at a time (a relay cut off
   * from the bus runs one every second: it must not become a storm of reads). A call while a
   * pass runs is not dropped: that pass reads once more when it ends, since it may have read the
   * heads before what the call is for. Never rejects: a pass the store fails is left to the next.
   */
  async catchUpAll(): Promise<void> {
    if (this.catchingUp) {
      // The running pass may have read the heads before what this call is for (the bus came
      // back, and its last message may be lost): one more pass follows it.
      this.catchUpAgain = true;
      return;
    }
    this.catchingUp = true;
    try {
      do {
        this.catchUpAgain = false;
        const folders = [...this.feeds.keys()];
        const heads = await this.store.headSeqs(folders);
        for (const f of folders)
          if ((heads.get(f) ?? 0) > (this.feeds.get(f)?.delivered ?? Infinity))
            await this.catchUp(f);
      } while (this.catchUpAgain);
    } catch {
      // The store did not answer: the next pass reads it all again.
    } finally {
      this.catchingUp = false;
    }
  }

  /** Ends a folder's feed (its last subscriber left): what it held is dropped. */
  close(folderId: FolderId): void {
    const feed = this.feeds.get(folderId);
    if (feed?.timer) clearTimeout(feed.timer);
    this.feeds.delete(folderId);
  }

  /**
   * An entry of the folder was stored: delivered now if it is the next, held if entries before
   * it are missing, ignored if delivered already or the folder has no feed.
   */
  offer(folderId: FolderId, seq: number, envelope: Uint8Array, writer?: ProtocolConnection): void {
    const feed = this.feeds.get(folderId);
    if (!feed || seq <= feed.delivered || feed.held.has(seq)) return;
    feed.held.set(seq, { envelope, writer });
    this.flush(folderId, feed);
  }

  private flush(folderId: FolderId, feed: Feed): void {
    if (feed.busy) return;
    for (;;) {
      const seq = feed.delivered + 1;
      const next = feed.held.get(seq);
      if (!next) break;
      const wait = this.sink(folderId, feed, seq, next.envelope, next.writer);
      if (wait) {
        feed.busy = true;
        const resume = (): void => {
          feed.busy = false;
          if (this.feeds.get(folderId) === feed) this.flush(folderId, feed);
        };
        wait.then(resume, () => setTimeout(resume, this.gapWaitMs).unref?.());
        return;
      }
      feed.held.delete(seq);
      feed.delivered = seq;
      feed.tries = 0;
    }
    if (feed.held.size === 0) {
      if (feed.timer) clearTimeout(feed.timer);
      feed.timer = undefined;
    } else if (!feed.timer) {
      feed.timer = setTimeout(() => void this.fill(folderId, feed), this.gapWaitMs);
      feed.timer.unref?.();
    }
  }

  /** The gap before the held entries is still open: reads it from the store. */
  private async fill(folderId: FolderId, feed: Feed): Promise<void> {
    feed.timer = undefined;
    let lowest = Infinity;
    for (const seq of feed.held.keys()) lowest = Math.min(lowest, seq);
    const after = feed.delivered;
    if (lowest === Infinity || lowest === after + 1) return;
    let entries: { seq: number; envelope: Uint8Array }[] = [];
    try {
      entries = await this.store.readLog(folderId, after, lowest - after - 1, REPLAY_BATCH_BYTES);
    } catch {
      // Retried below, like a gap the store does not show yet.
    }
    if (this.feeds.get(folderId) !== feed) return;
    const first = entries[0]?.seq;
    if (first === feed.delivered + 1) feed.tries = 0;
    else if (feed.delivered === after && ++feed.tries >= GAP_TRIES) {
      // Still open after many reads: its entries were pruned (every member device had them, or
      // went silent). Whoever lacks them resubscribes and gets the snapshot.
      feed.tries = 0;
      feed.delivered = (first ?? lowest) - 1;
      for (const seq of feed.held.keys()) if (seq <= feed.delivered) feed.held.delete(seq);
    }
    // The writer of an entry read here is unknown: it is pushed to every subscriber.
    for (const { seq, envelope } of entries)
      if (seq > feed.delivered && !feed.held.has(seq))
        feed.held.set(seq, { envelope, writer: undefined });
    this.flush(folderId, feed);
  }
}
