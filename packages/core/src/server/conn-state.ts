/**
 * The server's own state of each connection: the queue its messages wait in (handled one after
 * the other), its backlog replays, which stream a folder's log until they reach its feed, and
 * the live entries the feed then pushes to it.
 */
import type { DeviceId, FolderId } from "@weft/crypto";
import { encodeMessage } from "../protocol/codec.js";
import { frameLimits } from "../protocol/limits.js";
import { errorMessageFor } from "../protocol/messages.js";
import type { ProtocolConnection } from "./connection.js";
import { type Feed, type FolderFeeds, MEMBERS_TTL_MS } from "./feed.js";
import { REPLAY_BATCH_BYTES, REPLAY_HIGH_WATER_BYTES } from "./limits.js";
import type { LogEntry, LogStore } from "./log-store.js";
import { type FolderSubscribers, presenceListFrames, takesLists } from "./subscribers.js";

/** A connection's own state in the server. */
export interface ConnState {
  /** Work waiting its turn: a connection's messages are handled one after the other. */
  readonly queue: (() => Promise<void> | void)[];
  running: boolean;
  /** Closed: queued work is dropped, and nothing is added for it. */
  closed: boolean;
  /** Backlog replays in progress, per folder: the last seq sent. */
  readonly replays: Map<FolderId, { after: number }>;
  /** Per folder caught up, the seq its replay reached: live entries up to it were sent. */
  readonly skip: Map<FolderId, number>;
  /** Folders whose channel it joined (the transport's fan-out): live entries come by it. */
  readonly joined: Set<FolderId>;
  pumping: boolean;
  pumpAgain: boolean;
}

/** The protocol version from which a connection's own appends are not pushed back to it. */
const NO_ECHO_VERSION = 3;

/** Every connection's {@link ConnState}: its queue, its replays, and what live entries it gets. */
export class ConnStates {
  private readonly conns = new WeakMap<ProtocolConnection, ConnState>();

  constructor(
    private readonly store: LogStore,
    private readonly feeds: FolderFeeds,
    private readonly subs: FolderSubscribers,
    private readonly hooks: {
      now: () => number;
      /** Takes a connection out of a folder (its account is no longer a member). */
      unsubscribe(conn: ProtocolConnection, folderId: FolderId): void;
      /** Ends a connection whose token expired. */
      endExpired(conn: ProtocolConnection): void;
    },
  ) {}

  /** The connection's state, if it has any yet. */
  peek(conn: ProtocolConnection): ConnState | undefined {
    return this.conns.get(conn);
  }

  of(conn: ProtocolConnection): ConnState {
    let st = this.conns.get(conn);
    if (!st)
      this.conns.set(
        conn,
        (st = {
          queue: [],
          running: false,
          closed: false,
          replays: new Map(),
          skip: new Map(),
          joined: new Set(),
          pumping: false,
          pumpAgain: false,
        }),
      );
    return st;
  }

  /**
   * Takes the connection off the folder's channel (it unsubscribed, or subscribes again and
   * replays first): live entries stop reaching it there.
   */
  leave(conn: ProtocolConnection, folderId: FolderId): void {
    if (this.conns.get(conn)?.joined.delete(folderId)) conn.leave?.(folderId);
  }

  /** Runs `task` after the connection's earlier work (at once if there is none). */
  enqueue(conn: ProtocolConnection, task: () => Promise<void> | void): void {
    const st = this.of(conn);
    if (st.closed) return;
    st.queue.push(task);
    if (!st.running) void this.run(st);
  }

  private async run(st: ConnState): Promise<void> {
    st.running = true;
    while (st.queue.length > 0 && !st.closed) {
      const pending = st.queue.shift()!();
      if (pending) await pending;
    }
    st.queue.length = 0;
    st.running = false;
  }

  /** Sends replay batches while the connection's socket keeps up; a drain resumes. */
  async pump(conn: ProtocolConnection): Promise<void> {
    const st = this.of(conn);
    if (st.pumping) {
      st.pumpAgain = true;
      return;
    }
    st.pumping = true;
    try {
      do {
        st.pumpAgain = false;
        await this.replay(conn, st);
      } while (st.pumpAgain);
    } finally {
      st.pumping = false;
    }
  }

  private async replay(conn: ProtocolConnection, st: ConnState): Promise<void> {
    const behind = () => (conn.bufferedAmount?.() ?? 0) >= REPLAY_HIGH_WATER_BYTES;
    for (;;) {
      if (conn.ended || st.closed || behind()) return;
      const first = st.replays.entries().next();
      if (first.done) return;
      const [folderId, replay] = first.value;
      // Level with the folder's feed (most subscribes: a device that has everything): what
      // follows comes by the feed, so the log is not read only to find nothing after it.
      let items: LogEntry[] = [];
      try {
        if (replay.after !== this.feeds.get(folderId)?.delivered)
          items = await this.store.readLog(
            folderId,
            replay.after,
            frameLimits.maxEnvelopesPerBatch,
            REPLAY_BATCH_BYTES,
          );
      } catch (error) {
        if (st.replays.get(folderId) === replay) st.replays.delete(folderId);
        if (!st.closed) conn.send(errorMessageFor(error));
        continue;
      }
      // Replaced (subscribed again), unsubscribed or closed meanwhile: start over.
      if (st.replays.get(folderId) !== replay || conn.ended || st.closed) continue;
      if (items.length > 0) {
        conn.send({ type: "envelopes", folderId, items });
        replay.after = items[items.length - 1]!.seq;
        continue;
      }
      // Once, not once per online device; unreadable, the presence says nothing was acked.
      const acks = await this.subs.acks(folderId).catch(() => new Map<DeviceId, number>());
      if (st.replays.get(folderId) !== replay || conn.ended || st.closed) continue;
      // The feed delivered past what the log showed: read on. Ahead of it: the live entries up
      // to what was read are sent already.
      const feed = this.feeds.get(folderId);
      if (feed && replay.after < feed.delivered) continue;
      st.replays.delete(folderId);
      if (feed && replay.after > feed.delivered) st.skip.set(folderId, replay.after);
      // Caught up: the presence of the folder's other devices, then live entries.
      const self = conn.principal?.deviceId;
      if (takesLists(conn)) {
        // Protocol 5: every device's presence in one frame (a few past 256 devices).
        const items = this.subs.presenceItems(folderId, self, acks);
        for (const frame of presenceListFrames(folderId, items)) conn.sendFrame(frame);
        continue;
      }
      for (const device of this.subs.onlineDevices(folderId))
        if (device !== self) conn.send(this.subs.presenceMessage(folderId, device, acks));
      for (const frame of this.subs.remotePresence(folderId, self)) conn.sendFrame(frame);
    }
  }

  /**
   * Pushes a live entry to the folder's subscribers but its writer, in the feed's order; first
   * looks up, if need be, whether their accounts are still members.
   */
  fanOut(
    folderId: FolderId,
    feed: Feed,
    seq: number,
    envelope: Uint8Array,
    writer: ProtocolConnection | undefined,
  ): Promise<unknown> | undefined {
    const subs = this.subs.of(folderId);
    // A member removed since it subscribed gets nothing more, and loses the subscription. The
    // role is looked up once per account and MEMBERS_TTL_MS (memberRemoved forgets it at once).
    const now = this.hooks.now();
    if (!(Math.abs(now - feed.membersSince) < MEMBERS_TTL_MS)) {
      feed.members.clear();
      feed.membersSince = now;
    }
    let unknown: Set<string> | undefined;
    for (const sub of subs) {
      const account = sub.principal?.accountId;
      if (account !== undefined && !feed.members.has(account)) (unknown ??= new Set()).add(account);
    }
    if (unknown)
      return Promise.all(
        [...unknown].map(async (account) =>
          feed.members.set(account, Boolean(await this.store.role(folderId, account))),
        ),
      );
    const frame = encodeMessage({ type: "envelopes", folderId, items: [{ seq, envelope }] });
    const expired: ProtocolConnection[] = [];
    const direct: ProtocolConnection[] = [];
    /** A joined connection, to publish through (the writer if it joined: it is left out). */
    let via: ProtocolConnection | undefined;
    for (const sub of [...subs]) {
      if (sub.principal && sub.principal.expires <= now) {
        expired.push(sub);
        continue;
      }
      const account = sub.principal?.accountId;
      if (account !== undefined && !feed.members.get(account)) {
        this.hooks.unsubscribe(sub, folderId);
        continue;
      }
      const st = this.conns.get(sub);
      if (st?.joined.has(folderId)) {
        if (via === undefined || sub === writer) via = sub;
        continue;
      }
      // A connection still replaying the folder's backlog reads this entry from the log in
      // turn; one whose replay read past the feed has it already.
      if (st && (st.replays.has(folderId) || (st.skip.get(folderId) ?? 0) >= seq)) continue;
      if (st && sub.join && sub.publish) {
        // Caught up with the feed: this entry and every later one come by the channel, after
        // what was sent to it directly (its replay).
        st.skip.delete(folderId);
        st.joined.add(folderId);
        sub.join(folderId);
        if (via === undefined || sub === writer) via = sub;
        continue;
      }
      direct.push(sub);
    }
    // Ended before the publish, so that they leave the channel first.
    for (const sub of expired) this.hooks.endExpired(sub);
    // The writer has the envelope and learns its seq from `appended` (protocol 3): pushing it
    // back doubled what the relay sent to a device that uploads a tree.
    const echo = (sub: ProtocolConnection): boolean =>
      sub !== writer || (sub.version ?? 0) < NO_ECHO_VERSION;
    if (via?.publish && this.conns.get(via)?.joined.has(folderId))
      via.publish(folderId, frame, echo(via));
    for (const sub of direct) if (echo(sub)) sub.sendFrame(frame, true);
    return undefined;
  }
}
