/** IndexedDbBlobStore: a BlobStore in the browser's IndexedDB, for the sealed chunks of a page's Replica. */
import type { BlobStore, BlobStoreSize, ByteRange } from "@weft/core/storage";
import type { ChunkId } from "@weft/crypto";
import { WeftError } from "@weft/core/errors";
import {
  checkChunkId,
  checkChunkIds,
  checkStorageData,
  resolveByteRange,
} from "@weft/core/storage";
import type { IndexedDbOptions } from "./idb.js";
import { CHUNKS, CHUNK_SIZES, inTransaction, openDatabase } from "./idb.js";

/**
 * A {@link BlobStore} in IndexedDB: sealed chunks by id in the object store `chunks` of the
 * database named at {@link IndexedDbBlobStore.open} (which an {@link IndexedDbStateStore} may
 * share), and each chunk's length in `chunk-sizes`, so that `size()` and `delete()` never read a
 * chunk's bytes. A chunk and its length are written in one transaction (`durability: "strict"`).
 */
export class IndexedDbBlobStore implements BlobStore {
  private closed = false;

  private constructor(private readonly db: IDBDatabase) {
    // Another tab deleting or upgrading the database: let it, and refuse further calls here.
    db.onversionchange = () => void this.close();
  }

  /**
   * Opens the chunk store of database `name` (created on first use).
   * @throws WeftError INVALID_OPTIONS without IndexedDB; STORAGE if the browser refuses it
   */
  static async open(name: string, options: IndexedDbOptions = {}): Promise<IndexedDbBlobStore> {
    return new IndexedDbBlobStore(await openDatabase(name, options, "IndexedDbBlobStore"));
  }

  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.checkOpen();
    checkChunkIds(ids);
    const unique = [...new Set(ids)];
    const found: IDBRequest<IDBValidKey | undefined>[] = [];
    await inTransaction(this.db, [CHUNK_SIZES], "readonly", "IndexedDbBlobStore: has", (tx) => {
      const sizes = tx.objectStore(CHUNK_SIZES);
      for (const id of unique) found.push(sizes.getKey(id));
    });
    return unique.filter((_, i) => found[i]?.result === undefined);
  }

  async put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    this.checkOpen();
    checkChunkId(id);
    checkStorageData(bytes, "bytes");
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    await inTransaction(
      this.db,
      [CHUNKS, CHUNK_SIZES],
      "readwrite",
      "IndexedDbBlobStore: put",
      (tx) => {
        const sizes = tx.objectStore(CHUNK_SIZES);
        // Chunks are immutable: a second put of an id keeps the first. Transactions over the
        // same stores run one at a time, so two concurrent puts of one id cannot both write.
        sizes.getKey(id).onsuccess = (event) => {
          if ((event.target as IDBRequest).result !== undefined) return;
          tx.objectStore(CHUNKS).put(copy.buffer, id);
          sizes.put(copy.length, id);
        };
      },
    );
  }

  async get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    this.checkOpen();
    checkChunkId(id);
    // Check the range even for an absent chunk, so a bad call fails the same way every time.
    resolveByteRange(range, 0);
    let request: IDBRequest | undefined;
    await inTransaction(this.db, [CHUNKS], "readonly", "IndexedDbBlobStore: get", (tx) => {
      request = tx.objectStore(CHUNKS).get(id);
    });
    const value = request?.result as ArrayBuffer | undefined;
    if (value === undefined) return undefined;
    const [start, end] = resolveByteRange(range, value.byteLength);
    // A new view on a buffer only this call holds (IndexedDB gives a fresh copy each read).
    return new Uint8Array(value, start, end - start);
  }

  async delete(ids: readonly ChunkId[]): Promise<void> {
    this.checkOpen();
    checkChunkIds(ids);
    if (ids.length === 0) return;
    await inTransaction(
      this.db,
      [CHUNKS, CHUNK_SIZES],
      "readwrite",
      "IndexedDbBlobStore: delete",
      (tx) => {
        const chunks = tx.objectStore(CHUNKS);
        const sizes = tx.objectStore(CHUNK_SIZES);
        for (const id of new Set(ids)) {
          chunks.delete(id);
          sizes.delete(id);
        }
      },
    );
  }

  async size(): Promise<BlobStoreSize> {
    this.checkOpen();
    let lengths: IDBRequest<unknown[]> | undefined;
    await inTransaction(this.db, [CHUNK_SIZES], "readonly", "IndexedDbBlobStore: size", (tx) => {
      lengths = tx.objectStore(CHUNK_SIZES).getAll();
    });
    const all = (lengths?.result ?? []) as number[];
    return { count: all.length, bytes: all.reduce((sum, n) => sum + n, 0) };
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      // IndexedDB finishes the transactions already started before it closes.
      this.db.close();
    }
    return Promise.resolve();
  }

  private checkOpen(): void {
    if (this.closed) throw new WeftError("STORAGE", "IndexedDbBlobStore is closed");
  }
}
