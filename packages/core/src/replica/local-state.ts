/**
 * A Replica's bookkeeping in its StateStore: update logs of the index and each document, the
 * outbox of unsent local updates, sealed envelopes awaiting the relay's answer, chunks awaiting
 * upload, and the counters. Every change that must survive together goes in one transaction.
 */
import type { ChunkId } from "@weft/crypto";
import { type Clock, systemClock } from "../clock.js";
import { WeftError } from "../errors.js";
import type { StateOp, StateStore } from "../storage/index.js";
import { type PayloadPart, decodePayload, encodePayload } from "./payload.js";
import type { ChunkPlace } from "./types.js";

const ROOT = "replica";
const FORMAT = 1;
/** Updates a stream keeps as separate log entries before it is compacted into one base. */
export const COMPACT_AFTER = 256;

/** The counters, saved as JSON under `["replica", "meta"]`. */
export interface ReplicaMeta {
  format: number;
  /** Device sequence number of the last envelope this device sealed. */
  deviceSeq: number;
  /** Every folder log entry up to this sequence number is applied and stored here. */
  appliedSeq: number;
}

/** A stream: the index (`"index"`) or a document (`"yjs:<name>"`, `"automerge:<name>"`). */
export type StreamId = string;

/** What {@link LocalState.load} finds. */
export interface LoadedState {
  meta: ReplicaMeta;
  /** Stored updates of the index, oldest first. */
  index: Uint8Array[];
  /** Unsent local parts, in order, with their keys. */
  outbox: { key: string; part: PayloadPart }[];
  /** Sealed envelopes not yet acknowledged by the relay, by device sequence number. */
  sent: { deviceSeq: number; envelope: Uint8Array }[];
  /** Chunks still to upload. */
  uploads: ChunkId[];
  /** Where those of them that were not spooled lie (see `WriteOptions.source`). */
  places: Map<ChunkId, ChunkPlace>;
  /** The newest record attestation kept of each device (see attestation.ts), encoded. */
  attestations: Uint8Array[];
  /** A strong folder's queued, sent and refused writes (strong-writes.ts), by key after `strong`. */
  strong: { key: string[]; data: Uint8Array }[];
}

/** How {@link LocalState.durable} waits between tries while the disk is full. */
const DISK_FULL_RETRY_MIN_MS = 250;
const DISK_FULL_RETRY_MAX_MS = 5000;

/** The next turn of the event loop, after the microtasks and I/O callbacks now queued. */
const nextTurn: (f: () => void) => void =
  typeof setImmediate === "function" ? (f) => setImmediate(f) : (f) => setTimeout(f, 0);

const pad = (n: number): string => n.toString().padStart(15, "0");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A Replica's bookkeeping in its StateStore: loads what an earlier run left (index, outbox,
 * unconfirmed envelopes, uploads, counters), builds the ops that store each change in one
 * transaction, compacts update logs, and waits out a full disk for changes already made.
 */
export class LocalState {
  private logCounter = 0;
  private outboxCounter = 0;
  /** Log entries per stream since its base, to know when to compact. */
  private readonly logSizes = new Map<StreamId, number>();

  /**
   * @param diskFullWaitMs - how long {@link LocalState.durable} waits out a full disk before
   *   it fails (default: until {@link LocalState.stop})
   * @param clock - the time it waits by
   */
  constructor(
    private readonly store: StateStore,
    private readonly diskFullWaitMs = Infinity,
    private readonly clock: Clock = systemClock,
  ) {}

  async load(): Promise<LoadedState> {
    const entries = await this.store.loadRange([ROOT]);
    let meta: ReplicaMeta = { format: FORMAT, deviceSeq: 0, appliedSeq: 0 };
    const index: Uint8Array[] = [];
    const outbox: LoadedState["outbox"] = [];
    const sent: LoadedState["sent"] = [];
    const uploads: ChunkId[] = [];
    const places = new Map<ChunkId, ChunkPlace>();
    const attestations: Uint8Array[] = [];
    const strong: LoadedState["strong"] = [];
    for (const { key, data } of entries) {
      const [, kind, a, b, c] = key;
      if (kind === "meta") meta = parseMeta(data);
      else if (kind === "stream" && a !== undefined) {
        if (b === "log" && c !== undefined) {
          this.logCounter = Math.max(this.logCounter, Number(c));
          this.logSizes.set(a, (this.logSizes.get(a) ?? 0) + 1);
        }
        if (a === "index") index.push(data);
      } else if (kind === "outbox" && a !== undefined) {
        this.outboxCounter = Math.max(this.outboxCounter, Number(a));
        outbox.push({ key: a, part: decodeOutboxPart(data) });
      } else if (kind === "sent" && a !== undefined) {
        sent.push({ deviceSeq: Number(a), envelope: data });
      } else if (kind === "upload" && a !== undefined) {
        uploads.push(a as ChunkId);
        const place = data.length > 0 ? parsePlace(data) : undefined;
        if (place) places.set(a as ChunkId, place);
      } else if (kind === "attest" && a !== undefined) attestations.push(data);
      else if (kind === "strong") strong.push({ key: key.slice(2), data });
    }
    return { meta, index, outbox, sent, uploads, places, attestations, strong };
  }

  /** The stored updates of one stream, base first. */
  async loadStream(stream: StreamId): Promise<Uint8Array[]> {
    return (await this.store.loadRange([ROOT, "stream", stream])).map((e) => e.data);
  }

  /** Names of every stream with stored updates. */
  async streams(): Promise<StreamId[]> {
    const out = new Set<StreamId>();
    for (const { key } of await this.store.loadRange([ROOT, "stream"])) out.add(key[2]!);
    return [...out];
  }

  /** Ops that append `update` to a stream's log. */
  appendOps(stream: StreamId, update: Uint8Array): StateOp[] {
    this.logSizes.set(stream, (this.logSizes.get(stream) ?? 0) + 1);
    return [
      { op: "save", key: [ROOT, "stream", stream, "log", pad(++this.logCounter)], data: update },
    ];
  }

  /** Ops that queue a local part for sending. */
  outboxOps(part: PayloadPart): StateOp[] {
    return [
      {
        op: "save",
        key: [ROOT, "outbox", pad(++this.outboxCounter)],
        data: encodeOutboxPart(part),
      },
    ];
  }

  /**
   * Ops that queue chunks for upload, each with where it lies when `places` has it (stored in
   * the same transaction as the change that needs it, so a restart reads it from there).
   */
  uploadOps(ids: Iterable<ChunkId>, places?: ReadonlyMap<ChunkId, ChunkPlace>): StateOp[] {
    const out: StateOp[] = [];
    for (const id of ids) {
      const place = places?.get(id);
      const data = place
        ? encoder.encode(JSON.stringify({ s: place.source, o: place.offset, n: place.size }))
        : new Uint8Array(0);
      out.push({ op: "save", key: [ROOT, "upload", id], data });
    }
    return out;
  }

  /** Ops that record an uploaded chunk. */
  uploadedOps(ids: Iterable<ChunkId>): StateOp[] {
    const out: StateOp[] = [];
    for (const id of ids) out.push({ op: "remove", key: [ROOT, "upload", id] });
    return out;
  }

  /** Ops that turn outbox entries into one sealed envelope awaiting the relay. */
  sealOps(outboxKeys: readonly string[], deviceSeq: number, envelope: Uint8Array): StateOp[] {
    const ops: StateOp[] = outboxKeys.map((k) => ({ op: "remove", key: [ROOT, "outbox", k] }));
    ops.push({ op: "save", key: [ROOT, "sent", pad(deviceSeq)], data: envelope });
    return ops;
  }

  /** Ops that forget an envelope the relay has stored. */
  appendedOps(deviceSeq: number): StateOp[] {
    return [{ op: "remove", key: [ROOT, "sent", pad(deviceSeq)] }];
  }

  /** The op that saves the counters. */
  /** Op that keeps `attestation` as the newest of `device`'s (replacing the one before). */
  attestationOp(device: string, attestation: Uint8Array): StateOp {
    return { op: "save", key: [ROOT, "attest", device], data: attestation };
  }

  metaOp(meta: ReplicaMeta): StateOp {
    return { op: "save", key: [ROOT, "meta"], data: encoder.encode(JSON.stringify(meta)) };
  }

  /** Whether a stream's log is long enough to compact. */
  needsCompaction(stream: StreamId): boolean {
    return (this.logSizes.get(stream) ?? 0) >= COMPACT_AFTER;
  }

  /** Ops that replace a stream's base and log with one state. */
  compactOps(stream: StreamId, state: Uint8Array): StateOp[] {
    this.logSizes.set(stream, 0);
    return [
      { op: "removeRange", prefix: [ROOT, "stream", stream] },
      { op: "save", key: [ROOT, "stream", stream, "base"], data: state },
    ];
  }

  /**
   * Stores `ops` atomically. Calls made before the next turn of the event loop share one store
   * transaction (a group commit): a store pays one fsync per transaction, and writing many small
   * files would otherwise pay one each. Each caller's ops still land whole, in call order; the
   * promise resolves once they are durable, or rejects for every caller of a failed group.
   */
  transaction(ops: readonly StateOp[]): Promise<void> {
    if (this.group) {
      this.group.ops.push(...ops);
      return this.group.done;
    }
    const group: StateOp[] = [...ops];
    const done = new Promise<void>((resolve) => nextTurn(resolve)).then(() => {
      this.group = undefined;
      return this.store.transaction(group);
    });
    this.group = { ops: group, done };
    return done;
  }

  /**
   * {@link transaction}, waiting out a full disk: while the store fails with `DISK_FULL` the
   * same ops are tried again (after 250 ms, doubling to 5 s) until they land. For changes
   * already made in memory (a local edit, updates from the log), which must not be dropped:
   * a local edit whose ops were lost would never be sent, and every later update of this
   * device would then wait forever on other devices for the one missing before it.
   * `onWait` hears the first failure; any other failure, {@link stop}, or the constructor's
   * `diskFullWaitMs` running out, rejects.
   */
  async durable(ops: readonly StateOp[], onWait: (error: WeftError) => void): Promise<void> {
    const giveUpAt = this.clock.now() + this.diskFullWaitMs;
    for (let delay = DISK_FULL_RETRY_MIN_MS, attempt = 0; ; attempt++) {
      try {
        await this.transaction(ops);
        return;
      } catch (error) {
        if (
          !(error instanceof WeftError && error.code === "DISK_FULL") ||
          this.stopped ||
          this.clock.now() >= giveUpAt
        )
          throw error;
        if (attempt === 0) onWait(error);
      }
      await new Promise<void>((resolve) => {
        const clock = this.clock;
        const timer = clock.setTimeout(done, delay);
        function done(): void {
          clock.clearTimeout(timer);
          resolve();
        }
        this.wake.add(done);
      });
      if (this.stopped)
        throw new WeftError("STORAGE", "the replica closed while waiting for disk space");
      delay = Math.min(delay * 2, DISK_FULL_RETRY_MAX_MS);
    }
  }

  /** Ends every {@link durable} wait (the replica closes): they reject. */
  stop(): void {
    this.stopped = true;
    for (const wake of this.wake) wake();
    this.wake.clear();
  }

  private stopped = false;
  private readonly wake = new Set<() => void>();

  /** Resolves once every transaction asked for so far has been stored (or has failed). */
  async written(): Promise<void> {
    await this.group?.done.catch(() => undefined);
  }

  private group: { ops: StateOp[]; done: Promise<void> } | undefined;
}

function parseMeta(data: Uint8Array): ReplicaMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(decoder.decode(data));
  } catch (cause) {
    throw new WeftError("STORAGE", "the replica's stored counters are corrupt", { cause });
  }
  const m = meta as Partial<ReplicaMeta>;
  if (m.format !== FORMAT)
    throw new WeftError(
      "STORAGE",
      `the replica's state has format ${String(m.format)}, this version reads ${FORMAT}`,
    );
  if (!Number.isSafeInteger(m.deviceSeq) || !Number.isSafeInteger(m.appliedSeq))
    throw new WeftError("STORAGE", "the replica's stored counters are corrupt");
  return m as ReplicaMeta;
}

// An outbox entry is one payload part; the payload codec already frames parts, so reuse it
// with an empty key rather than invent a second format.
const NO_KEY = new Uint8Array(32);
function encodeOutboxPart(part: PayloadPart): Uint8Array {
  return encodePayload({ signPublicKey: NO_KEY, parts: [part] });
}
function decodeOutboxPart(data: Uint8Array): PayloadPart {
  const part = decodePayload(data).parts[0];
  if (!part) throw new WeftError("STORAGE", "an outbox entry is empty");
  return part;
}

/** A stored chunk place, or undefined when it is not one (the upload then looks elsewhere). */
function parsePlace(data: Uint8Array): ChunkPlace | undefined {
  try {
    const v = JSON.parse(decoder.decode(data)) as { s?: unknown; o?: unknown; n?: unknown };
    if (
      typeof v.s === "string" &&
      Number.isSafeInteger(v.o) &&
      Number.isSafeInteger(v.n) &&
      (v.o as number) >= 0 &&
      (v.n as number) > 0
    )
      return { source: v.s, offset: v.o as number, size: v.n as number };
  } catch {
    // not a place: none
  }
  return undefined;
}
