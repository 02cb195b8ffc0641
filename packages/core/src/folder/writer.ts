/** Local writes of a folder index: new versions of this device's slots, built and stored. */
import type { DeviceId } from "@weft/crypto";
import type * as Y from "yjs";
import type { Manifest } from "../chunking/index.js";
import type { FileId } from "../ids.js";
import type { HybridClock } from "../model/hlc.js";
import { checkName } from "../model/path.js";
import { VersionVector } from "../model/version-vector.js";
import {
  type ContentVersion,
  type FileKind,
  type Placement,
  type Slot,
  type VersionSnapshot,
  bucketKey,
  decodeSlot,
  encodeBucket,
  encodeSlot,
  lwwCompare,
  versionId,
  snapshotOf,
} from "./records.js";
import { type RetentionPolicy, carriesContent, mergeHistory, openConflicts } from "./registers.js";
import type { SlotStore } from "./slot-store.js";

/**
 * Files per bucket. Small enough that rewriting a bucket for a one-file edit stays about
 * 2 KB (measured by bench:index); large enough that a 100,000-file index is some 6,000 Yjs
 * items rather than 100,000.
 */
const SLOTS_PER_BUCKET = 16;

/** A content version as a local write describes it (the index fills in vv, hlc, history). */
export interface ContentInput {
  kind: FileKind;
  deleted: boolean;
  manifest: Manifest | null;
  target?: string | null;
  mode: number;
  mtime?: number;
  /**
   * The content hash of the version this write started from (what was on disk when it was
   * edited). When the file has moved on since (a newer version arrived that this device had
   * not written to disk yet), the write supersedes only what that version had seen, so it is
   * concurrent with the newer one and both survive as a conflict, never one silently replacing
   * the other. Ignored when no version with that hash is known.
   */
  basedOn?: string;
}

/**
 * Writes this device's slots of a folder index: new content and placement versions (with
 * their history and settled conflicts), deletions, compaction, and adopting slots this device
 * wrote in an earlier run. Changed buckets are stored once per batch ({@link SlotWriter.flush}).
 */
export class SlotWriter {
  constructor(
    private readonly device: DeviceId,
    private readonly doc: Y.Doc,
    private readonly map: Y.Map<unknown>,
    private readonly store: SlotStore,
    private readonly clock: HybridClock,
    private readonly retention: RetentionPolicy,
    /** The transaction origin of local writes, so the index's observer can skip them. */
    private readonly origin: object,
    /** This run's session: the only bucket keys it ever writes (see `bucketKey`). */
    private readonly session: string,
  ) {}

  /** This device's latest slot per file, from any session: the register a write carries over. */
  private readonly own = new Map<FileId, Slot>();
  /** This session's buckets: encoded slots, members, which bucket holds which file. */
  private readonly ownBytes = new Map<FileId, Uint8Array>();
  private readonly members = new Map<number, Set<FileId>>();
  private readonly dirtyBuckets = new Set<number>();
  /** Which bucket holds each of this device's files; a file stays in its bucket. */
  private readonly bucketOfFile = new Map<FileId, number>();
  /** The bucket new files go into until it is full, and the next unused bucket id. */
  private openBucket = 0;
  private nextBucket = 1;
  /** Keys of this device's earlier sessions whose slots are all superseded: deleted on flush. */
  private readonly deadKeys = new Set<string>();

  /** Marks a file deleted; its content and unresolved conflicts go to history. */
  deleteFile(fileId: FileId): void {
    const f = this.store.file(fileId);
    const w = f?.winner;
    if (w?.deleted) return;
    // A directory whose placement arrived before its content has no winner yet: its deletion
    // is a directory version like any other, which the content will meet and merge with.
    const kind = w?.kind ?? "dir";
    // Deleting a file settles its conflicts: their versions go to history, restorable.
    const settled = w && f ? openConflicts(f.contents, w) : [];
    this.writeContent(
      fileId,
      { kind, deleted: true, manifest: null, target: null, mode: w?.mode ?? 0o755 },
      settled,
    );
  }

  /**
   * Writes a new content version that supersedes every current one. The superseded winner goes
   * to history; unresolved concurrent versions are carried as conflicts unless `settle` names
   * them, in which case they go to history too.
   */
  writeContent(
    fileId: FileId,
    input: ContentInput,
    settle: readonly VersionSnapshot[] = [],
    place?: Placement,
  ): void {
    const f = this.store.file(fileId);
    const all = f?.contents ?? [];
    const base = input.basedOn === undefined ? undefined : staleBase(all, f?.winner, input.basedOn);
    // What this write has seen: every current version, or, written from an older version than
    // the current one, only what that version had seen.
    const current = base ? all.filter((c) => base.vv.dominates(c.vv)) : all;
    const hlc = this.clock.tick();
    let vv = base?.vv ?? VersionVector.EMPTY;
    for (const c of current) vv = vv.merge(c.vv);
    // The device's counter never falls below the wall clock: a device restarted from an older
    // snapshot must not reuse a counter it already spent on a version nobody here has seen.
    vv = vv.increment(this.device, hlc.wall);
    const settledIds = new Set(settle.map(versionId));
    const carried =
      f?.winner && !base
        ? openConflicts(current, f.winner).filter((c) => !settledIds.has(versionId(c)))
        : [];
    const superseded = base
      ? [snapshotOf(base)]
      : current.filter((c) => c === f?.winner && carriesContent(c)).map(snapshotOf);
    const history = mergeHistory(
      [...superseded, ...settle],
      current.map((c) => c.history),
      hlc.wall,
      this.retention,
    );
    const content: ContentVersion = {
      kind: input.kind,
      deleted: input.deleted,
      manifest: input.deleted ? null : input.manifest,
      target: input.deleted ? null : (input.target ?? null),
      mode: input.mode,
      mtime: input.mtime ?? hlc.wall,
      vv,
      hlc,
      device: this.device,
      history: history.filter((h) => !carried.some((c) => versionId(c) === versionId(h))),
      conflicts: carried,
    };
    const own = this.own.get(fileId);
    this.putSlot(fileId, { content, place: place ?? own?.place ?? null });
  }

  /** Writes a new placement for a file (a move or a rename). */
  writePlace(fileId: FileId, parent: FileId, name: string): void {
    const place = this.buildPlace(fileId, parent, name);
    const own = this.own.get(fileId);
    this.putSlot(fileId, { content: own?.content ?? null, place });
  }

  /** A new placement superseding every current one. */
  buildPlace(fileId: FileId, parent: FileId, name: string): Placement {
    checkName(name);
    const f = this.store.file(fileId);
    let vv = VersionVector.EMPTY;
    for (const p of f?.places ?? []) vv = vv.merge(p.vv);
    const hlc = this.clock.tick();
    return { parent, name, vv: vv.increment(this.device, hlc.wall), hlc, device: this.device };
  }

  private putSlot(fileId: FileId, slot: Slot): void {
    const bytes = encodeSlot(slot);
    // Local writes pass the same validation as remote ones, and the in-memory slot is what
    // every other replica will decode from the stored value.
    const stored = decodeSlot(bytes, this.device);
    this.place(fileId, stored, bytes);
  }

  /**
   * Puts one of this device's slots in its bucket (in memory; {@link flush} stores it). New
   * files fill buckets in order, so a batch of new files writes a few fresh buckets instead of
   * rewriting many: every rewrite leaves a Yjs tombstone that every later load pays for.
   */
  private place(fileId: FileId, slot: Slot, bytes: Uint8Array, bucket?: number): void {
    let b = bucket ?? this.bucketOfFile.get(fileId);
    if (b === undefined) {
      if ((this.members.get(this.openBucket)?.size ?? 0) >= SLOTS_PER_BUCKET)
        this.openBucket = this.nextBucket++;
      b = this.openBucket;
    }
    this.bucketOfFile.set(fileId, b);
    this.own.set(fileId, slot);
    this.ownBytes.set(fileId, bytes);
    let members = this.members.get(b);
    if (!members) this.members.set(b, (members = new Set()));
    members.add(fileId);
    this.store.setSlot(fileId, bucketKey(this.session, b, this.device), slot);
    this.dirtyBuckets.add(b);
  }

  /** Drops one of this device's slots (compaction). */
  private drop(fileId: FileId): void {
    const b = this.bucketOfFile.get(fileId)!;
    this.bucketOfFile.delete(fileId);
    this.own.delete(fileId);
    this.ownBytes.delete(fileId);
    this.members.get(b)?.delete(fileId);
    this.store.setSlot(fileId, bucketKey(this.session, b, this.device), undefined);
    this.dirtyBuckets.add(b);
  }

  /**
   * Drops this device's slots whose versions are all superseded by newer ones from other
   * devices (those carry them in their history). Returns how many were dropped.
   */
  compact(): number {
    let dropped = 0;
    const live = (id: FileId, slot: Slot): boolean => {
      const f = this.store.file(id);
      const content = slot.content;
      const place = slot.place;
      return (
        (!!content && !!f?.contents.some((c) => versionId(c) === versionId(content))) ||
        (!!place && !!f?.places.some((p) => versionId(p) === versionId(place)))
      );
    };
    for (const id of [...this.bucketOfFile.keys()]) {
      if (!live(id, this.own.get(id)!)) {
        this.drop(id);
        dropped++;
      }
    }
    // Keys of earlier sessions are never rewritten, only deleted once nothing in them is
    // current: a delete removes just the value this replica has seen, never a newer one.
    const earlier = new Map<string, { fileId: FileId; slot: Slot }[]>();
    for (const s of this.store.slotsOfDevice(this.device)) {
      if (s.session === this.session) continue;
      const list = earlier.get(s.key) ?? [];
      list.push(s);
      earlier.set(s.key, list);
    }
    for (const [key, slots] of earlier) {
      if (slots.some((s) => live(s.fileId, s.slot))) continue;
      for (const s of slots) this.store.setSlot(s.fileId, key, undefined);
      this.deadKeys.add(key);
      dropped += slots.length;
    }
    return dropped;
  }

  /** Writes every changed bucket to the Yjs map, in one transaction (one update to send). */
  flush(): void {
    if (this.dirtyBuckets.size === 0 && this.deadKeys.size === 0) return;
    const dirty = [...this.dirtyBuckets];
    const dead = [...this.deadKeys];
    this.dirtyBuckets.clear();
    this.deadKeys.clear();
    this.doc.transact(() => {
      for (const key of dead) if (this.map.has(key)) this.map.delete(key);
      for (const b of dirty) {
        const key = bucketKey(this.session, b, this.device);
        const ids = this.members.get(b);
        if (!ids || ids.size === 0) {
          this.members.delete(b);
          if (this.map.has(key)) this.map.delete(key);
        } else {
          this.map.set(
            key,
            encodeBucket([...ids].map((id) => [id, this.ownBytes.get(id)!] as const)),
          );
        }
      }
    }, this.origin);
  }

  /**
   * After loading a snapshot: learns this device's latest slot per file from its earlier
   * sessions, so that a write of one register carries the other one over. Nothing is
   * rewritten: this session writes only keys of its own.
   */
  adopt(keys?: Iterable<string>): void {
    for (const { fileId, slot } of this.store.slotsOfDevice(this.device, keys)) {
      const mine = this.own.get(fileId);
      if (!mine) {
        this.own.set(fileId, slot);
        continue;
      }
      this.own.set(fileId, {
        content: newer(mine.content, slot.content),
        place: newer(mine.place, slot.place),
      });
    }
  }
}

/** The later of two versions of one register by this device (by vector, then by time). */
function newer<
  T extends { vv: VersionVector; hlc: { wall: number; logical: number }; device: DeviceId },
>(a: T | null, b: T | null): T | null {
  if (!a) return b;
  if (!b) return a;
  const o = a.vv.compare(b.vv);
  if (o === "greater" || o === "equal") return a;
  if (o === "lesser") return b;
  return lwwCompare(a, b) >= 0 ? a : b;
}

/**
 * The version a write started from, when it is older than the current winner: a current
 * version or one in a current version's history with content hash `hash` (the newest such).
 * Undefined when the winner has that content (the write is an ordinary edit of it) or no
 * version has.
 */
function staleBase(
  current: readonly ContentVersion[],
  winner: ContentVersion | undefined,
  hash: string,
): VersionSnapshot | undefined {
  if (!winner || winner.manifest?.contentHash === hash) return undefined;
  let found: VersionSnapshot | undefined;
  for (const c of current)
    for (const v of [c, ...c.history])
      if (v.manifest?.contentHash === hash && (!found || lwwCompare(v, found) > 0)) found = v;
  return found;
}
