/**
 * A strong-consistency folder's writes (issue 20): each local change is queued, then sealed from
 * a copy of the index (with the queued writes after it, up to 64 in one envelope) and sent with
 * the file heads it replaces; it joins the shared index only once the relay accepts it, and one
 * the relay refuses (the file changed elsewhere first) is kept and reported instead of becoming
 * a conflict copy. INTERNALS.md, "Strong consistency".
 */
import { type ChunkId, type FolderKeyring, deriveHeadKey } from "@weft/crypto";
import { WeftError } from "../errors.js";
import type { FolderIndexOptions } from "../folder/folder-index.js";
import { ProtocolError } from "../protocol/errors.js";
import { frameLimits } from "../protocol/limits.js";
import type { HeadClaim, MessageOf } from "../protocol/messages.js";
import type { StateOp } from "../storage/index.js";
import { openAttestation } from "./attestation.js";
import type { ReplicaContext } from "./context.js";
import { sealParts } from "./outbound.js";
import { BATCHED, MAX_BATCH, type Replayed, madeOf, replay } from "./strong-batch.js";
import { type SentWrite, decodeSent, encodeSent } from "./strong-sent.js";
import { CHANGED_ELSEWHERE, type RefusedWrite, type StrongOp } from "./strong-types.js";

export { CHANGED_ELSEWHERE, type RefusedWrite, type StrongOp } from "./strong-types.js";
import { type ObservedOp, pathOf, seenBy, stillSeen } from "./strong-claims.js";

/** A queued write and what it replaces, as this device saw it when the write was made. */
interface QueuedWrite {
  id: string;
  op: StrongOp;
  /**
   * `file:<id>` → the winning version id the write replaces (null: none yet); `path:<path>` →
   * null, a path it expected free; either → `@<id>` when an earlier write of this device, still
   * queued then, wrote it (resolved to what that write made once accepted; refused with it).
   * An offline write is checked against these, not against whatever arrived since.
   */
  seen: Record<string, string | null>;
  /** Chunks its content needs on the relay before it may be sent. */
  needs: ChunkId[];
  at: number;
}

/** What the sync engine lends the strong writes: its connection and log. */
export interface StrongSession {
  /** Whether a connection is up (through auth and subscribe). */
  readonly online: boolean;
  /** Sends `appendIf` on the live connection. */
  appendIf(
    envelope: Uint8Array,
    claims: HeadClaim[],
  ): Promise<MessageOf<"appended"> | MessageOf<"stale">>;
  /** Tells the log reader this device's own entry is at `seq` (it is applied already). */
  placeOwn(seq: number, envelope: Uint8Array): void;
  /** Something `idle` depends on changed. */
  notify(): void;
}

const ROOT = "replica";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The queue of a strong folder's writes: each made durable with what it replaces, sent (several
 * to an envelope) once its chunks are on the relay, accepted into the shared index or kept as
 * refused.
 */
export class StrongWrites {
  private readonly queue: QueuedWrite[] = [];
  private readonly refusedById = new Map<string, RefusedWrite>();
  private sent: SentWrite | undefined;
  private session: StrongSession | undefined;
  private pumping = false;
  /** Kicked while pumping: look again once the pump ends. */
  private again = false;
  private counter = 0;
  private headKeyBytes: Uint8Array | undefined;
  /** Most writes in the next envelope: {@link MAX_BATCH}, less after a batch came back stale. */
  private batchMax = MAX_BATCH;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly keyring: FolderKeyring,
    private readonly indexOptions: FolderIndexOptions,
    private readonly uploads: ReadonlySet<ChunkId>,
    stored: readonly { key: string[]; data: Uint8Array }[],
    /** Number envelopes from the clock (`ReplicaOptions.clockDeviceSeq`). */
    private readonly clockDeviceSeq = false,
  ) {
    for (const { key, data } of stored) {
      const [kind, name] = key;
      const value = JSON.parse(decoder.decode(data)) as unknown;
      if (kind === "sent") this.sent = decodeSent(value as Record<string, unknown>);
      if (name === undefined) continue;
      // Ids go on from every one still stored: a new change must never take the id of a
      // refused one (its record would be overwritten) or of the sent one (resent in its place).
      this.counter = Math.max(this.counter, Number(name));
      if (kind === "q") this.queue.push(value as QueuedWrite);
      else if (kind === "refused") this.refusedById.set(name, value as RefusedWrite);
    }
    if (this.sent) this.counter = Math.max(this.counter, Number(this.sent.id));
    this.queue.sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** Lends the engine's connection; called once. */
  attach(session: StrongSession): void {
    this.session = session;
  }

  /** The device sequence number of the change sealed and not answered yet, if any. */
  get sentSeq(): number | undefined {
    return this.sent?.deviceSeq;
  }

  /** Writes queued or awaiting the relay's answer. */
  get pending(): number {
    return this.queue.length;
  }

  /** Whether a write is being sealed or sent now. */
  get busy(): boolean {
    return this.pumping;
  }

  /** Writes refused and kept, oldest first. */
  refused(): RefusedWrite[] {
    return [...this.refusedById.values()].sort((a, b) => a.at - b.at || cmp(a.id, b.id));
  }

  /** Whether a queued change writes `path` (a move: either end). */
  writesQueued(path: string): boolean {
    return this.queue.some(
      (w) => pathOf(w.op) === path || (w.op.kind === "move" && w.op.to === path),
    );
  }

  /** Paths with a write queued (not yet accepted or refused); a move gives both ends. */
  queuedPaths(): string[] {
    return this.queue.flatMap((w) => (w.op.kind === "move" ? [w.op.from, w.op.to] : [w.op.path]));
  }

  /**
   * Queues a change, recording what it replaces as the index shows it now; resolves once it is
   * durable (it is sent when online). A write made from content older than the file's head
   * (`basedOn`, a content hash) is refused at once: the file changed elsewhere first.
   */
  submit(
    op: StrongOp,
    needs: readonly ChunkId[] = [],
    basedOn?: string,
    seen?: Record<string, string | null>,
  ): Promise<string> {
    return this.ctx.serial.run(() => this.enqueue(op, needs, basedOn, [], seen));
  }

  /**
   * What `op` would replace as this device sees the folder now, for a write whose content takes
   * a while to read ({@link submit} it with the result): it replaces the version there was when
   * it began, not one that arrived while it was being read.
   */
  observe(op: ObservedOp): Record<string, string | null> {
    return this.chained(seenBy(this.ctx.index, op));
  }

  /**
   * Queues a refused write again, on top of the file's head as this device has it now (what
   * made it refused), and forgets the refusal.
   * @throws WeftError NOT_FOUND for an unknown id
   */
  reapply(id: string): Promise<string> {
    return this.ctx.serial.run(() => {
      const r = this.refusedById.get(id);
      if (!r) throw new WeftError("NOT_FOUND", `no refused write ${id}`);
      this.refusedById.delete(id);
      const needs = r.op.kind === "write" ? r.op.manifest.chunks.map((c) => c.id) : [];
      return this.enqueue(r.op, needs, undefined, [
        { op: "remove", key: [ROOT, "strong", "refused", id] },
      ]);
    });
  }

  /**
   * Forgets a refused write (the head stays as it is).
   * @throws WeftError NOT_FOUND for an unknown id
   */
  async discard(id: string): Promise<void> {
    await this.ctx.serial.run(async () => {
      if (!this.refusedById.delete(id)) throw new WeftError("NOT_FOUND", `no refused write ${id}`);
      await this.ctx.local.transaction([{ op: "remove", key: [ROOT, "strong", "refused", id] }]);
    });
  }

  private async enqueue(
    op: StrongOp,
    needs: readonly ChunkId[],
    basedOn: string | undefined,
    extra: StateOp[],
    observed?: Record<string, string | null>,
  ): Promise<string> {
    const id = String(++this.counter).padStart(12, "0");
    const seen = observed ?? this.observe(op);
    const w: QueuedWrite = { id, op, seen, needs: [...needs], at: this.ctx.clock.now() };
    if (basedOn !== undefined && op.kind === "write") {
      const head = this.ctx.index.stat(op.path);
      if (head && head.version.manifest?.contentHash !== basedOn) {
        await this.refuse(w, CHANGED_ELSEWHERE, extra);
        return id;
      }
    }
    await this.ctx.local.transaction([
      ...extra,
      { op: "save", key: [ROOT, "strong", "q", id], data: encoder.encode(JSON.stringify(w)) },
    ]);
    this.queue.push(w);
    this.kick();
    return id;
  }

  /**
   * `seen` with each key an earlier queued write also touches replaced by that write's result:
   * a file saved twice while offline is one edit on top of the other, not two rivals.
   */
  private chained(seen: Record<string, string | null>): Record<string, string | null> {
    for (const key of Object.keys(seen))
      for (const q of this.queue) if (key in q.seen) seen[key] = `@${q.id}`;
    return seen;
  }

  /** Sends what is queued while online, one envelope at a time. */
  kick(): void {
    if (this.pumping) {
      // The running pump may be on its way out (a connection that just failed): go again after.
      this.again = true;
      return;
    }
    if (!this.session?.online || this.queue.length === 0) return;
    this.pumping = true;
    void this.pump()
      .catch((error: unknown) => {
        // A lost connection leaves the sent write stored: it goes again on the next one.
        if (error instanceof ProtocolError && error.wireCode === "unavailable") return;
        this.ctx.events.emit("error", {
          error: error instanceof Error ? error : new Error(String(error)),
          context: "sending a strong folder's write",
        });
      })
      .finally(() => {
        this.pumping = false;
        this.session?.notify();
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pump(): Promise<void> {
    const session = this.session!;
    while (session.online && this.queue.length > 0) {
      const w = this.queue[0]!;
      if (w.needs.some((id) => this.uploads.has(id))) return; // kicked again once uploaded
      const sent =
        this.sent?.id === w.id ? this.sent : await this.ctx.serial.run(() => this.seal());
      if (!sent) continue;
      let answer: MessageOf<"appended"> | MessageOf<"stale"> | undefined;
      const fresh = sent.fresh === true;
      sent.fresh = false;
      try {
        answer = await session.appendIf(sent.envelope, sent.claims);
      } catch (error) {
        if (error instanceof ProtocolError && error.wireCode === "conflict" && !fresh) {
          // Sent before (its answer lost), stored, and pruned from the log since: the relay
          // now only knows its number is taken. It was accepted.
          answer = undefined;
        } else if (
          error instanceof ProtocolError &&
          error.wireCode !== "unavailable" &&
          error.wireCode !== "unauthorized"
        ) {
          // Refused for good (a viewer, too many files at once): kept like a stale write.
          // Several writes go again in halves, down to each on its own.
          if (sent.ids.length > 1) await this.ctx.serial.run(() => this.unbatch(sent));
          else {
            this.batchMax = MAX_BATCH;
            await this.ctx.serial.run(() => this.refuse(w, error.message, this.dropSent()));
          }
          continue;
        } else throw error;
      }
      // The relay names stale handles, not writes: the batch goes again in halves, and only
      // the writes whose file changed elsewhere are refused, each alone.
      if (answer?.type === "stale" && sent.ids.length > 1)
        await this.ctx.serial.run(() => this.unbatch(sent));
      else await this.ctx.serial.run(() => this.settle(sent, answer));
    }
  }

  /**
   * Drops a sealed batch the relay did not store; the next is half its size (down to one write
   * per envelope), so a stale write is found in a few round trips and refused alone.
   */
  private async unbatch(sent: SentWrite): Promise<void> {
    this.batchMax = Math.floor(sent.ids.length / 2);
    await this.ctx.local.transaction(this.dropSent());
  }

  /**
   * The writes at the head of the queue that can be sealed together: the first, and those after
   * it that are ready (their chunks on the relay), build on no queued write (so no two share a
   * file or place) and still see the heads they saw, up to {@link batchMax}; writes and mkdirs
   * only ({@link BATCHED}).
   */
  private batchOf(): QueuedWrite[] {
    const first = this.queue[0]!;
    const batch = [first];
    if (!BATCHED.has(first.op.kind)) return batch;
    for (const q of this.queue.slice(1, this.batchMax)) {
      if (!BATCHED.has(q.op.kind)) break;
      if (q.needs.some((id) => this.uploads.has(id)) || !stillSeen(this.ctx.index, q.seen)) break;
      batch.push(q);
    }
    return batch;
  }

  /**
   * Seals the writes at the head of the queue, as many as go together, from a copy of the
   * index; undefined when the first is refused or they change nothing.
   */
  private async seal(): Promise<SentWrite | undefined> {
    const index = this.ctx.index;
    const w = this.queue[0]!;
    // Still waiting on an earlier write means that write was refused: this one built on it.
    if (!stillSeen(index, w.seen)) {
      await this.refuse(w, CHANGED_ELSEWHERE);
      return undefined;
    }
    let batch = this.batchOf();
    let replayed: Replayed;
    for (;;) {
      replayed = replay(this.ctx.index, this.indexOptions, batch, () => this.headKey());
      if (replayed.failedAt === 0) {
        await this.refuse(w, replayed.error);
        return undefined;
      }
      if (replayed.failedAt !== undefined) {
        batch = batch.slice(0, replayed.failedAt); // the failing one is refused alone, later
        continue;
      }
      if (replayed.claims.length <= frameLimits.maxHeadClaims) break;
      if (batch.length === 1) {
        await this.refuse(
          w,
          `it changes ${replayed.claims.length} files and places at once; a strong folder's write may ` +
            `change at most ${frameLimits.maxHeadClaims} (remove a large directory in parts)`,
        );
        return undefined;
      }
      batch = batch.slice(0, Math.ceil(batch.length / 2));
    }
    const { copy, update, claims } = replayed;
    if (update === undefined) {
      await this.ctx.local.transaction(
        batch.map((b) => ({ op: "remove", key: [ROOT, "strong", "q", b.id] })),
      );
      this.queue.splice(0, batch.length);
      return undefined;
    }
    const deviceSeq = Math.max(
      this.ctx.meta.deviceSeq + 1,
      this.clockDeviceSeq ? Math.floor(this.ctx.clock.now()) : 0,
    );
    const attestation = this.ctx.attestations.signOwnOf(copy.doc, deviceSeq);
    const envelope = sealParts(
      this.ctx,
      deviceSeq,
      [{ kind: "index", update }],
      [attestation.bytes],
    );
    // Keys of these changes and of the queued changes that build on them (theirs may be a path
    // an earlier version here turned into a file: they resolve through it).
    const marks = new Set(batch.map((b) => `@${b.id}`));
    const keys = new Set(batch.flatMap((b) => Object.keys(b.seen)));
    for (const q of this.queue)
      for (const [key, value] of Object.entries(q.seen))
        if (value && marks.has(value)) keys.add(key);
    const made = madeOf(copy, keys);
    const sent: SentWrite = {
      id: w.id,
      ids: batch.map((b) => b.id),
      deviceSeq,
      envelope,
      update,
      claims,
      attestation: attestation.bytes,
      made,
      fresh: true,
    };
    await this.ctx.local.transaction([
      { op: "save", key: [ROOT, "strong", "sent"], data: encodeSent(sent) },
      this.ctx.local.metaOp({ ...this.ctx.meta, deviceSeq }),
    ]);
    this.ctx.meta.deviceSeq = deviceSeq;
    this.sent = sent;
    return sent;
  }

  /** The relay answered `sent`: accepted into the shared index, or refused and kept. */
  private async settle(
    sent: SentWrite,
    answer: MessageOf<"appended"> | MessageOf<"stale"> | undefined,
  ): Promise<void> {
    const w = this.queue[0]!;
    this.batchMax = MAX_BATCH;
    if (answer?.type === "stale") return this.refuse(w, CHANGED_ELSEWHERE, this.dropSent());
    const index = this.ctx.index;
    index.applyDelta(sent.update);
    this.ctx.attestations.ownArrived(true);
    const done = new Set(sent.ids);
    const ops: StateOp[] = [
      ...this.dropSent(),
      ...sent.ids.map((id): StateOp => ({ op: "remove", key: [ROOT, "strong", "q", id] })),
      ...this.ctx.local.appendOps("index", sent.update),
      ...this.ctx.attestations.keepOwn(openAttestation(this.ctx.folderId, sent.attestation)),
    ];
    if (this.ctx.local.needsCompaction("index"))
      ops.push(...this.ctx.local.compactOps("index", index.snapshot()));
    const marks = new Set(sent.ids.map((id) => `@${id}`));
    for (const q of this.queue) {
      if (done.has(q.id)) continue;
      let changed = false;
      for (const [key, value] of Object.entries(q.seen)) {
        if (value === null || !marks.has(value)) continue;
        const [key2, head] = sent.made[key] ?? [key, null];
        delete q.seen[key];
        q.seen[key2] = head;
        changed = true;
      }
      if (changed)
        ops.push({
          op: "save",
          key: [ROOT, "strong", "q", q.id],
          data: encoder.encode(JSON.stringify(q)),
        });
    }
    await this.ctx.local.transaction(ops);
    for (let i = this.queue.length - 1; i >= 0; i--)
      if (done.has(this.queue[i]!.id)) this.queue.splice(i, 1);
    if (answer) this.session?.placeOwn(answer.seq, sent.envelope);
    this.ctx.events.emit("change", { origin: "local", changed: sent.ids.length });
  }

  private dropSent(): StateOp[] {
    this.sent = undefined;
    return [{ op: "remove", key: [ROOT, "strong", "sent"] }];
  }

  /** Keeps `w` as refused (out of the queue if it was in it) and reports it. */
  private async refuse(w: QueuedWrite, reason: string, extra: StateOp[] = []): Promise<void> {
    const r: RefusedWrite = {
      id: w.id,
      op: w.op,
      path: pathOf(w.op),
      reason,
      at: this.ctx.clock.now(),
    };
    await this.ctx.local.transaction([
      ...extra,
      { op: "remove", key: [ROOT, "strong", "q", w.id] },
      {
        op: "save",
        key: [ROOT, "strong", "refused", w.id],
        data: encoder.encode(JSON.stringify(r)),
      },
    ]);
    if (this.queue[0] === w) this.queue.shift();
    this.refusedById.set(w.id, r);
    this.ctx.events.emit("refused", r);
  }

  private headKey(): Uint8Array {
    if (!this.keyring.has(0))
      throw new WeftError(
        "NOT_READY",
        "this device lacks the folder's first key, which a strong folder's writes need",
      );
    this.headKeyBytes ??= deriveHeadKey(this.keyring.folderKey(0));
    return this.headKeyBytes;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
