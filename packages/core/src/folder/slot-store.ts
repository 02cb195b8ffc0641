/**
 * The slots of a folder index in memory: decoded and validated from the Yjs map, merged per
 * file, and the materialised tree kept up to date (patched for simple changes, rebuilt
 * otherwise). FolderIndex owns one and does all writing through it.
 */
import type { DeviceId } from "@weft/crypto";
import type * as Y from "yjs";
import type { FileId } from "../ids.js";
import type { HybridClock } from "../model/hlc.js";
import { type FileState, type Tree, materialize, patchTree } from "./materialize.js";
import {
  type ContentVersion,
  type Placement,
  type Slot,
  decodeSlot,
  lwwCompare,
  parseSlotKey,
} from "./records.js";
import { currentVersions, pickWinner } from "./registers.js";

/** A slot that failed validation and is ignored on every replica. */
export interface RejectedSlot {
  key: string;
  message: string;
}

/** See the module comment. */
export class SlotStore {
  private readonly slots = new Map<FileId, Map<DeviceId, Slot>>();
  private readonly states = new Map<FileId, FileState>();
  private readonly rejected = new Map<string, string>();
  private cachedTree: Tree | undefined;
  /** Files changed since the tree was last brought up to date. */
  private readonly dirty = new Set<FileId>();
  /** Collects what one remote apply changed, while it runs. */
  private applying: { changed: number; rejected: RejectedSlot[] } | undefined;

  constructor(
    private readonly map: Y.Map<unknown>,
    private readonly clock: HybridClock,
  ) {}

  /** The merged state of one file, or undefined if no replica wrote it. */
  file(fileId: FileId): FileState | undefined {
    let state = this.states.get(fileId);
    if (state) return state;
    const slots = this.slots.get(fileId);
    if (!slots || slots.size === 0) return undefined;
    const contents: ContentVersion[] = [];
    const places: Placement[] = [];
    for (const slot of slots.values()) {
      if (slot.content) contents.push(slot.content);
      if (slot.place) places.push(slot.place);
    }
    const current = currentVersions(contents);
    const currentPlaces = currentVersions(places);
    let place: Placement | undefined;
    for (const p of currentPlaces) if (!place || lwwCompare(p, place) > 0) place = p;
    state = {
      fileId,
      contents: current,
      winner: pickWinner(current),
      places: currentPlaces,
      place,
    };
    this.states.set(fileId, state);
    return state;
  }

  /** The materialised tree (kept up to date as the index changes). */
  tree(): Tree {
    if (this.cachedTree && this.dirty.size > 0) {
      if (!patchTree(this.cachedTree, this.dirty, (id) => this.file(id)))
        this.cachedTree = undefined;
    }
    this.dirty.clear();
    if (!this.cachedTree) {
      const all = new Map<FileId, FileState>();
      for (const id of this.slots.keys()) {
        const f = this.file(id);
        if (f) all.set(id, f);
      }
      this.cachedTree = materialize(all);
    }
    return this.cachedTree;
  }

  /** This device's own slot for a file, if it wrote one. */
  own(fileId: FileId, device: DeviceId): Slot | undefined {
    return this.slots.get(fileId)?.get(device);
  }

  /** Every slot of a file, by device. */
  slotsOf(fileId: FileId): ReadonlyMap<DeviceId, Slot> {
    return this.slots.get(fileId) ?? new Map<DeviceId, Slot>();
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

  /** Runs a remote apply and reports which slots it changed or refused. */
  collect(run: () => void): { changed: number; rejected: RejectedSlot[] } {
    const result = (this.applying = { changed: 0, rejected: [] });
    try {
      run();
      return result;
    } finally {
      this.applying = undefined;
    }
  }

  /** Re-reads one key of the Yjs map after a remote change (or a compaction). */
  loadKey(key: string): void {
    const parsed = parseSlotKey(key);
    const value = this.map.get(key);
    this.rejected.delete(key);
    if (this.applying) this.applying.changed++;
    if (!parsed) {
      if (value !== undefined) this.reject(key, "not a slot key (fileId/deviceId)");
      return;
    }
    if (value === undefined) {
      this.setSlot(parsed.fileId, parsed.device, undefined);
      return;
    }
    try {
      const slot = decodeSlot(value, parsed.device);
      if (slot.content) this.clock.observe(slot.content.hlc);
      if (slot.place) this.clock.observe(slot.place.hlc);
      this.setSlot(parsed.fileId, parsed.device, slot);
    } catch (error) {
      this.setSlot(parsed.fileId, parsed.device, undefined);
      this.reject(key, error instanceof Error ? error.message : String(error));
    }
  }

  private reject(key: string, message: string): void {
    this.rejected.set(key, message);
    this.applying?.rejected.push({ key, message });
  }

  setSlot(fileId: FileId, device: DeviceId, slot: Slot | undefined): void {
    let slots = this.slots.get(fileId);
    if (slot) {
      if (!slots) this.slots.set(fileId, (slots = new Map<DeviceId, Slot>()));
      slots.set(device, slot);
    } else if (slots) {
      slots.delete(device);
      if (slots.size === 0) this.slots.delete(fileId);
    }
    this.states.delete(fileId);
    this.dirty.add(fileId);
  }
}
