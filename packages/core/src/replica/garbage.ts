/**
 * Garbage collection of a folder's chunks on the relay. The relay cannot tell which chunks are
 * referenced (manifests are sealed), so a member computes it: every chunk named by any version
 * the index still holds (current, conflict copies, history) is live; the relay's other chunks
 * are candidates, and the relay deletes only those nobody stored or has-checked within its grace
 * period, which protects uploads whose index entries have not arrived yet.
 */
import type { ChunkId } from "@weft/crypto";
import type { Manifest } from "../chunking/index.js";
import type { FolderIndex } from "../folder/folder-index.js";
import type { BlobStore } from "../storage/index.js";

/** A chunk store that can list its ids and delete with the relay's grace rule (HttpBlobStore). */
export interface CollectableBlobStore extends BlobStore {
  listIds(): AsyncIterable<ChunkId>;
  collect(ids: readonly ChunkId[]): Promise<{ deleted: ChunkId[]; kept: ChunkId[] }>;
}

/** What a collection did. */
export interface GarbageReport {
  /** Chunks the index references. */
  live: number;
  /** Chunks on the relay that nothing references. */
  unreferenced: number;
  /** Of those, deleted now. */
  deleted: number;
  /** Of those, kept because they were stored or asked for within the relay's grace period. */
  kept: number;
}

/** Whether `store` supports {@link CollectableBlobStore}. */
export function isCollectable(store: BlobStore | undefined): store is CollectableBlobStore {
  const s = store as Partial<CollectableBlobStore> | undefined;
  return typeof s?.listIds === "function" && typeof s.collect === "function";
}

/** Every chunk id any version in the index names. */
export function liveChunks(index: FolderIndex): Set<ChunkId> {
  const live = new Set<ChunkId>();
  const add = (m: Manifest | null) => {
    if (m) for (const c of m.chunks) live.add(c.id);
  };
  for (const id of index.fileIds()) {
    const f = index.file(id);
    if (!f) continue;
    for (const c of f.contents) {
      add(c.manifest);
      for (const h of c.history) add(h.manifest);
      for (const k of c.conflicts) add(k.manifest);
    }
  }
  return live;
}

const BATCH = 1024;

/** Deletes the relay's unreferenced chunks (see the module comment). */
export async function collectGarbage(
  live: ReadonlySet<ChunkId>,
  remote: CollectableBlobStore,
): Promise<GarbageReport> {
  const report: GarbageReport = { live: live.size, unreferenced: 0, deleted: 0, kept: 0 };
  let batch: ChunkId[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const { deleted, kept } = await remote.collect(batch);
    report.deleted += deleted.length;
    report.kept += kept.length;
    batch = [];
  };
  for await (const id of remote.listIds()) {
    if (live.has(id)) continue;
    report.unreferenced++;
    batch.push(id);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return report;
}
