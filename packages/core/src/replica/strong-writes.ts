/**
 * A strong-consistency folder's writes (issue 20): each local change is queued, then sealed from
 * a copy of the index and sent with the file heads it replaces; it joins the shared index only
 * once the relay accepts it, and one the relay refuses (the file changed elsewhere first) is
 * kept and reported instead of becoming a conflict copy. INTERNALS.md, "Strong consistency".
 */
import {
  type ChunkId,
  type FolderKeyring,
  deriveHeadKey,
  fromBase64Url,
  toBase64Url,
} from "@weft/crypto";
import * as Y from "yjs";
import { WeftError } from "../errors.js";
import { FolderIndex, type FolderIndexOptions } from "../folder/folder-index.js";
import type { FileId } from "../ids.js";
import { ProtocolError } from "../protocol/errors.js";
import { frameLimits } from "../protocol/limits.js";
import type { HeadClaim, MessageOf } from "../protocol/messages.js";
import type { StateOp } from "../storage/index.js";
import { openAttestation } from "./attestation.js";
import type { ReplicaContext } from "./context.js";
import { sealParts } from "./outbound.js";
import { CHANGED_ELSEWHERE, type RefusedWrite, type StrongOp } from "./strong-types.js";

export { CHANGED_ELSEWHERE, type RefusedWrite, type StrongOp } from "./strong-types.js";
import {
  type ObservedOp,
  claimsOf,
  headOf,
  pathOf,
  runOp,
  seenBy,
  stillSeen,
} from "./strong-claims.js";

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

/** A queued write sealed as envelope `deviceSeq`, waiting for the relay's answer (resent as is). */
interface SentWrite {
  id: string;
  deviceSeq: number;
  envelope: Uint8Array;
  update: Uint8Array;
  claims: HeadClaim[];
  attestation: Uint8Array;
  /** What it made of each key it saw: the key (a path now taken becomes its file) and head. */
  made: Record<string, [string, string | null]>;
  /** Not sent yet by this run (not stored: an envelope loaded from the state may have been). */
  fresh?: boolean;
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
 * The queue of a strong folder's writes: each made durable with what it replaces, sent one per
 * envelope once its chunks are on the relay, accepted into the shared index or kept as refused.
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

  /** Sends what is queued while online, one write at a time. */
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
        this.sent?.id === w.id ? this.sent : await this.ctx.serial.run(() => this.seal(w));
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
          await this.ctx.serial.run(() => this.refuse(w, error.message, this.dropSent()));
          continue;
        } else throw error;
      }
      await this.ctx.serial.run(() => this.settle(w, sent, answer));
    }
  }

  /** Seals `w` from a copy of the index; undefined when it is refused or changes nothing. */
  private async seal(w: QueuedWrite): Promise<SentWrite | undefined> {
    const index = this.ctx.index;
    // Still waiting on an earlier write means that write was refused: this one built on it.
    if (!stillSeen(index, w.seen)) {
      await this.refuse(w, CHANGED_ELSEWHERE);
      return undefined;
    }
    // The shared index never holds a write the relay may refuse: its Yjs items would stay in
    // this device's clock, and every later update of the device would wait on them everywhere.
    const copy = FolderIndex.load(index.snapshot(), this.indexOptions);
    const updates: Uint8Array[] = [];
    copy.onLocalUpdate((u) => updates.push(u));
    try {
      runOp(copy, w.op);
    } catch (error) {
      await this.refuse(w, error instanceof Error ? error.message : String(error));
      return undefined;
    }
    if (updates.length === 0) {
      await this.ctx.local.transaction([{ op: "remove", key: [ROOT, "strong", "q", w.id] }]);
      this.queue.shift();
      return undefined;
    }
    const update = updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates);
    const claims = claimsOf(index, copy, this.headKey());
    if (claims.length > frameLimits.maxHeadClaims) {
      await this.refuse(
        w,
        `it changes ${claims.length} files and places at once; a strong folder's write may ` +
          `change at most ${frameLimits.maxHeadClaims} (remove a large directory in parts)`,
      );
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
    const made: SentWrite["made"] = {};
    // Keys of this change and of the queued changes that build on it (theirs may be a path
    // this change's earlier version turned into a file: they resolve through it).
    const keys = new Set(Object.keys(w.seen));
    for (const q of this.queue)
      for (const [key, value] of Object.entries(q.seen)) if (value === `@${w.id}`) keys.add(key);
    for (const key of keys) {
      if (key.startsWith("file:")) made[key] = [key, headOf(copy.file(key.slice(5) as FileId))];
      else {
        const entry = copy.stat(key.slice(5));
        made[key] = entry ? [`file:${entry.fileId}`, headOf(copy.file(entry.fileId))] : [key, null];
      }
    }
    const sent: SentWrite = {
      id: w.id,
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
    w: QueuedWrite,
    sent: SentWrite,
    answer: MessageOf<"appended"> | MessageOf<"stale"> | undefined,
  ): Promise<void> {
    if (answer?.type === "stale") return this.refuse(w, CHANGED_ELSEWHERE, this.dropSent());
    const index = this.ctx.index;
    index.applyDelta(sent.update);
    this.ctx.attestations.ownArrived(true);
    const ops: StateOp[] = [
      ...this.dropSent(),
      { op: "remove", key: [ROOT, "strong", "q", w.id] },
      ...this.ctx.local.appendOps("index", sent.update),
      ...this.ctx.attestations.keepOwn(openAttestation(this.ctx.folderId, sent.attestation)),
    ];
    if (this.ctx.local.needsCompaction("index"))
      ops.push(...this.ctx.local.compactOps("index", index.snapshot()));
    const mark = `@${w.id}`;
    for (const q of this.queue) {
      let changed = false;
      for (const [key, value] of Object.entries(q.seen)) {
        if (value !== mark) continue;
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
    this.queue.shift();
    if (answer) this.session?.placeOwn(answer.seq, sent.envelope);
    this.ctx.events.emit("change", { origin: "local", changed: 1 });
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

function encodeSent(s: SentWrite): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      id: s.id,
      deviceSeq: s.deviceSeq,
      envelope: toBase64Url(s.envelope),
      update: toBase64Url(s.update),
      attestation: toBase64Url(s.attestation),
      claims: s.claims.map((c) => [c.handle, c.base, c.next].map(toBase64Url)),
      made: s.made,
    }),
  );
}

function decodeSent(v: Record<string, unknown>): SentWrite {
  const b = (x: unknown): Uint8Array => fromBase64Url(String(x));
  return {
    id: String(v["id"]),
    deviceSeq: Number(v["deviceSeq"]),
    envelope: b(v["envelope"]),
    update: b(v["update"]),
    attestation: b(v["attestation"]),
    claims: (v["claims"] as unknown[][]).map(([handle, base, next]) => ({
      handle: b(handle),
      base: b(base),
      next: b(next),
    })),
    made: (v["made"] ?? {}) as SentWrite["made"],
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
