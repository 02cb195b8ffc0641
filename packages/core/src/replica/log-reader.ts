/**
 * Reading a Replica's folder log: where to start on each connection (a snapshot when the log
 * was pruned or this device is far behind), entries applied strictly in sequence and
 * acknowledged, and snapshots uploaded as the log grows.
 */
import { CryptoError, decodeEnvelope } from "@weft/crypto";
import { ProtocolError } from "../protocol/errors.js";
import type { MessageOf } from "../protocol/messages.js";
import type { StateOp } from "../storage/index.js";
import { WeftError } from "../errors.js";
import { type ClientOwnership, authorizeIndexUpdate } from "./authorize.js";
import type { Connection } from "./connection.js";
import type { ReplicaContext } from "./context.js";
import type { DocRouter, SyncHost } from "./sync-types.js";
import { openLogEnvelope } from "./inbound.js";
import { sealParts } from "./outbound.js";
import type { Outbox } from "./outbox.js";
import type { PayloadPart } from "./payload.js";
import { RecordAttestations } from "./record-attestations.js";
import type { Peers } from "./peers.js";
import type { ReplicaStats } from "./types.js";

/** A device this far behind the newest snapshot loads it instead of replaying the log. */
const SNAPSHOT_CATCH_UP = 256;

/** What applyEnvelope answers for an entry sealed under an epoch whose key may yet be fetched. */
const NEEDS_KEY = "needs-key";

/**
 * What applying one entry did: how many items it carries (`weight`, what peers' progress counts)
 * and how many of them changed this replica (`changed`: 0 for this device's own entry, whose
 * state it holds already).
 */
interface EntryApplied {
  weight: number;
  changed: number;
}

/** What a {@link LogReader} needs of the session it reads over (the SyncEngine). */
export interface LogSession {
  /** The live connection, if any: acknowledgements and snapshots go over it. */
  readonly connection: Connection | undefined;
  /** Something the replica's `idle` depends on changed. */
  notify(): void;
  /**
   * Whether this device's own envelope `deviceSeq` is a strong folder's change still waiting
   * for the relay's answer: found in the log, it was accepted, and is applied like a peer's
   * (its content is not in the index yet, unlike every other envelope of this device's).
   */
  unanswered?(deviceSeq: number): boolean;
}

/** Parts of the replica a {@link LogReader} hands what it reads to. */
export interface LogReaderParts {
  readonly docs: DocRouter;
  /** For the weight of this device's own envelopes coming back. */
  readonly outbox: Outbox;
  readonly peers: Peers;
  readonly host: SyncHost;
  readonly session: LogSession;
}

/**
 * Applies one folder's log to a replica: subscribes from the applied point (loading the
 * relay's snapshot when the log was pruned or this device is far behind), buffers what arrives
 * out of order, applies entries strictly in sequence (verified and authorized, a bad entry
 * reported and skipped), stores and acknowledges them, and uploads a snapshot every
 * `snapshotEvery` entries.
 */
export class LogReader {
  /** The highest folder sequence number known to exist. */
  headSeq = 0;
  private readonly buffer = new Map<number, Uint8Array>();
  private lastSnapshotSeq = 0;
  /** Snapshots loaded from the relay instead of replaying the log (for stats). */
  private snapshotsLoaded = 0;
  private snapshotting = false;
  /** When a snapshot could last not be vouched for: the attestations' revision, the log's seq. */
  private unattested = { revision: -1, seq: 0 };
  /** Epochs the log named with no key here, asked for once each per connection. */
  private readonly askedEpochs = new Set<number>();
  private readonly docs: DocRouter;
  private readonly outbox: Outbox;
  private readonly peers: Peers;
  private readonly host: SyncHost;
  private readonly session: LogSession;

  constructor(
    private readonly ctx: ReplicaContext,
    parts: LogReaderParts,
    private ownership: ClientOwnership,
    private readonly snapshotEvery: number,
    private readonly refreshKeysOption: (() => Promise<void>) | undefined,
  ) {
    ({
      docs: this.docs,
      outbox: this.outbox,
      peers: this.peers,
      host: this.host,
      session: this.session,
    } = parts);
  }

  /** Entries received and not applied yet (waiting for those before them). */
  get buffered(): number {
    return this.buffer.size;
  }

  /** Whether every entry known to exist is applied here. */
  get caughtUp(): boolean {
    return this.ctx.meta.appliedSeq >= this.headSeq;
  }

  /** Its part of `Replica.stats()`. */
  stats(): Pick<ReplicaStats, "appliedSeq" | "snapshotsLoaded"> {
    return { appliedSeq: this.ctx.meta.appliedSeq, snapshotsLoaded: this.snapshotsLoaded };
  }

  /**
   * Starts reading on a new connection: fetches keys given since, loads the relay's snapshot
   * when it is far ahead, and subscribes after the applied point (through the snapshot when the
   * relay pruned entries this device lacks). Resolves with the log's head as the relay says.
   */
  async subscribe(conn: Connection): Promise<number> {
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
      conn.request({
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
      if (!(error instanceof ProtocolError && error.wireCode === "not_found") || !data) throw error;
      if (data.coversSeq <= this.ctx.meta.appliedSeq) throw error;
      if (!(await this.ctx.serial.run(() => this.applySnapshot(data.ciphertext, data.coversSeq))))
        throw error;
      sub = await subscribe();
    }
    this.headSeq = Math.max(this.headSeq, sub.headSeq);
    return sub.headSeq;
  }

  /** Entries pushed by the relay. */
  received(items: MessageOf<"envelopes">["items"]): void {
    for (const item of items) {
      this.headSeq = Math.max(this.headSeq, item.seq);
      if (item.seq > this.ctx.meta.appliedSeq) this.buffer.set(item.seq, item.envelope);
    }
    this.applyPending();
  }

  /**
   * This device's own envelope, stored by the relay at `seq`. A relay of protocol version 3
   * does not push a device's own append back to it: the envelope fills that place here (the
   * entries of others after it would wait on it otherwise). From an older relay the same bytes
   * also arrive pushed; whichever comes second is a duplicate and dropped.
   */
  appended(seq: number, envelope: Uint8Array): void {
    this.headSeq = Math.max(this.headSeq, seq);
    if (seq > this.ctx.meta.appliedSeq && !this.buffer.has(seq)) {
      this.buffer.set(seq, envelope);
      this.applyPending();
    }
  }

  /** Applies what the buffer holds in sequence, in the lane. */
  private applyPending(): void {
    void this.ctx.serial
      .track(() => this.applyBuffered())
      .catch((error: unknown) => {
        this.report(error, "storing updates from the log");
        // The state store failed: what is in memory is ahead of what is stored. Start over
        // from the stored point on a new connection rather than acknowledge unstored work.
        this.session.connection?.close("could not store updates");
      })
      .finally(() => this.session.notify());
  }

  private async applyBuffered(): Promise<void> {
    const ops: StateOp[] = [];
    let seq = this.ctx.meta.appliedSeq;
    let changed = 0;
    while (this.buffer.has(seq + 1)) {
      const bytes = this.buffer.get(seq + 1)!;
      let applied = this.applyEnvelope(seq + 1, bytes, ops);
      if (applied === NEEDS_KEY) {
        await this.refreshKeys();
        applied = this.applyEnvelope(seq + 1, bytes, ops);
      }
      const entry = applied === NEEDS_KEY ? { weight: 0, changed: 0 } : applied;
      this.buffer.delete(++seq);
      this.peers.weigh(seq, entry.weight);
      changed += entry.changed;
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
    this.session.connection?.post({ type: "ack", folderId: this.ctx.folderId, seq });
    if (changed > 0) this.host.remoteApplied(changed);
    this.maybeSnapshot();
  }

  /** Asks for keys given since (a new epoch); a failure is reported, never fatal. */
  async refreshKeys(): Promise<void> {
    if (!this.refreshKeysOption) return;
    try {
      await this.refreshKeysOption();
    } catch (error) {
      this.report(error, "fetching the folder's keys");
    }
  }

  /**
   * Applies one log entry, adding the storage ops; returns what it did, or NEEDS_KEY (once per
   * epoch and connection) when it is sealed under an epoch this device has no key for yet and
   * keys can be fetched: the caller fetches them and applies it again.
   */
  private applyEnvelope(
    seq: number,
    bytes: Uint8Array,
    ops: StateOp[],
  ): EntryApplied | typeof NEEDS_KEY {
    try {
      const opened = openLogEnvelope(this.ctx, bytes);
      if (
        opened.device === this.ctx.identity.deviceId &&
        opened.envelope.deviceSeq <= this.ctx.meta.deviceSeq &&
        !this.session.unanswered?.(opened.envelope.deviceSeq)
      ) {
        // Sealed from state this device already has: nothing changes here (a daemon need not
        // look at its disk again for its own write).
        return { weight: this.outbox.weightOf(opened.envelope.deviceSeq) ?? 1, changed: 0 };
      }
      let weight = 0;
      // Its own signature over all its records, kept for the snapshots this device may make.
      // A bad one costs the writer its attestation, not the entry.
      try {
        ops.push(
          ...this.ctx.attestations.fromEntry(
            opened.device,
            opened.envelope.deviceSeq,
            opened.attestations,
          ),
        );
      } catch (error) {
        this.report(error, `the record attestation in log entry ${seq}`);
      }
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
          if (opened.device === this.ctx.identity.deviceId)
            this.ctx.attestations.ownArrived(this.outbox.length === 0);
        } else {
          ops.push(...this.ctx.local.appendOps(`${part.type}:${part.name}`, part.update));
          this.docs.remote(part, opened.device);
          weight++;
        }
      }
      return { weight, changed: weight };
    } catch (error) {
      const epoch = this.missingEpoch(error, bytes);
      if (epoch !== undefined && this.refreshKeysOption && !this.askedEpochs.has(epoch)) {
        this.askedEpochs.add(epoch);
        return NEEDS_KEY;
      }
      // One bad entry (forged, corrupt, unreadable) must not stop the folder: report it, skip it.
      this.report(error, `log entry ${seq}`);
      return { weight: 0, changed: 0 };
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

  /**
   * Merges a snapshot (an envelope with device sequence 0) covering the log up to `coversSeq`,
   * once every writer's records in it check out; false (reported) when it is refused.
   */
  private async applySnapshot(bytes: Uint8Array, coversSeq: number): Promise<boolean> {
    let opened;
    try {
      opened = openLogEnvelope(this.ctx, bytes);
    } catch (error) {
      this.report(error, "the folder snapshot on the relay (replaying the log instead)");
      return false;
    }
    // One member made it, but it holds every device's records: each writer's part must be as
    // that writer signed it, or none of it is merged.
    const index = opened.parts.filter((p) => p.kind === "index");
    const attested =
      index.length === 1
        ? RecordAttestations.checkSnapshot(this.ctx.folderId, index[0]!.update, opened.attestations)
        : "it does not hold one index update";
    if (typeof attested === "string") {
      this.report(
        new WeftError("INTEGRITY", `the folder snapshot on the relay is refused: ${attested}`),
        "the folder snapshot on the relay (replaying the log instead)",
      );
      // Replace it with one that can be checked, as soon as this device can make one.
      this.lastSnapshotSeq = 0;
      return false;
    }
    const ops: StateOp[] = [...this.ctx.attestations.fromSnapshot(attested)];
    for (const part of opened.parts) {
      if (part.kind === "index") this.ctx.index.applyDelta(part.update);
      else {
        ops.push(...this.ctx.local.appendOps(`${part.type}:${part.name}`, part.update));
        this.docs.remote(part, opened.device);
      }
    }
    // Every writer's part is as it signed it, so each client's owner is as its records say.
    this.ownership.learn(this.ctx.index.doc);
    if (attested.has(this.ctx.identity.deviceId))
      this.ctx.attestations.ownArrived(this.outbox.length === 0);
    ops.push(...this.ctx.local.compactOps("index", this.ctx.index.snapshot()));
    const appliedSeq = Math.max(this.ctx.meta.appliedSeq, coversSeq);
    await this.ctx.local.transaction([
      ...ops,
      this.ctx.local.metaOp({ ...this.ctx.meta, appliedSeq }),
    ]);
    this.ctx.meta.appliedSeq = appliedSeq;
    this.snapshotsLoaded++;
    this.host.remoteApplied(1);
    return true;
  }

  /** Uploads a snapshot when the log has grown `snapshotEvery` entries past the newest one. */
  private maybeSnapshot(): void {
    const conn = this.session.connection;
    const covers = this.ctx.meta.appliedSeq;
    if (!conn || this.snapshotting || covers - this.lastSnapshotSeq < this.snapshotEvery) return;
    // Tried already: not again until some writer attested anew (it would fail the same way),
    // and not more often than every sixteenth of the interval (each try digests every record).
    const { revision, seq } = this.unattested;
    if (
      revision === this.ctx.attestations.revision ||
      covers - seq < Math.max(1, this.snapshotEvery >> 4)
    )
      return;
    const attestations = this.ctx.attestations.forSnapshot();
    if (!attestations) {
      // Some writer's records are ahead of its newest attestation (its last entry carried
      // none: more of its changes are on the way). Try again once one arrives.
      this.unattested = { revision: this.ctx.attestations.revision, seq: covers };
      return;
    }
    this.snapshotting = true;
    void (async () => {
      const parts: PayloadPart[] = [
        { kind: "index", update: this.ctx.index.snapshot() },
        ...(await this.docs.states()),
      ];
      const envelope = sealParts(this.ctx, 0, parts, attestations);
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
