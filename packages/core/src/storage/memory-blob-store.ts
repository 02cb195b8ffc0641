/** MemoryBlobStore: a BlobStore held in a Map, for tests and apps with no disk. */
import type { ChunkId } from "@weft/crypto";
import type { BlobStore, BlobStoreSize, ByteRange } from "./blob-store.js";
import { checkChunkId, checkChunkIds, resolveByteRange } from "./blob-store.js";
import { checkStorageData, copyBytes } from "./keys.js";
import { closedError, settle } from "./settle.js";

/** A {@link BlobStore} in memory: real (validation, copies, idempotent puts), gone at exit. */
export class MemoryBlobStore implements BlobStore {
  private readonly chunks = new Map<ChunkId, Uint8Array>();
  private totalBytes = 0;
  private closed = false;

  has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    return settle(() => {
      this.checkOpen();
      checkChunkIds(ids);
      const missing = new Set<ChunkId>();
      for (const id of ids) if (!this.chunks.has(id)) missing.add(id);
      return [...missing];
    });
  }

  put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkChunkId(id);
      checkStorageData(bytes, "bytes");
      if (this.chunks.has(id)) return;
      this.chunks.set(id, copyBytes(bytes));
      this.totalBytes += bytes.length;
    });
  }

  get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    return settle(() => {
      this.checkOpen();
      checkChunkId(id);
      const chunk = this.chunks.get(id);
      // Check the range even for an absent chunk, so a bad call fails the same way every time.
      const [start, end] = resolveByteRange(range, chunk?.length ?? 0);
      if (chunk === undefined) return undefined;
      return chunk.slice(start, end);
    });
  }

  delete(ids: readonly ChunkId[]): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkChunkIds(ids);
      for (const id of ids) {
        const chunk = this.chunks.get(id);
        if (chunk === undefined) continue;
        this.chunks.delete(id);
        this.totalBytes -= chunk.length;
      }
    });
  }

  size(): Promise<BlobStoreSize> {
    return settle(() => {
      this.checkOpen();
      return { count: this.chunks.size, bytes: this.totalBytes };
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private checkOpen(): void {
    if (this.closed) throw closedError("MemoryBlobStore");
  }
}
