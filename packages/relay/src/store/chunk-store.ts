/**
 * FolderChunkStore: what the relay uses of one folder's chunk store (the chunk routes, the
 * folder's usage and metrics), and ChunkStoreFactory, which opens one per folder. DiskBlobStore
 * (a directory per folder) and S3ChunkStore (a key prefix per folder in one bucket) implement
 * them; FolderBlobs picks the factory from the configuration.
 */
import type { BlobStore, BlobStoreSize, ByteRange } from "@weft/core";
import type { ChunkId, FolderId } from "@weft/crypto";
import type { PartOutcome } from "./partial-uploads.js";
import type { CollectResult, QuarantineSize } from "./quarantine.js";

/** Options every chunk store takes when it opens (per folder). */
export interface ChunkStoreOptions {
  /**
   * Most bytes the store holds: chunks and unfinished uploads (and, apart, as much again in
   * quarantine); 0 or absent: no limit.
   */
  quota?: number;
  /**
   * How long a chunk garbage collection removed stays in quarantine, restorable, before it is
   * purged (milliseconds); 0 or absent: `collect` deletes at once.
   */
  quarantineMs?: number;
}

/**
 * One folder's chunks on the relay: a {@link BlobStore} whose has-checks and repeated puts
 * "touch" a chunk, with garbage collection that honours a grace period and a quarantine, a
 * quota, a paged id listing and resumable uploads. Every failure of the storage underneath is
 * a WeftError STORAGE (with the cause); a full quota is ProtocolError `quota_exceeded`.
 */
export interface FolderChunkStore extends BlobStore {
  /** The quota in bytes, or null for none. */
  readonly quota: number | null;
  /** `put`, telling whether the chunk was new ("stored") or there already ("existing", touched). */
  add(id: ChunkId, bytes: Uint8Array): Promise<"stored" | "existing">;
  /** The ids it lacks, in the order given, each once; touches (or restores) those it has. */
  has(ids: readonly ChunkId[]): Promise<ChunkId[]>;
  /**
   * Garbage collection: removes each of `ids` untouched for at least `graceMs` (into quarantine
   * when `quarantine`, by default when the store has a quarantine time); keeps fresher ones.
   */
  collect(ids: readonly ChunkId[], graceMs: number, quarantine?: boolean): Promise<CollectResult>;
  /** Up to `limit` chunk ids greater than `after`, ascending. */
  listIds(after: ChunkId | undefined, limit: number): Promise<ChunkId[]>;
  /** One part of a resumable upload (see `DiskBlobStore.putPart`). */
  putPart(id: ChunkId, start: number, total: number, bytes: Uint8Array): Promise<PartOutcome>;
  /** How much of `id` the relay has: the whole chunk, or the bytes of the unfinished upload. */
  uploadProgress(id: ChunkId): Promise<{ received: number; complete: boolean }>;
  /**
   * Bytes of its chunks and of its unfinished uploads (each by the total its first part
   * declared): what an account quota counts of the folder. Puts under way are not in it (the
   * account quota reserves them itself).
   */
  usedBytes(): number;
  /** The chunks in quarantine (not in `size()`, nor counted against the quota). */
  quarantined(): QuarantineSize;
  /** Purges the chunks whose quarantine time is over. */
  purge(): Promise<void>;
  get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined>;
  size(): Promise<BlobStoreSize>;
}

/** Opens the chunk store of each folder, and names the folders that have one. */
export interface ChunkStoreFactory {
  /** What the stores are kept in, for logs: "disk" or "s3" (never a credential). */
  readonly kind: "disk" | "s3";
  /** Opens (counting what it holds) the store of `folderId`. */
  open(folderId: FolderId, options: ChunkStoreOptions): Promise<FolderChunkStore>;
  /** Every folder that has chunks stored (or had: an empty store may be listed). */
  folders(): Promise<FolderId[]>;
  /** Releases what the factory holds (a client's connections); the stores are closed first. */
  close(): Promise<void>;
}
