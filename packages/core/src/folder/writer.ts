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
  decodeSlot,
  encodeSlot,
  slotKey,
  versionId,
} from "./records.js";
import {
  type RetentionPolicy,
  carriesContent,
  mergeHistory,
  openConflicts,
  snapshotOf,
} from "./registers.js";
import type { SlotStore } from "./slot-store.js";

/** A content version as a local write describes it (the index fills in vv, hlc, history). */
export interface ContentInput {
  kind: FileKind;
  deleted: boolean;
  manifest: Manifest | null;
  target?: string | null;
  mode: number;
  mtime?: number;
}

/** Writes this device's slots; see the module comment. */
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
  ) {}

  /** Marks a file deleted; its content and unresolved conflicts go to history. */
  deleteFile(fileId: FileId): void {
    const f = this.store.file(fileId)!;
    const w = f.winner!;
    if (w.deleted) return;
    // Deleting a file settles its conflicts: their versions go to history, restorable.
    const settled = openConflicts(f.contents, w);
    this.writeContent(
      fileId,
      { kind: w.kind, deleted: true, manifest: null, target: null, mode: w.mode },
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
    const current = f?.contents ?? [];
    const hlc = this.clock.tick();
    let vv = VersionVector.EMPTY;
    for (const c of current) vv = vv.merge(c.vv);
    vv = vv.increment(this.device);
    const settledIds = new Set(settle.map(versionId));
    const carried = f?.winner
      ? openConflicts(current, f.winner).filter((c) => !settledIds.has(versionId(c)))
      : [];
    const superseded = current.filter((c) => c === f?.winner && carriesContent(c)).map(snapshotOf);
    const history = mergeHistory(
      [superseded, settle, ...current.map((c) => c.history)],
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
    const own = this.store.own(fileId, this.device);
    this.putSlot(fileId, { content, place: place ?? own?.place ?? null });
  }

  /** Writes a new placement for a file (a move or a rename). */
  writePlace(fileId: FileId, parent: FileId, name: string): void {
    const place = this.buildPlace(fileId, parent, name);
    const own = this.store.own(fileId, this.device);
    this.putSlot(fileId, { content: own?.content ?? null, place });
  }

  /** A new placement superseding every current one. */
  buildPlace(fileId: FileId, parent: FileId, name: string): Placement {
    checkName(name);
    const f = this.store.file(fileId);
    let vv = VersionVector.EMPTY;
    for (const p of f?.places ?? []) vv = vv.merge(p.vv);
    return {
      parent,
      name,
      vv: vv.increment(this.device),
      hlc: this.clock.tick(),
      device: this.device,
    };
  }

  private putSlot(fileId: FileId, slot: Slot): void {
    const key = slotKey(fileId, this.device);
    const bytes = encodeSlot(slot);
    // Local writes pass the same validation as remote ones, and the in-memory slot is what
    // every other replica will decode from the stored value.
    const stored = decodeSlot(bytes, this.device);
    this.doc.transact(() => this.map.set(key, bytes), this.origin);
    this.store.setSlot(fileId, this.device, stored);
  }
}
