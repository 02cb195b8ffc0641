/**
 * One chunk store per folder (a directory `chunks/<folderId>/`, or the prefix `f/<folderId>/` of
 * an S3 bucket), opened on first use: a member of one folder can never read, count or delete
 * another folder's chunks. Each store has the folder quota and keeps its own running byte total
 * (counted once when it opens).
 */
import type { FolderId } from "@weft/crypto";
import type { ChunkStoreFactory, FolderChunkStore } from "../store/chunk-store.js";
import { diskChunkStores } from "../store/disk-chunk-stores.js";

/** Options of {@link FolderBlobs}. */
export interface FolderBlobsOptions {
  /** Most bytes of chunks per folder; 0 or absent: no limit. */
  folderQuota?: number;
  /** How long a chunk stays safe from garbage collection after it was last touched (default 3600). */
  gcGraceSeconds?: number;
  /** How long a collected chunk stays in quarantine, restorable, before it is purged (default 0). */
  gcQuarantineSeconds?: number;
}

/** One chunk store per folder, opened on first use, with the folder quota and a running byte total: a member of one folder never reaches another's chunks. */
export class FolderBlobs {
  private readonly stores = new Map<FolderId, Promise<FolderChunkStore>>();
  /** The grace period of garbage collection, in milliseconds. */
  readonly gcGraceMs: number;
  private readonly quota: number;
  private readonly quarantineMs: number;
  private readonly factory: ChunkStoreFactory;

  /** `source`: a directory (one DiskBlobStore per folder under it) or a factory of stores. */
  constructor(source: string | ChunkStoreFactory, options: FolderBlobsOptions = {}) {
    this.factory = typeof source === "string" ? diskChunkStores(source) : source;
    this.quota = options.folderQuota ?? 0;
    this.gcGraceMs = (options.gcGraceSeconds ?? 3600) * 1000;
    this.quarantineMs = (options.gcQuarantineSeconds ?? 0) * 1000;
  }

  /** The store of `folderId` (the caller has checked membership and the id's shape). */
  of(folderId: FolderId): Promise<FolderChunkStore> {
    let store = this.stores.get(folderId);
    if (!store) {
      store = this.factory.open(folderId, {
        quota: this.quota,
        quarantineMs: this.quarantineMs,
      });
      this.stores.set(folderId, store);
      store.catch(() => this.stores.delete(folderId));
    }
    return store;
  }

  /**
   * Chunks and bytes over every folder that has a store (a directory on disk, a prefix in the
   * bucket). Each store keeps a running total, so this is cheap once they are open; the first
   * call opens (and counts) those no request has opened yet since the relay started.
   */
  async usage(): Promise<{ chunks: number; bytes: number }> {
    const ids = await this.factory.folders();
    const sizes = await Promise.all(ids.map(async (id) => (await this.of(id)).size()));
    return {
      chunks: sizes.reduce((n, s) => n + s.count, 0),
      bytes: sizes.reduce((n, s) => n + s.bytes, 0),
    };
  }

  /** Closes every open store (waiting for writes in progress), then the factory. */
  async close(): Promise<void> {
    const stores = await Promise.allSettled([...this.stores.values()]);
    for (const s of stores) if (s.status === "fulfilled") await s.value.close();
    this.stores.clear();
    await this.factory.close();
  }
}
