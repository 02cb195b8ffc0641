/**
 * ProtocolServer: the relay's side of the WebSocket protocol without the sockets: sessions
 * (hello, auth), subscriptions, the folder log (append checked against the member devices'
 * keys, fan-out in order), snapshots and pruning, acknowledgements, presence and ephemeral
 * messages. The relay runs it over SQLite and uWebSockets.js, the test hub over memory.
 */
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import { decodeMessage } from "../protocol/codec.js";
import { ProtocolError } from "../protocol/errors.js";
import { type Message, type MessageOf, errorMessageFor } from "../protocol/messages.js";
import { SUPPORTED_VERSIONS, negotiateVersion } from "../protocol/version.js";
import type { Principal, ProtocolConnection, ProtocolServerEvents } from "./connection.js";
import { ConnStates } from "./conn-state.js";
import { FolderFeeds, GAP_WAIT_MS } from "./feed.js";
import {
  MAX_SUBSCRIPTIONS,
  SUBSCRIBES_PER_SECOND,
  SUBSCRIBE_BURST,
  TokenBucket,
} from "./limits.js";
import type { LogStore, Role } from "./log-store.js";
import { storeAppend, storeSnapshot } from "./log-writes.js";
import { Fatal, Sessions } from "./sessions.js";
import { FolderSubscribers } from "./subscribers.js";

/** Options of {@link ProtocolServer}. */
export interface ProtocolServerOptions {
  /** The folder logs, members and keys. */
  store: LogStore;
  /**
   * Who an access token names.
   * @throws ProtocolError `forbidden` (a removed device) or `unavailable`, which the answer
   * keeps; any other error is answered `unauthorized`
   */
  authenticate(token: string): Principal | Promise<Principal>;
  /** Which of the chunks the folder's chunk store lacks (for `haveCheck`). */
  missingChunks(folderId: FolderId, chunkIds: readonly ChunkId[]): Promise<ChunkId[]>;
  /** What `welcome` names as the server. */
  server: { name: string; version: string };
  events?: ProtocolServerEvents;
  /** The clock of token expiry and of the rate limits, in ms since the epoch (default Date.now). */
  now?: () => number;
  /** A device that has not acked a folder for this long stops holding back its pruning (0: never). */
  silentDeviceMs?: number;
  /** Messages per second one connection may send, in bursts of ten times that (0: no limit). */
  messagesPerSecond?: number;
  /** How long a live entry waits for the ones before it before they are read from the store. */
  gapWaitMs?: number;
  /**
   * The relay's quotas on what writes make it keep: called after the role check and before an
   * append (`bytes`: the envelope's) or a snapshot (`bytes`: its ciphertext's, which replaces
   * the folder's snapshot) is stored. Rejecting with ProtocolError `quota_exceeded` refuses the
   * write with that error frame; nothing is stored.
   */
  checkWrite?(folderId: FolderId, kind: "append" | "snapshot", bytes: number): Promise<void>;
}

/**
 * The relay's WebSocket protocol without the sockets: authenticates connections (and ends them
 * when their token expires, their sign-in is revoked or their account leaves a folder), serves
 * the folder logs and fans envelopes and presence out to subscribers.
 *
 * The store is asynchronous and may be shared with other relays: each connection's messages are
 * handled one after the other (replies keep their order), and live entries reach a folder's
 * subscribers through its feed, in seq order, whichever order the appends completed in; an
 * entry appended through another relay comes in by {@link deliver}.
 */
export class ProtocolServer {
  private readonly store: LogStore;
  private readonly now: () => number;
  private readonly events: ProtocolServerEvents;
  private readonly subs: FolderSubscribers;
  private readonly sessions: Sessions;
  private readonly feeds: FolderFeeds;
  /** Per connection: its queue, replays and state. */
  private readonly conns: ConnStates;
  /** Subscribe allowance per connection. */
  private readonly subscribeTokens = new WeakMap<ProtocolConnection, TokenBucket>();
  /** Folders whose first local subscriber waits for the bus to listen. */
  private readonly watching = new Map<FolderId, Promise<void>>();
  /** Per folder, subscribes waiting on {@link watching} (the feed stays while there are any). */
  private readonly joining = new Map<FolderId, number>();
  /** Message allowance per connection. */
  private readonly messageTokens = new WeakMap<ProtocolConnection, TokenBucket>();
  /** The access token each connection was authenticated with (at its upgrade, or by `auth`). */
  private readonly authTokens = new WeakMap<ProtocolConnection, string>();

  constructor(private readonly options: ProtocolServerOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.events = options.events ?? {};
    this.sessions = new Sessions(this.now, (conn) => {
      for (const folderId of [...conn.folders]) this.unsubscribe(conn, folderId);
    });
    this.subs = new FolderSubscribers(
      this.store,
      this.now,
      (c) => this.sessions.endExpired(c),
      (c, folderId) => this.conns.peek(c)?.replays.has(folderId) ?? false,
      this.events.broadcast?.bind(this.events),
    );
    this.feeds = new FolderFeeds(
      this.store,
      (folderId, feed, seq, envelope, writer) =>
        this.conns.fanOut(folderId, feed, seq, envelope, writer),
      options.gapWaitMs ?? GAP_WAIT_MS,
      this.now,
    );
    this.conns = new ConnStates(this.store, this.feeds, this.subs, {
      now: this.now,
      unsubscribe: (conn, folderId) => this.unsubscribe(conn, folderId),
      endExpired: (conn) => this.sessions.endExpired(conn),
    });
  }

  /**
   * Handles one frame from a connection: counts it against the connection's message rate,
   * decodes it (an undecodable frame is answered `bad_frame` and closes the connection) and
   * handles the message, after the connection's earlier ones. Never throws.
   */
  receive(conn: ProtocolConnection, frame: Uint8Array, binary = true): void {
    const rate = this.options.messagesPerSecond ?? 0;
    if (rate > 0) {
      let bucket = this.messageTokens.get(conn);
      if (!bucket)
        this.messageTokens.set(conn, (bucket = new TokenBucket(rate * 10, rate, this.now())));
      if (!bucket.take(this.now())) {
        const error = new ProtocolError("rate_limited", `more than ${rate} messages per second`);
        return this.conns.enqueue(conn, () => {
          conn.send(errorMessageFor(error));
          conn.close(1008, "too many messages");
        });
      }
    }
    let message: Message;
    try {
      if (!binary) throw new ProtocolError("bad_frame", "text frames are not accepted");
      message = decodeMessage(frame);
    } catch (error) {
      this.events.badFrame?.();
      return this.conns.enqueue(conn, () => {
        conn.send(errorMessageFor(error));
        conn.close(1002, "undecodable frame");
      });
    }
    this.events.message?.(message.type);
    this.handle(conn, message);
  }

  /**
   * Handles one decoded message after the connection's earlier ones; never throws (a failure is
   * answered, a fatal one closes).
   */
  handle(conn: ProtocolConnection, m: Message): void {
    this.conns.enqueue(conn, () => this.handleNow(conn, m));
  }

  private async handleNow(conn: ProtocolConnection, m: Message): Promise<void> {
    try {
      await this.dispatch(conn, m);
    } catch (error) {
      if (this.conns.of(conn).closed) return;
      const requestId = "requestId" in m ? m.requestId : undefined;
      conn.send(errorMessageFor(error, requestId));
      if (error instanceof Fatal || requestId === undefined) conn.close(1008, "protocol error");
    }
  }

  /** The connection ended: its subscriptions end and peers see the device go offline. */
  closed(conn: ProtocolConnection): void {
    const st = this.conns.of(conn);
    st.closed = true;
    st.queue.length = 0;
    st.replays.clear();
    for (const folderId of [...conn.folders]) this.unsubscribe(conn, folderId);
    this.sessions.closed(conn);
  }

  /**
   * An entry appended through another relay (a bus between relays brought it): delivered to
   * the folder's local subscribers in seq order, after any entries before it (read from the
   * store if they do not come soon). A seq delivered already, or of a folder with no local
   * subscriber, is ignored.
   */
  deliver(folderId: FolderId, seq: number, envelope: Uint8Array): void {
    this.feeds.offer(folderId, seq, envelope);
  }

  /**
   * Entries may have been appended elsewhere without reaching {@link deliver} (the bus between
   * relays was down, or an entry was too large for it): the folder's feed reads what follows
   * what it delivered from the store. Without a folder, every folder with a local subscriber.
   * Resolves once read; never rejects (a failed read of one folder is tried again a second
   * later, of every folder by the bus's next call).
   */
  async catchUp(folderId?: FolderId): Promise<void> {
    if (folderId !== undefined)
      return this.feeds.catchUp(folderId).catch(() => {
        // The store did not answer: tried again in a second (until the folder has no feed).
        setTimeout(() => void this.catchUp(folderId), 1000).unref?.();
      });
    return this.feeds.catchUpAll();
  }

  /**
   * A presence or ephemeral frame a subscriber of another relay sent, or a presence that relay
   * reports when asked (a bus brought it; `relay` names that relay): sent to this relay's
   * subscribers of the folder but the device's own connections, unless they have it already.
   */
  relayBroadcast(folderId: FolderId, relay: string, from: DeviceId, frame: Uint8Array): void {
    this.subs.fromRelay(folderId, relay, from, frame, this.feeds.get(folderId) !== undefined);
  }

  /** Another relay stopped without a word: devices online only through it go offline here. */
  relayGone(relay: string): void {
    this.subs.relayGone(relay);
  }

  /**
   * The presence frames of the devices online in the folder through this relay, for another
   * relay that just got a subscriber there (it passes them to {@link relayBroadcast}).
   */
  localPresence(folderId: FolderId): Promise<{ from: DeviceId; frame: Uint8Array }[]> {
    return this.subs.localPresence(folderId);
  }

  /**
   * Ends every connection whose access token has expired (the relay calls this every second): a
   * token is checked when a connection authenticates, so without this a socket would outlive it.
   */
  sweep(): void {
    this.sessions.sweep();
  }

  /**
   * Ends the connections of an account (of one device when `deviceId` is given) at once: its
   * sign-in was revoked (logout, a stolen refresh token).
   */
  endSessionsOf(accountId: string, deviceId: DeviceId | null, reason: string): void {
    this.sessions.endWhere(
      (who) => who.accountId === accountId && (deviceId === null || who.deviceId === deviceId),
      new ProtocolError("unauthorized", reason),
    );
  }

  /** Ends, at once, an account's connections subscribed to a folder it was just removed from. */
  memberRemoved(folderId: FolderId, accountId: string): void {
    this.feeds.get(folderId)?.members.delete(accountId);
    for (const conn of [...this.subs.of(folderId)])
      if (conn.principal?.accountId === accountId)
        this.sessions.end(
          conn,
          new ProtocolError("forbidden", "you were removed from this folder"),
        );
  }

  /**
   * Control events may have been lost (the bus between relays was away while another relay
   * removed a member or a device): every subscription is checked against the store again, and a
   * connection whose device is no longer a member device of a subscribed folder ends at once,
   * as the lost event would have ended it (a removed device's with `deviceRemovedReason`). Resolves once checked (never rejects: a folder the
   * store cannot answer for is left as it is, until the next call).
   */
  async revalidate(deviceRemovedReason: string): Promise<void> {
    const folders = new Map<FolderId, Map<DeviceId, ProtocolConnection[]>>();
    for (const conn of this.sessions.connections())
      for (const folderId of conn.folders) {
        const device = conn.principal?.deviceId;
        if (device === undefined) continue;
        let devices = folders.get(folderId);
        if (!devices) folders.set(folderId, (devices = new Map<DeviceId, ProtocolConnection[]>()));
        const conns = devices.get(device);
        if (conns) conns.push(conn);
        else devices.set(device, [conn]);
      }
    await Promise.all(
      [...folders].map(async ([folderId, devices]) => {
        for (const [device, conns] of devices) {
          const account = conns[0]!.principal!.accountId;
          try {
            if ((await this.store.memberDeviceKey(folderId, device)) !== undefined) continue;
            const member = (await this.store.role(folderId, account)) !== undefined;
            if (!member) this.memberRemoved(folderId, account);
            else this.deviceRemoved(device, deviceRemovedReason);
          } catch {
            return; // the store did not answer: the next call checks again
          }
        }
      }),
    );
  }

  /**
   * Makes `conn` authenticated as `principal` (its upgrade carried a valid token, or its
   * `auth` did, with `token`): counted toward the account's connections, ended when the token
   * expires.
   * @throws ProtocolError `rate_limited` past MAX_SESSIONS_PER_ACCOUNT, `forbidden` for
   * another device than the connection's
   */
  adopt(conn: ProtocolConnection, principal: Principal, token?: string): void {
    this.sessions.adopt(conn, principal);
    if (token !== undefined) this.authTokens.set(conn, token);
  }

  /** The connection's send buffer drained: replays waiting on it go on. */
  drained(conn: ProtocolConnection): void {
    if (this.conns.peek(conn)?.replays.size) this.conns.pump(conn).catch(() => undefined);
  }

  /** Ends, at once, every connection of a device removed from its account. */
  deviceRemoved(deviceId: DeviceId, reason: string): void {
    this.sessions.endWhere(
      (who) => who.deviceId === deviceId,
      new ProtocolError("forbidden", reason),
    );
  }

  /**
   * The folder owes a key rotation (a member or device was removed): its owners' connections
   * end, so that their devices reconnect, see it, and make the next epoch's key. Resolves once
   * they are told (never rejects: if the roles cannot be read, every connection on it ends).
   */
  async rotationDue(folderId: FolderId): Promise<void> {
    const owner = new Map<string, boolean>();
    try {
      for (const conn of [...this.subs.of(folderId)]) {
        const account = conn.principal?.accountId;
        if (account !== undefined && !owner.has(account))
          owner.set(account, (await this.store.role(folderId, account)) === "owner");
      }
    } catch {
      owner.clear(); // the roles cannot be read: every connection on the folder is told
    }
    for (const conn of [...this.subs.of(folderId)])
      if (owner.size === 0 || owner.get(conn.principal?.accountId ?? ""))
        this.sessions.end(
          conn,
          new ProtocolError("unavailable", "the folder's key must change; connect again"),
        );
  }

  /**
   * The folder moved to a new key epoch: every connection on it ends, so that each device
   * reconnects, fetches the new key, and seals what it writes next under it.
   */
  epochChanged(folderId: FolderId): void {
    for (const conn of [...this.subs.of(folderId)])
      this.sessions.end(
        conn,
        new ProtocolError("unavailable", "the folder's key changed; connect again"),
      );
  }

  /** Whether presence changes wait to go out (batched for the event loop's next turn). */
  get presencePending(): boolean {
    return this.subs.pendingFlush;
  }

  /** Subscriptions open over every folder (for shutdown). */
  get sessionCount(): number {
    return this.subs.count;
  }

  private async dispatch(conn: ProtocolConnection, m: Message): Promise<void> {
    if (m.type === "hello") {
      if (conn.greeted) throw new Fatal("bad_frame", "hello was already answered");
      const version = negotiateVersion(SUPPORTED_VERSIONS, m.versions);
      conn.greeted = true;
      conn.version = version;
      return conn.send({ type: "welcome", version, server: this.options.server });
    }
    if (!conn.greeted) throw new Fatal("bad_frame", `the first frame must be hello, not ${m.type}`);
    if (conn.ended) return; // closing: nothing more is served
    switch (m.type) {
      case "auth": {
        // The token this connection is authenticated with already (a client sends it at the
        // upgrade and again in `auth`): checked minutes ago at most, and whatever revoked it
        // since (sign-out, device or member removal) ended the connection. Not checked twice.
        const current = conn.principal;
        if (current && current.expires > this.now() && this.authTokens.get(conn) === m.token)
          return conn.send({ type: "ok", requestId: m.requestId });
        let principal: Principal;
        try {
          principal = await this.options.authenticate(m.token);
        } catch (error) {
          // A removed device is told so (forbidden), not sent to sign in again.
          const code =
            error instanceof ProtocolError &&
            (error.wireCode === "forbidden" || error.wireCode === "unavailable")
              ? error.wireCode
              : "unauthorized";
          throw new Fatal(code, (error as Error).message);
        }
        if (this.conns.of(conn).closed || conn.ended) return;
        this.adopt(conn, principal, m.token);
        return conn.send({ type: "ok", requestId: m.requestId });
      }
      case "error":
        return; // the client's own report; it closes the connection itself if it must
      case "welcome":
      case "ok":
      case "subscribed":
      case "appended":
      case "stale":
      case "envelopes":
      case "snapshot":
      case "haveResult":
      case "presenceList":
        throw new Fatal("bad_frame", `${m.type} is sent by the relay, not to it`);
    }
    const who = conn.principal;
    if (!who) throw new ProtocolError("unauthorized", `${m.type} before auth`);
    if (who.expires <= this.now()) return this.sessions.endExpired(conn);
    if (m.type === "ping") return conn.send({ type: "ok", requestId: m.requestId });
    const role = await this.roleIn(m.folderId, who);
    if (this.conns.of(conn).closed || conn.ended) return;
    const requestId = "requestId" in m ? m.requestId : 0;
    switch (m.type) {
      case "subscribe":
        return this.subscribe(conn, who, m);
      case "unsubscribe":
        this.unsubscribe(conn, m.folderId);
        return conn.send({ type: "ok", requestId });
      case "append":
      case "appendIf":
        requireWriter(role);
        return this.append(conn, who, m);
      case "ack": {
        // Clamped to the head: a device cannot have applied what does not exist.
        const seq = Math.min(m.seq, await this.store.headSeq(m.folderId));
        await this.store.ack(m.folderId, who.deviceId, seq);
        this.subs.ackStored(m.folderId);
        return this.subs.broadcastPresence(m.folderId, who.deviceId);
      }
      case "snapshotPut":
        requireWriter(role);
        return this.putSnapshot(conn, m);
      case "snapshotGet": {
        const snapshot = (await this.store.snapshot(m.folderId)) ?? null;
        return conn.send({ type: "snapshot", requestId, folderId: m.folderId, snapshot });
      }
      case "haveCheck":
        // Answered when the chunk store answers; the connection's next messages go on.
        void this.options.missingChunks(m.folderId, m.chunkIds).then(
          (missing) => conn.send({ type: "haveResult", requestId, missing }),
          (error: unknown) => conn.send(errorMessageFor(error, requestId)),
        );
        return;
      case "presence":
        requireSelf(m.deviceId, who.deviceId);
        this.subs.report(m.folderId, who.deviceId, m.status, m.payload);
        return this.subs.broadcast(m.folderId, who.deviceId, m);
      case "ephemeral":
        requireSelf(m.deviceId, who.deviceId);
        return this.subs.broadcast(m.folderId, who.deviceId, m); // relayed, never stored
    }
  }

  private async roleIn(folderId: FolderId, who: Principal): Promise<Role> {
    // The same answer for "no such folder" and "not a member": a non-member learns nothing.
    const role = await this.store.role(folderId, who.accountId);
    if (!role) throw new ProtocolError("forbidden", "not a member of this folder");
    return role;
  }

  private async putSnapshot(conn: ProtocolConnection, m: MessageOf<"snapshotPut">): Promise<void> {
    const silentMs = this.options.silentDeviceMs ?? 0;
    await storeSnapshot(this.store, m, silentMs > 0 ? this.now() - silentMs : 0, async () => {
      await this.options.checkWrite?.(m.folderId, "snapshot", m.ciphertext.length);
    });
    conn.send({ type: "ok", requestId: m.requestId });
  }

  private async subscribe(
    conn: ProtocolConnection,
    who: Principal,
    m: MessageOf<"subscribe">,
  ): Promise<void> {
    const { folderId, requestId } = m;
    if (!conn.folders.has(folderId) && conn.folders.size >= MAX_SUBSCRIPTIONS)
      throw new ProtocolError(
        "too_large",
        `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`,
      );
    this.takeSubscribe(conn);
    const head = await this.store.headSeq(folderId);
    // Entries every member device has acknowledged and a snapshot covers may be pruned. A
    // device asking from before them must load the snapshot first.
    // Nothing after the head: a device that has it all (most reconnects) costs no lookup.
    const next =
      m.afterSeq >= head ? undefined : await this.store.firstSeqAfter(folderId, m.afterSeq);
    if ((next !== undefined && next > m.afterSeq + 1) || (next === undefined && m.afterSeq < head))
      throw new ProtocolError(
        "not_found",
        `the log after seq ${m.afterSeq} was pruned; load the snapshot and subscribe from it`,
      );
    const st = this.conns.of(conn);
    if (st.closed || conn.ended) return;
    // The folder's first local subscriber starts its feed: live entries from the head on. It is
    // answered once a bus between relays listens to the folder (the others' entries after the
    // head are read from the store), so that nothing sent after `subscribed` passes it by.
    if (this.feeds.open(folderId, head)) this.watching.set(folderId, this.startWatch(folderId));
    this.joining.set(folderId, (this.joining.get(folderId) ?? 0) + 1);
    const watched = this.watching.get(folderId);
    try {
      await watched;
    } finally {
      if (this.watching.get(folderId) === watched) this.watching.delete(folderId);
      const left = (this.joining.get(folderId) ?? 1) - 1;
      if (left > 0) this.joining.set(folderId, left);
      else this.joining.delete(folderId);
    }
    if (st.closed || conn.ended) return this.unwatchIfIdle(folderId);
    const wasOnline = this.subs.onlineDevices(folderId).has(who.deviceId);
    this.feeds.get(folderId)?.members.set(who.accountId, true);
    this.subs.add(folderId, conn);
    conn.folders.add(folderId);
    conn.send({ type: "subscribed", requestId, folderId, headSeq: head });
    // The backlog streams in batches, each sent only once the socket has written most of the
    // last; until it has caught up with the feed the connection gets no live entries of the
    // folder (the replay reads them from the log, in order). Subscribing again replaces a replay.
    st.skip.delete(folderId);
    this.conns.leave(conn, folderId);
    st.replays.set(folderId, { after: m.afterSeq });
    if (!wasOnline) await this.subs.broadcastPresence(folderId, who.deviceId);
    await this.conns.pump(conn);
  }

  /** The folder has no local subscriber, nor one on its way: its feed ends. */
  private unwatchIfIdle(folderId: FolderId): void {
    if (this.subs.of(folderId).size > 0 || this.joining.has(folderId)) return;
    if (!this.feeds.get(folderId)) return;
    this.feeds.close(folderId);
    this.events.unwatch?.(folderId);
  }

  /** Tells the bus (if any) to listen to the folder, then reads what it may have missed. */
  private async startWatch(folderId: FolderId): Promise<void> {
    try {
      await this.events.watch?.(folderId);
    } catch {
      // The bus could not listen: its own recovery (reading the store while down) covers it.
    }
    await this.catchUp(folderId);
  }

  /** @throws ProtocolError `rate_limited` when the connection subscribes too often */
  private takeSubscribe(conn: ProtocolConnection): void {
    let bucket = this.subscribeTokens.get(conn);
    if (!bucket)
      this.subscribeTokens.set(
        conn,
        (bucket = new TokenBucket(SUBSCRIBE_BURST, SUBSCRIBES_PER_SECOND, this.now())),
      );
    if (!bucket.take(this.now()))
      throw new ProtocolError(
        "rate_limited",
        `more than ${SUBSCRIBES_PER_SECOND} subscribes per second; subscribe once per folder`,
      );
  }

  private unsubscribe(conn: ProtocolConnection, folderId: FolderId): void {
    conn.folders.delete(folderId);
    const st = this.conns.peek(conn);
    st?.replays.delete(folderId);
    st?.skip.delete(folderId);
    this.conns.leave(conn, folderId);
    const device = conn.principal?.deviceId;
    if (!this.subs.remove(folderId, conn)) return;
    this.unwatchIfIdle(folderId);
    if (!device) return;
    if (this.subs.onlineDevices(folderId).has(device)) return; // online on another connection
    this.subs.wentOffline(folderId, device);
  }

  private async append(
    conn: ProtocolConnection,
    who: Principal,
    m: MessageOf<"append"> | MessageOf<"appendIf">,
  ): Promise<void> {
    const { folderId, requestId, envelope } = m;
    await this.options.checkWrite?.(folderId, "append", envelope.length);
    const stored = await storeAppend(this.store, who, m, () =>
      this.events.signatureFailure?.(who, folderId),
    );
    if ("stale" in stored) {
      if (!this.conns.of(conn).closed)
        conn.send({ type: "stale", requestId, folderId, handles: stored.stale });
      return;
    }
    const { seq, deviceSeq, duplicate } = stored;
    if (!this.conns.of(conn).closed)
      conn.send({ type: "appended", requestId, folderId, seq, deviceSeq });
    if (duplicate) return; // a retry whose answer was lost: stored and pushed once
    this.events.appended?.(folderId, seq, envelope);
    this.feeds.offer(folderId, seq, envelope, conn);
  }
}

function requireWriter(role: Role): void {
  if (role === "viewer")
    throw new ProtocolError("forbidden", "viewers cannot write to this folder");
}

function requireSelf(claimed: DeviceId, actual: DeviceId): void {
  if (claimed !== actual) throw new Fatal("forbidden", "a device can only speak for itself");
}
