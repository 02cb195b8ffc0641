/** A chunk store that keeps nothing, for a replica that reads content from the relay each time. */
import type { ChunkId } from "@weft/crypto";
import type { BlobStore, BlobStoreSize } from "@weft/core/storage";
import { checkChunkId, checkChunkIds } from "@weft/core/storage";

/** `fn()` as a Promise, so that a bad argument is a rejection, as the BlobStore contract says. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

/**
 * The local chunk store of a replica that must not keep content: it holds nothing, so every read
 * fetches (and verifies) its chunks from the relay, and nothing a read fetched stays on this
 * device. Not a cache, and not a BlobStore for content written here (a write needs its sealed
 * chunks kept until they are uploaded): `weft put` spools to a temp file instead.
 */
export class NoChunkStore implements BlobStore {
  has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    return settle(() => {
      checkChunkIds(ids);
      return [...new Set(ids)];
    });
  }

  put(id: ChunkId): Promise<void> {
    return settle(() => checkChunkId(id));
  }

  get(id: ChunkId): Promise<Uint8Array | undefined> {
    return settle(() => {
      checkChunkId(id);
      return undefined;
    });
  }

  delete(ids: readonly ChunkId[]): Promise<void> {
    return settle(() => checkChunkIds(ids));
  }

  size(): Promise<BlobStoreSize> {
    return Promise.resolve({ count: 0, bytes: 0 });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
