/**
 * The slots of a folder index in memory: decoded and validated from the Yjs map, merged per
 * file, and the derived tree kept up to date (patched for simple changes, rebuilt
 * otherwise). FolderIndex owns one and does all writing through it.
 */
import type { DeviceId } from "@weft/crypto";
import type * as Y from "yjs";
import type { FileId } from "../ids.js";
import type { HybridClock } from "../model/hlc.js";
import { type FileState, type Tree, deriveTree, patchTree } from "./tree.js";
import {
  type ContentVersion,
  type Placement,
  type Slot,
  decodeBucket,
  lwwCompare,
  parseBucketKey,
} from "./records.js";
import { currentVersions, pickWinner } from "./registers.js";

/** A slot that failed validation and is ignored on every replica. */
export interface RejectedSlot {
  key: string;
  message: string;
}

/** What one remote apply changed (see {@link SlotStore.collect}). */
export interface Applied {
  changed: number;
  rejected: RejectedSlot[];
  /** Devices whose buckets it touched. */
  devices: Set<DeviceId>;
  /** The bucket keys it touched. */
  keys: Set<string>;
}

/** A folder index's slots in memory, validated and merged per file, with the derived tree kept up to date. FolderIndex does all writing through it. */
export class SlotStore {
  /** Every slot of each file, by the bucket key it came from. */
  private readonly slots = new Map<FileId, Map<string, Slot>>();
  /** The files each bucket key holds, to find what a rewritten bucket dropped. */
  private readonly sources = new Map<string, Set<FileId>>();
  /** Refusals caused by each bucket key, cleared when the key is rewritten. */
  private readonly rejectedBy = new Map<string, string[]>();
  private readonly states = new Map<FileId, FileState>();
  private readonly rejected = new Map<string, string>();
  private cachedTree: Tree | undefined;
  /** Files changed since the tree was last brought up to date. */
  private readonly dirty = new Set<FileId>();
  /** Collects what one remote apply changed, while it runs. */
  private applying: Applied | undefined;

  constructor(
    private readonly map: Y.Map<unknown>,
    private readonly clock: HybridClock,
  ) {}

  /** The merged state of one file, or undefined if no replica wrote it. */
  file(fileId: FileId): FileState | undefined {
    const cached = this.states.get(fileId);
    if (cached) return cached;
    const state = this.computeState(fileId);
    if (state) this.states.set(fileId, state);
    return state;
  }

  /** The merged state of one file, not cached (a full tree build visits every file once). */
  private computeState(fileId: FileId): FileState | undefined {
    const slots = this.slots.get(fileId);
    if (!slots || slots.size === 0) return undefined;
    const contents: ContentVersion[] = [];
    const places: Placement[] = [];
    // In bucket-key order, not arrival order: every tie-break below then picks the same version
    // on every replica, whatever order the buckets came in.
    const ordered =
      slots.size === 1 ? slots.values() : [...slots.keys()].sort().map((k) => slots.get(k)!);
    for (const slot of ordered) {
      if (slot.content) contents.push(slot.content);
      if (slot.place) places.push(slot.place);
    }
    const current = currentVersions(contents);
    const currentPlaces = currentVersions(places);
    let place: Placement | undefined;
    for (const p of currentPlaces) if (!place || lwwCompare(p, place) > 0) place = p;
    // Frozen: callers get these arrays from `file()`, and a change through them would corrupt
    // the cached state.
    return {
      fileId,
      contents: Object.freeze(current),
      winner: pickWinner(current),
      places: Object.freeze(currentPlaces),
      place,
    };
  }

  /** The derived tree (kept up to date as the index changes). */
  tree(): Tree {
    if (this.cachedTree && this.dirty.size > 0) {
      if (!patchTree(this.cachedTree, this.dirty, (id) => this.file(id)))
        this.cachedTree = undefined;
    }
    this.dirty.clear();
    if (!this.cachedTree) {
      const all = new Map<FileId, FileState>();
      for (const id of this.slots.keys()) {
        const f = this.states.get(id) ?? this.computeState(id);
        if (f) all.set(id, f);
      }
      this.cachedTree = deriveTree(all);
    }
    return this.cachedTree;
  }

  /** Ids of every file known, live or deleted. */
  fileIds(): IterableIterator<FileId> {
    return this.slots.keys();
  }

  get fileCount(): number {
    return this.slots.size;
  }

  rejectedSlots(): RejectedSlot[] {
    return [...this.rejected].map(([key, message]) => ({ key, message }));
  }

  /** Every slot that `device`'s buckets hold, with the key of the bucket it is in. */
  slotsOfDevice(
    device: DeviceId,
    keys?: Iterable<string>,
  ): { fileId: FileId; slot: Slot; key: string; session: string }[] {
    const out: { fileId: FileId; slot: Slot; key: string; session: string }[] = [];
    const among = keys
      ? [...keys].flatMap((k) => {
          const ids = this.sources.get(k);
          return ids ? [[k, ids] as const] : [];
        })
      : this.sources;
    for (const [key, ids] of among) {
      const parsed = parseBucketKey(key);
      if (!parsed || parsed.device !== device) continue;
      for (const id of ids)
        out.push({ fileId: id, slot: this.slots.get(id)!.get(key)!, key, session: parsed.session });
    }
    return out;
  }

  /** Runs a remote apply and reports which slots it changed or refused. */
  collect(run: () => void): Applied {
    const result: Applied = (this.applying = {
      changed: 0,
      rejected: [],
      devices: new Set<DeviceId>(),
      keys: new Set<string>(),
    });
    try {
      run();
      return result;
    } finally {
      this.applying = undefined;
    }
  }

  /** Re-reads one key of the Yjs map after a remote change. */
  loadKey(key: string): void {
    const parsed = parseBucketKey(key);
    const value = this.map.get(key);
    for (const r of this.rejectedBy.get(key) ?? []) this.rejected.delete(r);
    this.rejectedBy.delete(key);
    if (!parsed) {
      if (value !== undefined) this.reject(key, key, "not a bucket key (session.bucket/deviceId)");
      return;
    }
    this.applying?.devices.add(parsed.device);
    this.applying?.keys.add(key);
    let slots = new Map<FileId, Slot>();
    if (value !== undefined) {
      try {
        const decoded = decodeBucket(value, parsed.device);
        slots = decoded.slots;
        for (const [fileId, message] of decoded.rejected)
          this.reject(key, `${fileId}/${parsed.device}`, message);
      } catch (error) {
        this.reject(key, key, error instanceof Error ? error.message : String(error));
      }
    }
    const before = this.sources.get(key);
    if (before) for (const id of before) if (!slots.has(id)) this.setSlot(id, key, undefined);
    for (const [id, slot] of slots) {
      if (slot.content) this.clock.observe(slot.content.hlc);
      if (slot.place) this.clock.observe(slot.place.hlc);
      this.setSlot(id, key, slot);
    }
  }

  private reject(source: string, key: string, message: string): void {
    this.rejected.set(key, message);
    let list = this.rejectedBy.get(source);
    if (!list) this.rejectedBy.set(source, (list = []));
    list.push(key);
    this.applying?.rejected.push({ key, message });
  }

  /** Sets (or with `undefined`, removes) the slot that one bucket key holds for a file. */
  setSlot(fileId: FileId, source: string, slot: Slot | undefined): void {
    let slots = this.slots.get(fileId);
    let ids = this.sources.get(source);
    if (slot) {
      if (!slots) this.slots.set(fileId, (slots = new Map<string, Slot>()));
      slots.set(source, slot);
      if (!ids) this.sources.set(source, (ids = new Set()));
      ids.add(fileId);
    } else {
      if (slots) {
        slots.delete(source);
        if (slots.size === 0) this.slots.delete(fileId);
      }
      if (ids) {
        ids.delete(fileId);
        if (ids.size === 0) this.sources.delete(source);
      }
    }
    if (this.applying) this.applying.changed++;
    this.states.delete(fileId);
    this.dirty.add(fileId);
  }
}
