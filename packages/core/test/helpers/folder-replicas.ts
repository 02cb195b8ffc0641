/** Test helpers: FolderIndex replicas with controlled clocks and readable ids, synced in memory. */
import type { ChunkId, DeviceId } from "@weft/crypto";
import type { Manifest } from "../../src/chunking/index.js";
import { FolderIndex } from "../../src/folder/folder-index.js";
import type { FileId } from "../../src/ids.js";
import { HybridClock } from "../../src/model/hlc.js";

/** A one-chunk manifest whose ids and content hash are `tag` in hex: equal tags, equal content. */
export const manifest = (tag: number): Manifest => {
  const hex = tag.toString(16).padStart(64, "0");
  return { chunks: [{ id: hex as ChunkId, size: 10 }], size: 10, contentHash: hex };
};

/** The content hash of {@link manifest}(tag). */
export const hashOf = (tag: number): string => manifest(tag).contentHash;

/**
 * One to three replicas (devices AAAAAAAA-1111, BBBBBBBB-2222, CCCCCCCC-3333) on one clock that
 * the test moves (`time.now`), with file ids `d<i>f<n>`; `sync()` exchanges every delta.
 */
export function replicas(n = 2, start = Date.UTC(2026, 10, 22, 12, 0, 0)) {
  const time = { now: start };
  const devices = ["AAAAAAAA-1111", "BBBBBBBB-2222", "CCCCCCCC-3333"];
  const list = devices.slice(0, n).map((device, i) => {
    let next = 0;
    return new FolderIndex({
      device: device as DeviceId,
      clock: new HybridClock({ now: () => time.now }),
      newFileId: () => `d${i}f${next++}` as FileId,
    });
  });
  const sync = (): void => {
    for (const a of list)
      for (const b of list) if (a !== b) b.applyDelta(a.encodeDelta(b.stateVector()));
  };
  return { list: list as [FolderIndex, FolderIndex, ...FolderIndex[]], sync, time };
}

/** The paths of the replica's tree, sorted. */
export const paths = (idx: FolderIndex): string[] => [...idx.tree().entries.keys()].sort();
