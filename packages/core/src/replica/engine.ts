/**
 * The sync engine of a Replica: the session with the relay (connect, resume, reconnect with
 * backoff), the outbox sealed into envelopes, the log applied in order and acknowledged,
 * snapshots, and presence.
 */
import { CryptoError, type DeviceId, decodeEnvelope } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { MessageOf } from "../protocol/messages.js";
import type { Transport } from "../protocol/transport.js";
import type { DocChannelStatus } from "../docs/channel.js";
import type { BlobStore, StateOp } from "../storage/index.js";
import { ClientOwnership, authorizeIndexUpdate } from "./authorize.js";
import type { ClockTimer } from "../clock.js";
import { Connection, type PushMessage } from "./connection.js";
import type { ReplicaContext } from "./context.js";
import type { ReplicaStatus } from "./events.js";
import { openLogEnvelope, sealParts } from "./inbound.js";
import type { PayloadPart } from "./payload.js";
import type { Outbox } from "./outbox.js";
import { Backoff } from "./backoff.js";
import { Peers } from "./peers.js";
import { reauthDelay, tokenExpiry } from "./token-expiry.js";
import type { Transfers } from "./transfers.js";
import type { ReplicaStats } from "./types.js";

/** A device this far behind the newest snapshot loads it instead of replaying the log. */
const SNAPSHOT_CATCH_UP = 256;

/** How the engine reaches the documents of the replica. */
export interface DocRouter {
  /** A verified document update from another device (already queued for storage by the engine). */
  remote(part: Extract<PayloadPart, { kind: "doc" }>, from: DeviceId): void;
  /** An ephemeral message from another device. */
  ephemeral(payload: Uint8Array, from: DeviceId): void;
  /** The whole state of every document, as parts (for snapshots). */
  states(): Promise<PayloadPart[]>;
  /** The connection or sync state changed. */
  statusChanged(): void;
}

/** The session documents travel over (the SyncEngine): how to send, and how it stands. */
export interface DocSession {
  /** Sends a sealed ephemeral message when online (dropped otherwise: it would be stale later). */
  postEphemeral(sealed: Uint8Array): void;
  /** The connection as a document sees it. */
  readonly docStatus: DocChannelStatus;
  /** Whether the replica has caught up with the log since it last connected. */
  readonly synced: boolean;
}

/** How the engine reaches the relay (see ReplicaOptions for the documentation of each). */
export interface SyncConfig {
  connect: (() => Transport) | undefined;
  token: () => string | Promise<string>;
  /** The relay's chunk store; transfers run while online. */
  remoteBlobs: BlobStore | undefined;
  snapshotEvery: number;
  reconnectDelayMs: { min: number; max: number };
  keepaliveMs: number;
  /** Adds to the keyring the keys this device was given since (see ReplicaOptions.refreshKeys). */
  refreshKeys?: () => Promise<void>;
}

/** The two moments of the session the replica around the engine acts on. */
export interface SyncHost {
  /** Log entries (or a snapshot) from other devices changed `changed` items here. */
  remoteApplied(changed: number): void;
  /** The session is online (again): a moment to check what the relay lost meanwhile. */
  cameOnline(): void;
}

/** What applyEnvelope answers for an entry sealed under an epoch whose key may yet be fetched. */
const NEEDS_KEY = -1;

/** The session with the relay as people see it: `weft status` and the dashboard show this. */
export interface ConnectionState {
  /** The connection state. */
  status: ReplicaStatus;
  /** When it entered that state (ms since the epoch). */
  since: number;
  /** Why the last connection attempt failed or the last connection ended, and when. */
  lastError?: { message: string; time: number };
  /** When the next connection attempt is due (ms since the epoch), while one is scheduled. */
  nextRetryAt?: number;
}

/**
 * Keeps one replica's session with the relay: connects and reconnects (capped exponential
 * backoff with jitter, for as long as the replica runs), seals the outbox into envelopes,
 * applies the log in order and acknowledges it, uploads snapshots, and tracks presence.
 */
export class SyncEngine implements DocSession {
  status: ReplicaStatus = "stopped";
  private statusSince: number;
  private lastError: ConnectionState["lastError"];
  /** The highest folder sequence number known to exist. */
  headSeq = 0;
  /** Whether the replica has caught up since it last connected. */
  synced = false;
  readonly peers: Peers;
  private conn: Connection | undefined;
  private connecting: Promise<void> | undefined;
  private readonly buffer = new Map<number, Uint8Array>();
  private lastSnapshotSeq = 0;
  /** Snapshots loaded from the relay instead of replaying the log (for stats). */
  private snapshotsLoaded = 0;
  /** Sends a fresh `auth` before the connection's token expires (the relay ends it then). */
  private reauthTimer: ClockTimer | undefined;
  private readonly retry: Backoff;
  private flushing = false;
  private snapshotting = false;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly transfers: Transfers,
    private ownership: ClientOwnership,
    private readonly docs: DocRouter,
    /** Unsent local changes and unconfirmed envelopes (mirror of the stored outbox). */
    readonly outbox: Outbox,
    private readonly options: SyncConfig,
    private readonly host: SyncHost,
  ) {
    this.statusSince = ctx.clock.now();
    this.retry = new Backoff(options.reconnectDelayMs, true, ctx.clock);
    this.peers = new Peers(ctx);
  }

  // ------------------------------------------------------------------ life cycle

  start(): void {
    if (this.status !== "stopped") return;
    this.setStatus("offline");
    if (this.options.connect) void this.connectNow().catch(() => undefined);
  }

  stop(): void {
    this.transfers.stop();
    this.retry.cancel();
    this.ctx.clock.clearTimeout(this.reauthTimer);
    this.setStatus("stopped");
    this.conn?.close("replica stopped");
    this.conn = undefined;
  }

  /** Connects now (cancelling a pending retry); resolves once subscribed, rejects if the attempt fails. */
  connectNow(): Promise<void> {
    if (this.status === "online") return Promise.resolve();
    if (this.status === "stopped")
      return Promise.reject(new WeftError("CLOSED", "the replica is stopped"));
    if (!this.options.connect)
      return Promise.reject(
        new ProtocolError("unavailable", "the replica has no transport to connect with"),
      );
    this.retry.cancel();
    // The next attempt is scheduled here, once this one is over, and by nothing inside it:
    // an attempt that failed (and any close it caused) must always leave a retry behind.
    this.connecting ??= this.attempt().then(
      () => {
        this.connecting = undefined;
        this.notify();
      },
      (error: unknown) => {
        this.connecting = undefined;
        if (this.status !== "stopped") {
          this.failed(error);
          this.setStatus("offline");
          this.scheduleRetry();
        }
        this.notify();
        throw error;
      },
    );
    return this.connecting;
  }

  /** The connection as people see it (see {@link ConnectionState}). */
  connectionState(): ConnectionState {
    return {
      status: this.status,
      since: this.statusSince,
      ...(this.lastError ? { lastError: { ...this.lastError } } : {}),
      ...(this.retry.dueAt !== undefined ? { nextRetryAt: this.retry.dueAt } : {}),
    };
  }

  /**
   * Remembers why connecting failed, and reports it once: a relay that stays down fails the
   * same way on every retry, and people need to hear it once, not every two seconds.
   */
  private failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const repeated = this.lastError?.message === message;
    this.lastError = { message, time: this.ctx.clock.now() };
    if (!repeated) this.report(error, "connecting to the relay");
  }

  /** Whether nothing is in progress and, when online, nothing is pending either way. */
  get idle(): boolean {
    if (this.ctx.serial.busy || this.transfers.busy || this.connecting || this.flushing)
      return false;
    if (this.status !== "online") return true; // nothing more can happen until it connects
    return (
      this.outbox.pending === 0 &&
      this.transfers.pending === 0 &&
      this.buffer.size === 0 &&
      this.ctx.meta.appliedSeq >= this.headSeq
    );
  }

  /** Resolves on the next change of anything `idle` depends on (or after a short while). */
  nextChange(): Promise<void> {
    const clock = this.ctx.clock;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(done, 250);
      function done(): void {
        clock.clearTimeout(timer);
        resolve();
      }
      this.waiters.add(done);
    });
  }

  notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
    const synced = this.status === "online" && this.ctx.meta.appliedSeq >= this.headSeq;
    if (synced !== this.synced) {
      this.synced = synced;
      this.ctx.events.emit("status", { status: this.status, synced });
      this.docs.statusChanged();
    }
  }

  // ------------------------------------------------------------------ sending

  /** Its part of `Replica.stats()`: envelopes sealed and unconfirmed, log applied, snapshots. */
  stats(): Pick<ReplicaStats, "envelopesSent" | "pendingOut" | "appliedSeq" | "snapshotsLoaded"> {
    return {
      envelopesSent: this.ctx.meta.deviceSeq,
      pendingOut: this.outbox.pending,
      appliedSeq: this.ctx.meta.appliedSeq,
      snapshotsLoaded: this.snapshotsLoaded,
    };
  }

  /** The connection as a document channel sees it. */
  get docStatus(): DocChannelStatus {
    return this.status === "online"
      ? "connected"
      : this.status === "connecting"
        ? "connecting"
        : "disconnected";
  }

  /** Starts the chunk transfers that can run: uploads and downloads, while online. */
  startTransfers(): void {
    const remote = this.options.remoteBlobs;
    if (!remote || this.status !== "online") return;
    this.transfers.startUploads(remote);
    this.transfers.startDownloads(remote);
  }

  /** Seals the outbox into envelopes and sends them, once uploads are done (peers must find the chunks). */
  kick(): void {
    this.startTransfers();
    if (this.flushing || this.status !== "online" || this.outbox.length === 0) return;
    if (this.outbox.readyCount(this.transfers.uploads) === 0) return; // kicked again as uploads finish
    this.flushing = true;
    void this.ctx.serial
      .run(() => this.sealOutbox())
      .then(
        () => true,
        (error: unknown) => {
          // Not retried here: a failing store would fail again at once. The next local
          // change or reconnect tries again.
          this.report(error, "sealing local changes");
          return false;
        },
      )
      .then((ok) => {
        this.flushing = false;
        this.notify();
        if (
          ok &&
          this.outbox.length > 0 &&
          this.status === "online" &&
          this.transfers.uploads.size === 0
        )
          this.kick();
      });
  }

  /** Seals ready outbox entries into envelopes, stores them, and sends them. */
  private async sealOutbox(): Promise<void> {
    for (;;) {
      if (this.status !== "online") return;
      const batch = this.outbox.nextBatch(this.transfers.uploads);
      if (!batch) return;
      const deviceSeq = this.ctx.meta.deviceSeq + 1;
      const envelope = sealParts(this.ctx, deviceSeq, batch.parts);
      const meta = { ...this.ctx.meta, deviceSeq };
      await this.ctx.local.transaction([
        ...this.ctx.local.sealOps(
          batch.entries.map((e) => e.key),
          deviceSeq,
          envelope,
        ),
        this.ctx.local.metaOp(meta),
      ]);
      this.ctx.meta.deviceSeq = deviceSeq;
      this.outbox.sealed(batch, deviceSeq, envelope);
      this.sendAppend(deviceSeq, envelope);
    }
  }

  private sendAppend(deviceSeq: number, envelope: Uint8Array): void {
    const conn = this.conn;
    // Only on a connection that is through auth and subscribe: sealing waits for its store
    // transaction, and the connection may have been replaced meanwhile by one still opening
    // (which would refuse the append). Going online resends every unconfirmed envelope.
    if (!conn || this.status !== "online") return;
    conn
      .request({ type: "append", requestId: 0, folderId: this.ctx.folderId, envelope })
      .then((answer) => {
        // A relay of protocol version 3 does not push a device's own append back to it: the
        // answer's seq is where it sits in the log, and the envelope fills that place here (the
        // entries of others after it would wait on it otherwise). From an older relay the same
        // bytes also arrive pushed; whichever comes second is a duplicate and dropped.
        this.headSeq = Math.max(this.headSeq, answer.seq);
        if (answer.seq > this.ctx.meta.appliedSeq && !this.buffer.has(answer.seq)) {
          this.buffer.set(answer.seq, envelope);
          this.applyPending();
        }
        return this.ctx.serial.track(async () => {
          if (!this.outbox.isUnconfirmed(deviceSeq)) return;
          await this.ctx.local.transaction(this.ctx.local.appendedOps(deviceSeq));
          this.outbox.confirmed(deviceSeq);
        });
      })
      .catch(async (error: unknown) => {
        // Resent on reconnect: the connection failed, or it was not (or no longer) authorized.
        if (
          !(error instanceof ProtocolError) ||
          error.wireCode === "unavailable" ||
          error.wireCode === "unauthorized"
        )
          return;
        // The relay refuses it for good (not a member, a bad signature, too large). Its content
        // stays in this device's state, and in any snapshot it uploads; report and move on so
        // one refusal cannot block every later change.
        this.report(error, `the relay refused envelope ${deviceSeq}`);
        await this.ctx.serial.track(async () => {
          await this.ctx.local.transaction(this.ctx.local.appendedOps(deviceSeq));
          this.outbox.confirmed(deviceSeq);
        });
      })
      .catch((error: unknown) => this.report(error, "recording an appended envelope"))
      .finally(() => this.notify());
  }

  // ------------------------------------------------------------------ connecting

  private async attempt(): Promise<void> {
    this.setStatus("connecting");
    let conn: Connection | undefined;
    try {
      conn = new Connection(
        this.options.connect!(),
        {
          onPush: (m) => this.onPush(m),
          onClose: (error) => this.onClose(conn!, error),
        },
        { keepaliveMs: this.options.keepaliveMs, clock: this.ctx.clock },
      );
      this.conn = conn;
      const token = await this.options.token();
      await conn.open(token);
      this.scheduleReauth(conn, token);
      // The folder may have moved to a new key epoch since (the relay ends sessions when it
      // does): fetch this device's new key before reading anything sealed under it.
      this.askedEpochs.clear();
      await this.refreshKeys();
      const snap = await conn.request({
        type: "snapshotGet",
        requestId: 0,
        folderId: this.ctx.folderId,
      });
      if (snap.snapshot) {
        this.lastSnapshotSeq = Math.max(this.lastSnapshotSeq, snap.snapshot.coversSeq);
        const behind = snap.snapshot.coversSeq - this.ctx.meta.appliedSeq;
        if (behind > (this.ctx.meta.appliedSeq === 0 ? 0 : SNAPSHOT_CATCH_UP)) {
          const data = snap.snapshot;
          await this.ctx.serial.run(() => this.applySnapshot(data.ciphertext, data.coversSeq));
        }
      }
      this.buffer.clear();
      const subscribe = () =>
        conn!.request({
          type: "subscribe",
          requestId: 0,
          folderId: this.ctx.folderId,
          afterSeq: this.ctx.meta.appliedSeq,
        });
      let sub;
      try {
        sub = await subscribe();
      } catch (error) {
        // The relay pruned entries this device has not applied: only a snapshot bridges that.
        const data = snap.snapshot;
        if (!(error instanceof ProtocolError && error.wireCode === "not_found") || !data)
          throw error;
        if (data.coversSeq <= this.ctx.meta.appliedSeq) throw error;
        await this.ctx.serial.run(() => this.applySnapshot(data.ciphertext, data.coversSeq));
        sub = await subscribe();
      }
      this.headSeq = Math.max(this.headSeq, sub.headSeq);
      // A relay's log only grows: one that ends before what this device applied has lost
      // entries (restored from an older backup). Said here, not repaired: README, "Backup and
      // restore", has what that means for the folder.
      if (sub.headSeq < this.ctx.meta.appliedSeq)
        this.report(
          new WeftError(
            "INTEGRITY",
            `the relay's log of this folder ends at entry ${sub.headSeq}, but this device has ` +
              `applied up to ${this.ctx.meta.appliedSeq}: the relay lost entries (restored from ` +
              "an older backup?), and changes made since may not reach every device",
          ),
          "subscribing to the folder's log",
        );
      if (this.conn !== conn || !conn.isOpen)
        throw new ProtocolError("unavailable", "connection closed while subscribing");
      this.retry.reset();
      this.lastError = undefined;
      this.setStatus("online");
      conn.post(this.presence("online"));
      for (const [deviceSeq, envelope] of this.outbox.toResend())
        this.sendAppend(deviceSeq, envelope);
      this.transfers.retryUnavailable();
      this.transfers.retryNow();
      this.host.cameOnline();
      this.kick();
    } catch (error) {
      if (conn && this.conn === conn) {
        this.conn = undefined;
        conn.close("connection attempt failed");
      }
      throw error; // connectNow marks the replica offline and schedules the next attempt
    }
  }

  /** Authenticates `conn` again with a fresh token shortly before `token` expires. */
  private scheduleReauth(conn: Connection, token: string): void {
    this.ctx.clock.clearTimeout(this.reauthTimer);
    const expires = tokenExpiry(token);
    if (expires === undefined) return;
    this.reauthTimer = this.ctx.clock.setTimeout(
      () => {
        this.reauthTimer = undefined;
        void this.reauth(conn);
      },
      reauthDelay(expires, this.ctx.clock.now()),
      { keepAlive: false },
    );
  }

  private async reauth(conn: Connection): Promise<void> {
    if (this.conn !== conn || !conn.isOpen) return;
    let token: string;
    try {
      token = await this.options.token();
    } catch {
      // No fresh token now (offline refresh): the relay ends the session at expiry and the
      // reconnect that follows asks for a token again, reporting why it cannot get one.
      return;
    }
    if (this.conn !== conn || !conn.isOpen) return;
    try {
      await conn.request({ type: "auth", requestId: 0, token });
    } catch {
      return; // refused: the relay closes the connection and the engine reconnects
    }
    this.scheduleReauth(conn, token);
  }

  private onClose(conn: Connection, error: Error | undefined): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.ctx.clock.clearTimeout(this.reauthTimer);
    this.reauthTimer = undefined;
    if (this.status === "stopped") return;
    this.peers.allOffline();
    this.setStatus("offline");
    // While an attempt is running (this was its connection), that attempt fails next: it
    // records why and schedules the retry itself.
    if (this.connecting) return;
    const reason = error ?? new ProtocolError("unavailable", "the relay closed the connection");
    this.lastError = { message: reason.message, time: this.ctx.clock.now() };
    // `unauthorized`: the session's token ran out (or the sign-in ended) before a fresh auth
    // got through; the reconnect asks for a new token, and reports if there is none.
    const expired = reason instanceof ProtocolError && reason.wireCode === "unauthorized";
    if (expired) this.retry.reset();
    if (!(reason instanceof ProtocolError && reason.wireCode === "unavailable") && !expired)
      this.report(reason, "the connection to the relay failed");
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.status === "stopped") return;
    this.retry.schedule(() => void this.connectNow().catch(() => undefined));
  }

  private setStatus(status: ReplicaStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.statusSince = this.ctx.clock.now();
    if (status !== "online") this.synced = false;
    this.ctx.events.emit("status", { status, synced: this.synced });
    this.docs.statusChanged();
    this.notify();
  }

  private presence(status: "online" | "offline"): MessageOf<"presence"> {
    return {
      type: "presence",
      folderId: this.ctx.folderId,
      deviceId: this.ctx.identity.deviceId,
      status,
      ackedSeq: this.ctx.meta.appliedSeq,
    };
  }

  /** Sends an ephemeral message when online; dropped otherwise (it would be stale later). */
  postEphemeral(payload: Uint8Array): void {
    this.conn?.post({
      type: "ephemeral",
      folderId: this.ctx.folderId,
      deviceId: this.ctx.identity.deviceId,
      payload,
    });
  }

  // ------------------------------------------------------------------ receiving

  private onPush(m: PushMessage): void {
    if (m.folderId !== this.ctx.folderId) return;
    if (m.type === "presence") return this.peers.presence(m);
    if (m.type === "ephemeral") {
      if (m.deviceId !== this.ctx.identity.deviceId) this.docs.ephemeral(m.payload, m.deviceId);
      return;
    }
    for (const item of m.items) {
      this.headSeq = Math.max(this.headSeq, item.seq);
      if (item.seq > this.ctx.meta.appliedSeq) this.buffer.set(item.seq, item.envelope);
    }
    this.applyPending();
  }

  /** Applies what the buffer holds in sequence, in the lane. */
  private applyPending(): void {
    void this.ctx.serial
      .track(() => this.applyBuffered())
      .catch((error: unknown) => {
        this.report(error, "storing updates from the log");
        // The state store failed: what is in memory is ahead of what is stored. Start over
        // from the stored point on a new connection rather than acknowledge unstored work.
        this.conn?.close("could not store updates");
      })
      .finally(() => this.notify());
  }

  private async applyBuffered(): Promise<void> {
    const ops: StateOp[] = [];
    let seq = this.ctx.meta.appliedSeq;
    let changed = 0;
    while (this.buffer.has(seq + 1)) {
      const bytes = this.buffer.get(seq + 1)!;
      let weight = this.applyEnvelope(seq + 1, bytes, ops);
      if (weight === NEEDS_KEY) {
        await this.refreshKeys();
        weight = this.applyEnvelope(seq + 1, bytes, ops);
      }
      this.buffer.delete(++seq);
      this.peers.weigh(seq, weight);
      changed += weight;
    }
    // Anything at or below the applied point is a duplicate; drop it.
    for (const s of this.buffer.keys()) if (s <= seq) this.buffer.delete(s);
    if (seq === this.ctx.meta.appliedSeq) return;
    if (this.ctx.local.needsCompaction("index"))
      ops.push(...this.ctx.local.compactOps("index", this.ctx.index.snapshot()));
    // Already merged in memory: stored whatever it takes (a full disk is waited out), or the
    // changes would be in the index but never announced, and nothing would write them to disk.
    await this.ctx.local.durable(
      [...ops, this.ctx.local.metaOp({ ...this.ctx.meta, appliedSeq: seq })],
      (error) => this.report(error, "storing updates from the log (waiting for space)"),
    );
    this.ctx.meta.appliedSeq = seq;
    this.conn?.post({ type: "ack", folderId: this.ctx.folderId, seq });
    if (changed > 0) this.host.remoteApplied(changed);
    this.maybeSnapshot();
  }

  /** Epochs the log named with no key here, asked for once each per connection. */
  private readonly askedEpochs = new Set<number>();

  /** Asks for keys given since (a new epoch); a failure is reported, never fatal. */
  private async refreshKeys(): Promise<void> {
    if (!this.options.refreshKeys) return;
    try {
      await this.options.refreshKeys();
    } catch (error) {
      this.report(error, "fetching the folder's keys");
    }
  }

  /**
   * Applies one log entry, adding the storage ops; returns how many items it changed, or
   * NEEDS_KEY (once per epoch and connection) when it is sealed under an epoch this device has
   * no key for yet and keys can be fetched: the caller fetches them and applies it again.
   */
  private applyEnvelope(seq: number, bytes: Uint8Array, ops: StateOp[]): number {
    try {
      const opened = openLogEnvelope(this.ctx, bytes);
      if (
        opened.device === this.ctx.identity.deviceId &&
        opened.envelope.deviceSeq <= this.ctx.meta.deviceSeq
      ) {
        // Sealed from state this device already has.
        return this.outbox.weightOf(opened.envelope.deviceSeq) ?? 1;
      }
      let weight = 0;
      for (const part of opened.parts) {
        if (part.kind === "index") {
          const commit = authorizeIndexUpdate(
            this.ctx.index.doc,
            part.update,
            opened.device,
            this.ownership,
          );
          weight += this.ctx.index.applyDelta(part.update).changed;
          commit();
          ops.push(...this.ctx.local.appendOps("index", part.update));
        } else {
          ops.push(...this.ctx.local.appendOps(`${part.type}:${part.name}`, part.update));
          this.docs.remote(part, opened.device);
          weight++;
        }
      }
      return weight;
    } catch (error) {
      const epoch = this.missingEpoch(error, bytes);
      if (epoch !== undefined && this.options.refreshKeys && !this.askedEpochs.has(epoch)) {
        this.askedEpochs.add(epoch);
        return NEEDS_KEY;
      }
      // One bad entry (forged, corrupt, unreadable) must not stop the folder: report it, skip it.
      this.report(error, `log entry ${seq}`);
      return 0;
    }
  }

  /** The epoch of an entry that failed for want of its key, if that is why it failed. */
  private missingEpoch(error: unknown, bytes: Uint8Array): number | undefined {
    const cause = (error as { cause?: unknown }).cause;
    if (!(cause instanceof CryptoError && cause.code === "BAD_KEY")) return undefined;
    try {
      return decodeEnvelope(bytes).epoch;
    } catch {
      return undefined;
    }
  }

  /** Merges a snapshot (an envelope with device sequence 0) covering the log up to `coversSeq`. */
  private async applySnapshot(bytes: Uint8Array, coversSeq: number): Promise<void> {
    let opened;
    try {
      opened = openLogEnvelope(this.ctx, bytes);
    } catch (error) {
      this.report(error, "the folder snapshot on the relay (replaying the log instead)");
      return;
    }
    const ops: StateOp[] = [];
    for (const part of opened.parts) {
      if (part.kind === "index") this.ctx.index.applyDelta(part.update);
      else {
        ops.push(...this.ctx.local.appendOps(`${part.type}:${part.name}`, part.update));
        this.docs.remote(part, opened.device);
      }
    }
    // A snapshot holds every device's records; ownership is relearnt from what it contains.
    this.ownership = ClientOwnership.fromDoc(this.ctx.index.doc);
    ops.push(...this.ctx.local.compactOps("index", this.ctx.index.snapshot()));
    const appliedSeq = Math.max(this.ctx.meta.appliedSeq, coversSeq);
    await this.ctx.local.transaction([
      ...ops,
      this.ctx.local.metaOp({ ...this.ctx.meta, appliedSeq }),
    ]);
    this.ctx.meta.appliedSeq = appliedSeq;
    this.snapshotsLoaded++;
    this.host.remoteApplied(1);
  }

  /** Uploads a snapshot when the log has grown `snapshotEvery` entries past the newest one. */
  private maybeSnapshot(): void {
    const conn = this.conn;
    const covers = this.ctx.meta.appliedSeq;
    if (!conn || this.snapshotting || covers - this.lastSnapshotSeq < this.options.snapshotEvery)
      return;
    this.snapshotting = true;
    void (async () => {
      const parts: PayloadPart[] = [
        { kind: "index", update: this.ctx.index.snapshot() },
        ...(await this.docs.states()),
      ];
      const envelope = sealParts(this.ctx, 0, parts);
      await conn.request({
        type: "snapshotPut",
        requestId: 0,
        folderId: this.ctx.folderId,
        epoch: this.ctx.keys.epoch,
        coversSeq: covers,
        ciphertext: envelope,
      });
      this.lastSnapshotSeq = covers;
    })()
      .catch((error: unknown) => {
        if (!(error instanceof ProtocolError && error.wireCode === "unavailable"))
          this.report(error, "uploading a snapshot");
      })
      .finally(() => {
        this.snapshotting = false;
      });
  }

  private report(error: unknown, context: string): void {
    this.ctx.events.emit("error", {
      error: error instanceof Error ? error : new Error(String(error)),
      context,
    });
  }
}
