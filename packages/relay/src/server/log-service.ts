/**
 * The relay's side of the WebSocket protocol: sessions (hello, auth), subscriptions, the
 * folder log (append checked against the member devices' keys, fan-out in order), snapshots,
 * acknowledgements, presence and ephemeral messages. Transport-free: the server feeds it
 * decoded messages and gives it a `send` per connection.
 */
import type { DeviceId, Envelope, FolderId } from "@weft/crypto";
import { decodeEnvelope, verifyEnvelopeSignature } from "@weft/crypto";
import {
  type Message,
  type MessageOf,
  type PresenceStatus,
  ProtocolError,
  SUPPORTED_VERSIONS,
  encodeMessage,
  errorMessageFor,
  frameLimits,
  negotiateVersion,
} from "@weft/core";
import type { MetaStore, Role } from "../store/index.js";
import type { FolderBlobs } from "./folder-blobs.js";

const SERVER = { name: "weft-relay", version: "0.1.0" };
/** The protocol version from which a session's own appends are not pushed back to it. */
const NO_ECHO_VERSION = 3;
/** Subscriptions one connection may hold. */
export const MAX_SUBSCRIPTIONS = 256;
/** Authenticated connections one account may hold at once. */
export const MAX_SESSIONS_PER_ACCOUNT = 64;
/**
 * Subscribes (new or again) one connection may send in a burst, and per second after it: a
 * device subscribing to every folder at once fits; a socket re-subscribing from seq 0 to make
 * the relay resend a log again and again does not.
 */
export const SUBSCRIBE_BURST = MAX_SUBSCRIPTIONS;
export const SUBSCRIBES_PER_SECOND = 2;
/**
 * A backlog replay sends its next batch only while the connection has less than this waiting
 * to be written; the socket's drain resumes it. A reader that stops reading holds at most this
 * plus one batch, never the log.
 */
export const REPLAY_HIGH_WATER_BYTES = 1024 * 1024;
/** Bytes of one replay batch (one envelope larger than this still goes alone). */
const REPLAY_BATCH_BYTES = 1024 * 1024;

/** Who a connection is, once authenticated. */
export interface Principal {
  accountId: string;
  deviceId: DeviceId;
  /** When the access token it authenticated with expires, in milliseconds since the epoch. */
  expires: number;
}

/** One client connection, as the service sees it. */
export interface Session {
  send(message: Message): void;
  /** Sends a message encoded already: a fan-out encodes once for every subscriber. */
  sendFrame(frame: Uint8Array): void;
  /** Ends the connection after what was sent (a protocol error). */
  close(code: number, reason: string): void;
  /** Bytes sent but not yet written to the network; a replay waits while this is high. */
  bufferedAmount?(): number;
  /** Called once when the session authenticates (the server stops counting it as pre-auth). */
  authenticated?(): void;
  greeted: boolean;
  /** The protocol version negotiated in `hello` (from 3 a session's own appends are not pushed back to it). */
  version?: number;
  principal: Principal | undefined;
  readonly folders: Set<FolderId>;
  /** Set when the service ended the session (token expired, signed out, removed): it is closing. */
  ended?: boolean;
}

/** What the service reports, for logs, metrics and the audit stream. */
export interface LogServiceEvents {
  appended(folderId: FolderId, bytes: number): void;
  signatureFailure(principal: Principal, folderId: FolderId): void;
}

/** Fatal refusals end the connection; others answer the request and go on. */
class Fatal extends ProtocolError {}

/**
 * The relay's WebSocket protocol without the sockets: authenticates sessions (and ends them when
 * their token expires, their sign-in is revoked or their account leaves a folder), serves the
 * folder logs and fans envelopes and presence out to subscribers.
 */
export class LogService {
  private readonly subscribers = new Map<FolderId, Set<Session>>();
  /** Authenticated sessions per account, bounded by MAX_SESSIONS_PER_ACCOUNT. */
  private readonly perAccount = new Map<string, number>();
  /** Every authenticated session, to end them by expiry, by account or by folder. */
  private readonly sessions = new Set<Session>();
  /** Presence each online device last reported, per folder. */
  private readonly presence = new Map<
    FolderId,
    Map<DeviceId, { status: PresenceStatus; payload?: Uint8Array }>
  >();
  /** Backlog replays in progress: per session, per folder, the last seq sent. */
  private readonly replays = new Map<Session, Map<FolderId, { after: number }>>();
  /** Subscribe allowance per session (a token bucket of one key each). */
  private readonly subscribeTokens = new WeakMap<Session, { tokens: number; at: number }>();

  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: FolderBlobs,
    private readonly authenticate: (token: string) => Principal,
    private readonly events: LogServiceEvents,
    private readonly now: () => number = Date.now,
    /** A device that has not acked a folder for this long stops holding back its pruning (0: never). */
    private readonly silentDeviceMs = 0,
  ) {}

  /** Handles one decoded message; never throws (a failure is answered, a fatal one closes). */
  handle(session: Session, m: Message): void {
    try {
      this.dispatch(session, m);
    } catch (error) {
      const requestId = "requestId" in m ? m.requestId : undefined;
      session.send(errorMessageFor(error, requestId));
      if (error instanceof Fatal || requestId === undefined) session.close(1008, "protocol error");
    }
  }

  /** The connection ended: its subscriptions end and peers see the device go offline. */
  closed(session: Session): void {
    this.replays.delete(session);
    this.sessions.delete(session);
    for (const folderId of [...session.folders]) this.unsubscribe(session, folderId);
    const account = session.principal?.accountId;
    if (account !== undefined) {
      const left = (this.perAccount.get(account) ?? 1) - 1;
      if (left > 0) this.perAccount.set(account, left);
      else this.perAccount.delete(account);
    }
  }

  /**
   * Ends every session whose access token has expired (the relay calls this every second): a
   * token is checked when a session authenticates, so without this a socket would outlive it.
   */
  sweep(): void {
    const now = this.now();
    for (const session of [...this.sessions])
      if (session.principal && session.principal.expires <= now) this.endExpired(session);
  }

  /**
   * Ends the sessions of an account (of one device when `deviceId` is given) at once: its
   * sign-in was revoked (logout, a stolen refresh token).
   */
  endSessionsOf(accountId: string, deviceId: DeviceId | null, reason: string): void {
    for (const session of [...this.sessions]) {
      const who = session.principal;
      if (who?.accountId === accountId && (deviceId === null || who.deviceId === deviceId))
        this.end(session, new ProtocolError("unauthorized", reason));
    }
  }

  /** Ends, at once, an account's sessions subscribed to a folder it was just removed from. */
  memberRemoved(folderId: FolderId, accountId: string): void {
    for (const session of [...(this.subscribers.get(folderId) ?? [])])
      if (session.principal?.accountId === accountId)
        this.end(session, new ProtocolError("forbidden", "you were removed from this folder"));
  }

  /**
   * Makes `session` authenticated as `principal` (its upgrade carried a valid token, or its
   * `auth` did): counted toward the account's connections, ended when the token expires.
   * @throws ProtocolError `rate_limited` past MAX_SESSIONS_PER_ACCOUNT, `forbidden` for
   * another device than the session's
   */
  adopt(session: Session, principal: Principal): void {
    if (session.principal && session.principal.deviceId !== principal.deviceId)
      throw new Fatal("forbidden", "the connection is authenticated as another device");
    if (!session.principal) {
      const open = this.perAccount.get(principal.accountId) ?? 0;
      if (open >= MAX_SESSIONS_PER_ACCOUNT)
        throw new Fatal("rate_limited", "too many connections for this account");
      this.perAccount.set(principal.accountId, open + 1);
    }
    // A second auth on the connection (a fresh token before the first expires) extends it.
    session.principal = principal;
    this.sessions.add(session);
    session.authenticated?.();
  }

  /** The connection's send buffer drained: replays waiting on it go on. */
  drained(session: Session): void {
    if (this.replays.has(session)) this.pump(session);
  }

  /** Ends, at once, every session of a device removed from its account. */
  deviceRemoved(deviceId: DeviceId, reason: string): void {
    for (const session of [...this.sessions])
      if (session.principal?.deviceId === deviceId)
        this.end(session, new ProtocolError("forbidden", reason));
  }

  /**
   * The folder owes a key rotation (a member or device was removed): its owners' sessions end,
   * so that their devices reconnect, see it, and make the next epoch's key.
   */
  rotationDue(folderId: FolderId): void {
    const owner = new Map<string, boolean>();
    for (const session of [...(this.subscribers.get(folderId) ?? [])]) {
      const account = session.principal?.accountId;
      if (account === undefined) continue;
      let is = owner.get(account);
      if (is === undefined)
        owner.set(account, (is = this.meta.role(folderId, account) === "owner"));
      if (is)
        this.end(
          session,
          new ProtocolError("unavailable", "the folder's key must change; connect again"),
        );
    }
  }

  /**
   * The folder moved to a new key epoch: every session on it ends, so that each device
   * reconnects, fetches the new key, and seals what it writes next under it.
   */
  epochChanged(folderId: FolderId): void {
    for (const session of [...(this.subscribers.get(folderId) ?? [])])
      this.end(
        session,
        new ProtocolError("unavailable", "the folder's key changed; connect again"),
      );
  }

  /** Every open session (for shutdown). */
  get sessionCount(): number {
    let n = 0;
    for (const s of this.subscribers.values()) n += s.size;
    return n;
  }

  private dispatch(session: Session, m: Message): void {
    if (m.type === "hello") {
      if (session.greeted) throw new Fatal("bad_frame", "hello was already answered");
      const version = negotiateVersion(SUPPORTED_VERSIONS, m.versions);
      session.greeted = true;
      session.version = version;
      return session.send({ type: "welcome", version, server: SERVER });
    }
    if (!session.greeted)
      throw new Fatal("bad_frame", `the first frame must be hello, not ${m.type}`);
    if (session.ended) return; // closing: nothing more is served
    switch (m.type) {
      case "auth": {
        let principal: Principal;
        try {
          principal = this.authenticate(m.token);
        } catch (error) {
          // A removed device is told so (forbidden), not sent to sign in again.
          const forbidden = error instanceof ProtocolError && error.wireCode === "forbidden";
          throw new Fatal(forbidden ? "forbidden" : "unauthorized", (error as Error).message);
        }
        this.adopt(session, principal);
        return session.send({ type: "ok", requestId: m.requestId });
      }
      case "error":
        return;
      case "welcome":
      case "ok":
      case "subscribed":
      case "appended":
      case "envelopes":
      case "snapshot":
      case "haveResult":
        throw new Fatal("bad_frame", `${m.type} is sent by the relay, not to it`);
    }
    const who = session.principal;
    if (!who) throw new ProtocolError("unauthorized", `${m.type} before auth`);
    if (who.expires <= this.now()) return this.endExpired(session);
    if (m.type === "ping") return session.send({ type: "ok", requestId: m.requestId });
    const role = this.roleIn(m.folderId, who);
    const requestId = "requestId" in m ? m.requestId : 0;
    switch (m.type) {
      case "subscribe":
        return this.subscribe(session, who, m);
      case "unsubscribe":
        this.unsubscribe(session, m.folderId);
        return session.send({ type: "ok", requestId });
      case "append":
        requireWriter(role);
        return this.append(session, who, m);
      case "ack": {
        const seq = Math.min(m.seq, this.meta.headSeq(m.folderId));
        this.meta.ack(m.folderId, who.deviceId, seq);
        return this.broadcastPresence(m.folderId, who.deviceId);
      }
      case "snapshotPut": {
        requireWriter(role);
        const head = this.meta.headSeq(m.folderId);
        if (m.coversSeq > head)
          throw new ProtocolError("bad_frame", `coversSeq is past the head ${head}`);
        // Sealed under a key the folder does not have yet: no member could open it, and it
        // would still replace the folder's snapshot.
        const epoch = this.meta.folder(m.folderId)?.epoch ?? 0;
        if (m.epoch > epoch)
          throw new ProtocolError("bad_frame", `epoch ${m.epoch} is past the folder's ${epoch}`);
        this.meta.putSnapshot(m.folderId, m.epoch, m.coversSeq, m.ciphertext);
        session.send({ type: "ok", requestId });
        // A new snapshot is when older entries may become unneeded: those every member device
        // has acknowledged and the snapshot covers. A device silent for long counts as gone: one
        // that never acks would otherwise keep the whole log for ever.
        this.meta.pruneLog(
          m.folderId,
          this.silentDeviceMs > 0 ? this.now() - this.silentDeviceMs : 0,
        );
        return;
      }
      case "snapshotGet": {
        const snapshot = this.meta.snapshot(m.folderId) ?? null;
        return session.send({ type: "snapshot", requestId, folderId: m.folderId, snapshot });
      }
      case "haveCheck":
        void this.blobs
          .of(m.folderId)
          .then((store) => store.has(m.chunkIds))
          .then(
            (missing) => session.send({ type: "haveResult", requestId, missing }),
            (error: unknown) => session.send(errorMessageFor(error, requestId)),
          );
        return;
      case "presence": {
        requireSelf(m.deviceId, who.deviceId);
        const entry =
          m.payload === undefined ? { status: m.status } : { status: m.status, payload: m.payload };
        this.presenceOf(m.folderId).set(who.deviceId, entry);
        return this.broadcast(m.folderId, who.deviceId, m);
      }
      case "ephemeral":
        requireSelf(m.deviceId, who.deviceId);
        return this.broadcast(m.folderId, who.deviceId, m);
    }
  }

  private roleIn(folderId: FolderId, who: Principal): Role {
    const role = this.meta.role(folderId, who.accountId);
    if (!role) throw new ProtocolError("forbidden", "not a member of this folder");
    return role;
  }

  private subscribe(session: Session, who: Principal, m: MessageOf<"subscribe">): void {
    const { folderId, requestId } = m;
    if (!session.folders.has(folderId) && session.folders.size >= MAX_SUBSCRIPTIONS)
      throw new ProtocolError(
        "too_large",
        `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection`,
      );
    this.takeSubscribe(session);
    const head = this.meta.headSeq(folderId);
    // Entries every member device has acknowledged and a snapshot covers may be pruned. A
    // device asking from before them must load the snapshot first.
    const next = this.meta.firstSeqAfter(folderId, m.afterSeq);
    if ((next !== undefined && next > m.afterSeq + 1) || (next === undefined && m.afterSeq < head))
      throw new ProtocolError(
        "not_found",
        `the log after seq ${m.afterSeq} was pruned; load the snapshot and subscribe from it`,
      );
    const subs = this.subscribersOf(folderId);
    const wasOnline = this.onlineDevices(folderId).has(who.deviceId);
    subs.add(session);
    session.folders.add(folderId);
    session.send({ type: "subscribed", requestId, folderId, headSeq: head });
    // The backlog streams in batches, each sent only once the socket has written most of the
    // last; until it has caught up the session gets no live entries of the folder (the replay
    // reads them from the log, in order). Subscribing again replaces a replay in progress.
    let replays = this.replays.get(session);
    if (!replays) this.replays.set(session, (replays = new Map<FolderId, { after: number }>()));
    replays.set(folderId, { after: m.afterSeq });
    if (!wasOnline) this.broadcastPresence(folderId, who.deviceId);
    this.pump(session);
  }

  /** @throws ProtocolError `rate_limited` when the session subscribes too often */
  private takeSubscribe(session: Session): void {
    const now = this.now();
    const bucket = this.subscribeTokens.get(session) ?? { tokens: SUBSCRIBE_BURST, at: now };
    bucket.tokens = Math.min(
      SUBSCRIBE_BURST,
      bucket.tokens + (Math.max(0, now - bucket.at) * SUBSCRIBES_PER_SECOND) / 1000,
    );
    bucket.at = now;
    this.subscribeTokens.set(session, bucket);
    if (bucket.tokens < 1)
      throw new ProtocolError(
        "rate_limited",
        `more than ${SUBSCRIBES_PER_SECOND} subscribes per second; subscribe once per folder`,
      );
    bucket.tokens -= 1;
  }

  /** Sends replay batches while the session's socket keeps up; {@link drained} resumes. */
  private pump(session: Session): void {
    const replays = this.replays.get(session);
    if (!replays) return;
    const behind = () => (session.bufferedAmount?.() ?? 0) >= REPLAY_HIGH_WATER_BYTES;
    for (const [folderId, replay] of replays) {
      for (;;) {
        if (session.ended || behind()) return;
        const items = this.meta.readLog(
          folderId,
          replay.after,
          frameLimits.maxEnvelopesPerBatch,
          REPLAY_BATCH_BYTES,
        );
        if (items.length === 0) break;
        session.send({ type: "envelopes", folderId, items });
        replay.after = items[items.length - 1]!.seq;
      }
      replays.delete(folderId);
      // Caught up: the presence of the folder's other devices, then live entries.
      const acks = this.meta.acks(folderId); // once, not once per online device
      const self = session.principal?.deviceId;
      for (const device of this.onlineDevices(folderId))
        if (device !== self) session.send(this.presenceMessage(folderId, device, acks));
    }
    this.replays.delete(session);
  }

  private unsubscribe(session: Session, folderId: FolderId): void {
    session.folders.delete(folderId);
    this.replays.get(session)?.delete(folderId);
    const subs = this.subscribers.get(folderId);
    const device = session.principal?.deviceId;
    if (!subs?.delete(session) || !device) return;
    if (subs.size === 0) this.subscribers.delete(folderId);
    if (this.onlineDevices(folderId).has(device)) return; // still online on another connection
    this.presence.get(folderId)?.delete(device);
    this.broadcast(folderId, device, {
      ...this.presenceMessage(folderId, device),
      status: "offline",
    });
  }

  private append(session: Session, who: Principal, m: MessageOf<"append">): void {
    const { folderId, requestId, envelope } = m;
    let env: Envelope;
    try {
      env = decodeEnvelope(envelope);
    } catch (cause) {
      throw new ProtocolError("bad_frame", "append.envelope is not an envelope", { cause });
    }
    if (env.folderId !== folderId)
      throw new ProtocolError("bad_frame", "the envelope is of another folder");
    if (env.deviceId !== who.deviceId)
      throw new ProtocolError("forbidden", "the envelope is of another device");
    const key = this.meta.memberDeviceKey(folderId, who.deviceId);
    if (!key || !verifyEnvelopeSignature(env, key)) {
      this.events.signatureFailure(who, folderId);
      throw new ProtocolError(
        "bad_signature",
        "the envelope's signature does not verify for its device",
      );
    }
    let result: { seq: number; duplicate: boolean };
    try {
      result = this.meta.append(folderId, env.deviceId, env.deviceSeq, envelope);
    } catch (error) {
      if ((error as { code?: string }).code === "ALREADY_EXISTS")
        throw new ProtocolError(
          "conflict",
          `deviceSeq ${env.deviceSeq} is taken by another envelope`,
        );
      throw error;
    }
    session.send({
      type: "appended",
      requestId,
      folderId,
      seq: result.seq,
      deviceSeq: env.deviceSeq,
    });
    if (result.duplicate) return; // a retry whose answer was lost: stored and pushed once
    this.events.appended(folderId, envelope.length);
    const frame = encodeMessage({
      type: "envelopes",
      folderId,
      items: [{ seq: result.seq, envelope }],
    });
    // A member removed since it subscribed gets nothing more, and loses the subscription. The
    // role is looked up once per account per append, not once per connection.
    const member = new Map<string, boolean>();
    const now = this.now();
    const expired: Session[] = [];
    for (const sub of this.subscribers.get(folderId) ?? []) {
      if (sub.principal && sub.principal.expires <= now) {
        expired.push(sub);
        continue;
      }
      const account = sub.principal?.accountId;
      if (account !== undefined) {
        let ok = member.get(account);
        if (ok === undefined)
          member.set(account, (ok = Boolean(this.meta.role(folderId, account))));
        if (!ok) {
          this.unsubscribe(sub, folderId);
          continue;
        }
      }
      // The writer has the envelope and learns its seq from `appended` (protocol 3): pushing it
      // back doubled what the relay sent to a device that uploads a tree.
      if (sub === session && (session.version ?? 0) >= NO_ECHO_VERSION) continue;
      // A session still replaying the folder's backlog reads this entry from the log in turn.
      if (this.replays.get(sub)?.has(folderId)) continue;
      sub.sendFrame(frame);
    }
    for (const sub of expired) this.endExpired(sub);
  }

  private subscribersOf(folderId: FolderId): Set<Session> {
    let subs = this.subscribers.get(folderId);
    if (!subs) this.subscribers.set(folderId, (subs = new Set()));
    return subs;
  }

  private presenceOf(
    folderId: FolderId,
  ): Map<DeviceId, { status: PresenceStatus; payload?: Uint8Array }> {
    let p = this.presence.get(folderId);
    if (!p) {
      p = new Map<DeviceId, { status: PresenceStatus; payload?: Uint8Array }>();
      this.presence.set(folderId, p);
    }
    return p;
  }

  private onlineDevices(folderId: FolderId): Set<DeviceId> {
    const out = new Set<DeviceId>();
    for (const s of this.subscribers.get(folderId) ?? [])
      if (s.principal) out.add(s.principal.deviceId);
    return out;
  }

  private presenceMessage(
    folderId: FolderId,
    device: DeviceId,
    acks: ReadonlyMap<DeviceId, number> = this.meta.acks(folderId),
  ): MessageOf<"presence"> {
    const reported = this.presence.get(folderId)?.get(device);
    const out: MessageOf<"presence"> = {
      type: "presence",
      folderId,
      deviceId: device,
      status: reported?.status ?? "online",
      ackedSeq: acks.get(device) ?? 0,
    };
    if (reported?.payload) out.payload = reported.payload;
    return out;
  }

  private broadcastPresence(folderId: FolderId, device: DeviceId): void {
    if (!this.onlineDevices(folderId).has(device)) return; // offline devices have no presence
    this.broadcast(folderId, device, this.presenceMessage(folderId, device));
  }

  /** Sends to every subscriber of the folder except the device's own connections. */
  private broadcast(folderId: FolderId, from: DeviceId, message: Message): void {
    const frame = encodeMessage(message);
    const now = this.now();
    const expired: Session[] = [];
    for (const s of this.subscribers.get(folderId) ?? []) {
      if (s.principal && s.principal.expires <= now) expired.push(s);
      else if (s.principal?.deviceId !== from) s.sendFrame(frame);
    }
    for (const s of expired) this.endExpired(s);
  }

  private endExpired(session: Session): void {
    this.end(
      session,
      new ProtocolError("unauthorized", "the access token expired; authenticate again"),
    );
  }

  /**
   * Ends a session: it leaves its folders (peers see it go offline), gets `error` as its last
   * frame, and the connection closes. The socket's close then calls {@link closed}.
   */
  private end(session: Session, error: ProtocolError): void {
    if (session.ended) return;
    session.ended = true;
    this.sessions.delete(session);
    for (const folderId of [...session.folders]) this.unsubscribe(session, folderId);
    session.send(errorMessageFor(error));
    session.close(1008, error.message);
  }
}

function requireWriter(role: Role): void {
  if (role === "viewer")
    throw new ProtocolError("forbidden", "viewers cannot write to this folder");
}

function requireSelf(claimed: DeviceId, actual: DeviceId): void {
  if (claimed !== actual) throw new Fatal("forbidden", "a device can only speak for itself");
}
