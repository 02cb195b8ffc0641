/**
 * The outbox of a Replica: local changes not yet sealed (in commit order), which of them peers
 * may see yet (their chunks are on the relay), how they are batched into envelopes, and the
 * sealed envelopes the relay has not confirmed. In memory only; LocalState stores the same.
 */
import type { ChunkId } from "@weft/crypto";
import * as Y from "yjs";
import { OutgoingIndex } from "./outgoing.js";
import { type PayloadPart, mergeParts } from "./payload.js";

/**
 * Payload bytes of unsent changes sealed into one envelope, at most (one entry more when the
 * first alone is larger). Not the protocol's chunk batch limit (`MAX_CHUNK_BATCH_BYTES`, 16 MiB).
 */
export const MAX_OUTBOX_BATCH_BYTES = 1024 * 1024;
/** Largest delta of the outgoing index sent in one envelope (the envelope limit is 16 MiB). */
export const MAX_OUTGOING_DELTA_BYTES = 8 * 1024 * 1024;

/**
 * An unsent local change. `outgoing` marks index updates of this run, which are sent as one
 * compact delta of the {@link OutgoingIndex} instead of one by one.
 */
export interface OutboxEntry {
  /** Its key in the stored outbox. */
  key: string;
  part: PayloadPart;
  /** Items it changes, for peers' lag (see `Peers`). */
  weight: number;
  outgoing?: boolean;
  /**
   * The chunks its content needs on the relay before peers may see it. Unknown (an entry loaded
   * from a previous run) means: wait until no upload is pending.
   */
  needs?: readonly ChunkId[];
}

/** Entries to seal into one envelope, as {@link Outbox.nextBatch} chose them. */
export interface OutboxBatch {
  /** The entries it takes out of the outbox. */
  readonly entries: readonly OutboxEntry[];
  /** What to seal: the entries' parts merged, with the outgoing delta when there is one. */
  readonly parts: PayloadPart[];
  /** Items changed, summed over the entries. */
  readonly weight: number;
  /** The outgoing index's state this batch seals up to, if it has any of its updates. */
  readonly sealedState: Uint8Array | undefined;
}

/** Size limits of {@link Outbox} batches (tests use small ones). */
export interface OutboxLimits {
  /** Default {@link MAX_OUTBOX_BATCH_BYTES}. */
  batchBytes?: number;
  /** Default {@link MAX_OUTGOING_DELTA_BYTES}. */
  deltaBytes?: number;
}

/**
 * Local changes on their way to the relay: queued in commit order, released to peers only once
 * the relay has the chunks they need, batched into envelopes (this run's index updates as one
 * compact delta), then held as sealed envelopes until the relay confirms each.
 */
export class Outbox {
  private readonly entries: OutboxEntry[] = [];
  /** Entries at the head known ready (see {@link readyCount}). */
  private ready = 0;
  /** Sealed envelopes the relay has not confirmed, by device sequence number. */
  private readonly unconfirmed = new Map<number, Uint8Array>();
  /** Items each envelope this run sealed changed, by device sequence number. */
  private readonly weights = new Map<number, number>();
  private readonly outgoing = new OutgoingIndex();
  private readonly batchBytes: number;
  private readonly deltaBytes: number;

  constructor(limits: OutboxLimits = {}) {
    this.batchBytes = limits.batchBytes ?? MAX_OUTBOX_BATCH_BYTES;
    this.deltaBytes = limits.deltaBytes ?? MAX_OUTGOING_DELTA_BYTES;
  }

  /** Unsent entries. */
  get length(): number {
    return this.entries.length;
  }

  /** Changes not yet confirmed by the relay: unsent entries plus sealed envelopes. */
  get pending(): number {
    return this.entries.length + this.unconfirmed.size;
  }

  /**
   * Queues a committed local change. An index update of this run also goes into the outgoing
   * index, so that a batch can send the run's updates as one delta.
   */
  add(key: string, part: PayloadPart, needs: readonly ChunkId[]): void {
    const outgoing = part.kind === "index";
    if (outgoing) this.outgoing.add(part.update);
    this.entries.push({ key, part, weight: 1, outgoing, needs });
  }

  /** Queues an entry stored by an earlier run (what it needs is unknown: all uploads). */
  addLoaded(key: string, part: PayloadPart): void {
    this.entries.push({ key, part, weight: 1 });
  }

  /** Records an envelope sealed by an earlier run and not confirmed then. */
  addUnconfirmed(deviceSeq: number, envelope: Uint8Array): void {
    this.unconfirmed.set(deviceSeq, envelope);
  }

  /**
   * How many entries at the head peers may see: those whose chunks are not in `uploads` (still
   * to upload). Sending waits for nothing else, so a device recording thousands of files sends
   * the first while it still reads the rest. Entries found ready stay ready (a chunk once
   * uploaded stays on the relay), so the count resumes where it stopped.
   */
  readyCount(uploads: ReadonlySet<ChunkId>): number {
    this.ready = Math.min(this.ready, this.entries.length);
    while (this.ready < this.entries.length) {
      const needs = this.entries[this.ready]!.needs;
      if (needs ? needs.some((id) => uploads.has(id)) : uploads.size > 0) break;
      this.ready++;
    }
    return this.ready;
  }

  /**
   * The next envelope's worth of ready entries, or undefined when none is ready. Every index
   * update of this run goes at once as one delta of the outgoing index (compact, and it covers
   * them all) when the whole outbox is ready, since the delta holds every update so far;
   * otherwise entries go in order up to the batch size.
   */
  nextBatch(uploads: ReadonlySet<ChunkId>): OutboxBatch | undefined {
    if (this.readyCount(uploads) === 0) return undefined;
    const ready = this.entries.slice(0, this.ready);
    let delta =
      ready.length === this.entries.length && ready.some((e) => e.outgoing)
        ? this.outgoing.delta()
        : undefined;
    // A run that wrote a great deal while offline can have a delta too large for one
    // envelope: then its updates go one by one like any other entries, in bounded batches.
    if (delta && delta.update.length > this.deltaBytes) delta = undefined;
    const entries: OutboxEntry[] = [];
    const parts: PayloadPart[] = [];
    let bytes = 0;
    let weight = 0;
    for (const entry of ready) {
      if (!(entry.outgoing && delta)) {
        if (bytes >= this.batchBytes && entries.length > 0) continue;
        bytes += entry.part.update.length;
        parts.push(entry.part);
      }
      entries.push(entry);
      weight += entry.weight;
    }
    const merged = mergeParts(parts);
    if (delta) merged.push({ kind: "index", update: delta.update });
    // What of the outgoing index is sealed with it: all of it with a delta, else up to the
    // last of its updates in this batch.
    const outgoingParts = entries.filter((e) => e.outgoing).map((e) => e.part.update);
    const sealedState = delta
      ? delta.state
      : outgoingParts.length > 0
        ? Y.encodeStateVectorFromUpdate(Y.mergeUpdates(outgoingParts))
        : undefined;
    return { entries, parts: merged, weight, sealedState };
  }

  /**
   * A batch is sealed and stored as envelope `deviceSeq`: its entries leave the outbox and the
   * envelope waits for the relay's confirmation.
   */
  sealed(batch: OutboxBatch, deviceSeq: number, envelope: Uint8Array): void {
    if (batch.sealedState) this.outgoing.markSealed(batch.sealedState);
    const done = new Set(batch.entries);
    const rest = this.entries.filter((e) => !done.has(e));
    this.entries.length = 0;
    this.entries.push(...rest);
    this.ready = Math.max(0, this.ready - batch.entries.length);
    this.unconfirmed.set(deviceSeq, envelope);
    this.weights.set(deviceSeq, batch.weight);
  }

  /** Whether envelope `deviceSeq` still waits for the relay's confirmation. */
  isUnconfirmed(deviceSeq: number): boolean {
    return this.unconfirmed.has(deviceSeq);
  }

  /** The relay stored envelope `deviceSeq` (or refused it for good): it is no longer resent. */
  confirmed(deviceSeq: number): void {
    this.unconfirmed.delete(deviceSeq);
  }

  /** Envelopes to send again on a new connection, oldest first. */
  toResend(): [deviceSeq: number, envelope: Uint8Array][] {
    return [...this.unconfirmed].sort((a, b) => a[0] - b[0]);
  }

  /** Items envelope `deviceSeq` of this run changed, if this run sealed it. */
  weightOf(deviceSeq: number): number | undefined {
    return this.weights.get(deviceSeq);
  }
}
