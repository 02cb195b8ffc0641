/**
 * The sync engine of a Replica: the session with the relay (connect, resume, reconnect with
 * backoff, re-authenticate), the outbox sealed into envelopes and sent, and presence. Reading
 * the log is the LogReader's (log-reader.ts), over this engine's connection.
 */
import type { ClockTimer } from "../clock.js";
import type { DocChannelStatus } from "../docs/channel.js";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { MessageOf } from "../protocol/messages.js";
import type { ClientOwnership } from "./authorize.js";
import { Backoff } from "./backoff.js";
import { Connection, PING_SINCE, type PushMessage } from "./connection.js";
import type { ReplicaContext } from "./context.js";
import type { ReplicaStatus } from "./events.js";
import { sealParts } from "./outbound.js";
import { LogReader, type LogSession } from "./log-reader.js";
import type { Outbox } from "./outbox.js";
import type { StrongSession, StrongWrites } from "./strong-writes.js";
import { Peers } from "./peers.js";
import type { ConnectionState, DocRouter, DocSession, SyncConfig, SyncHost } from "./sync-types.js";
import { reauthDelay, tokenExpiry } from "./token-expiry.js";
import type { Transfers } from "./transfers.js";
import type { ReplicaStats } from "./types.js";

export type { ConnectionState, DocRouter, DocSession, SyncConfig, SyncHost } from "./sync-types.js";

/**
 * Keeps one replica's session with the relay: connects and reconnects (capped exponential
 * backoff with jitter, for as long as the replica runs), seals the outbox into envelopes and
 * sends them, routes what the relay pushes (log entries to its {@link LogReader}, presence,
 * ephemeral messages), and says whether the replica is idle.
 */
export class SyncEngine implements DocSession, LogSession {
  status: ReplicaStatus = "stopped";
  private statusSince: number;
  private lastError: ConnectionState["lastError"];
  /** Whether the replica has caught up since it last connected. */
  synced = false;
  readonly peers: Peers;
  /** The folder log, read and applied in order. */
  private readonly log: LogReader;
  private conn: Connection | undefined;
  private connecting: Promise<void> | undefined;
  /** Sends a fresh `auth` before the connection's token expires (the relay ends it then). */
  private reauthTimer: ClockTimer | undefined;
  /** The token the open connection authenticated with (or is authenticating with). */
  private connToken: string | undefined;
  /**
   * The last token the relay refused as `unauthorized`, passed to the token function so that
   * it does not hand back the same one: a token can be refused before it expires (its sign-in
   * ended), and only the token function can tell whether a fresh one can still be had.
   */
  private refusedToken: string | undefined;
  private readonly retry: Backoff;
  private flushing = false;
  private readonly waiters = new Set<() => void>();
  /** A strong folder's writes (strong-writes.ts), sent over this engine's connection. */
  strong: StrongWrites | undefined;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly transfers: Transfers,
    ownership: ClientOwnership,
    private readonly docs: DocRouter,
    /** Unsent local changes and unconfirmed envelopes (mirror of the stored outbox). */
    readonly outbox: Outbox,
    private readonly options: SyncConfig,
    private readonly host: SyncHost,
  ) {
    this.statusSince = ctx.clock.now();
    this.retry = new Backoff(options.reconnectDelayMs, true, ctx.clock);
    this.peers = new Peers(ctx);
    this.log = new LogReader(
      ctx,
      { docs, outbox, peers: this.peers, host, session: this },
      ownership,
      options.snapshotEvery,
      options.refreshKeys,
    );
  }

  /** The live connection, if any (for the log reader's acknowledgements and snapshots). */
  get connection(): Connection | undefined {
    return this.conn;
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
    if (
      this.ctx.serial.busy ||
      this.transfers.busy ||
      this.connecting ||
      this.flushing ||
      this.strong?.busy
    )
      return false;
    if (this.status !== "online") return true; // nothing more can happen until it connects
    return (
      this.outbox.pending === 0 &&
      (this.strong?.pending ?? 0) === 0 &&
      this.transfers.pending === 0 &&
      this.log.buffered === 0 &&
      this.log.caughtUp
    );
  }

  /**
   * One request and its answer on the open connection (a `ping`), so that whatever the relay
   * sent on it before answering has arrived and is counted by {@link idle}: an entry another
   * device appended before this call, pushed a moment after that device heard its `appended`,
   * is then pending here rather than unknown. Nothing to do when offline or on a relay too old
   * to answer pings; a connection that ends meanwhile is the engine's to report.
   */
  async roundTrip(): Promise<void> {
    const conn = this.conn;
    if (!conn || this.status !== "online" || conn.version < PING_SINCE) return;
    await conn.request({ type: "ping", requestId: 0 }).catch(() => undefined);
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

  /** See {@link LogSession.unanswered}. */
  unanswered(deviceSeq: number): boolean {
    return this.strong?.sentSeq === deviceSeq;
  }

  notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
    const synced = this.status === "online" && this.log.caughtUp;
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
      ...this.log.stats(),
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
      const deviceSeq = Math.max(
        this.ctx.meta.deviceSeq + 1,
        this.options.clockDeviceSeq ? Math.floor(this.ctx.clock.now()) : 0,
      );
      // Each envelope carries this device's signature over all its records as the log will
      // then hold them (the lane holds off new local changes meanwhile).
      const attest = this.ctx.attestations.signOwn(
        deviceSeq,
        batch.parts.flatMap((p) => (p.kind === "index" ? [p.update] : [])),
        batch.entries.length === this.outbox.length,
      );
      const envelope = sealParts(
        this.ctx,
        deviceSeq,
        batch.parts,
        attest ? [attest.attestation.bytes] : [],
      );
      const meta = { ...this.ctx.meta, deviceSeq };
      await this.ctx.local.transaction([
        ...(attest ? [attest.op] : []),
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

  /** What a strong folder's writes need of this engine: the connection and the log. */
  strongSession(): StrongSession {
    const online = (): boolean => this.status === "online" && this.conn !== undefined;
    return {
      get online() {
        return online();
      },
      appendIf: (envelope, claims) => {
        const conn = this.conn;
        if (!conn || this.status !== "online")
          return Promise.reject(new ProtocolError("unavailable", "not connected"));
        if (conn.version < STRONG_SINCE)
          return Promise.reject(
            new ProtocolError(
              "unavailable",
              `the relay speaks protocol ${conn.version}; a strong folder needs ${STRONG_SINCE}`,
            ),
          );
        return conn.request({
          type: "appendIf",
          requestId: 0,
          folderId: this.ctx.folderId,
          envelope,
          claims,
        });
      },
      placeOwn: (seq, envelope) => this.log.appended(seq, envelope),
      notify: () => this.notify(),
    };
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
        this.log.appended(answer.seq, envelope);
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
      const token = await this.options.token(this.refusedToken);
      this.connToken = token;
      try {
        await conn.open(token);
      } catch (error) {
        if (unauthorized(error)) this.refusedToken = token;
        throw error;
      }
      this.refusedToken = undefined;
      this.scheduleReauth(conn, token);
      // The folder may have moved to a new key epoch since (the relay ends sessions when it
      // does): fetch this device's new key before reading anything sealed under it.
      const headSeq = await this.log.subscribe(conn);
      // A relay's log only grows: one that ends before what this device applied has lost
      // entries (restored from an older backup). Said here, not repaired: README, "Backup and
      // restore", has what that means for the folder.
      if (headSeq < this.ctx.meta.appliedSeq)
        this.report(
          new WeftError(
            "INTEGRITY",
            `the relay's log of this folder ends at entry ${headSeq}, but this device has ` +
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
      this.strong?.kick();
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
    } catch (error) {
      // Refused: the relay closes the connection and the engine reconnects, with another token.
      if (unauthorized(error)) this.refusedToken = token;
      return;
    }
    if (this.conn === conn) this.connToken = token;
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
    // got through; the reconnect asks for a new token, not that one, and reports if there is none.
    const expired = unauthorized(reason);
    if (expired) {
      this.refusedToken ??= this.connToken;
      this.retry.reset();
    }
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

  /**
   * Sends an ephemeral message when online; dropped otherwise (it would be stale later). Not
   * while connecting either: the relay refuses a frame before auth and closes the connection.
   */
  postEphemeral(payload: Uint8Array): void {
    if (this.status !== "online") return;
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
    this.log.received(m.items);
  }

  private report(error: unknown, context: string): void {
    this.ctx.events.emit("error", {
      error: error instanceof Error ? error : new Error(String(error)),
      context,
    });
  }
}

/** The protocol version that added `appendIf`. */
const STRONG_SINCE = 4;

/** Whether the relay refused the token (expired, revoked, unknown). */
function unauthorized(error: unknown): boolean {
  return error instanceof ProtocolError && error.wireCode === "unauthorized";
}
