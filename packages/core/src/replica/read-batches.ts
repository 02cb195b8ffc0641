/** Chunk requests of readers, sent to the relay together: a batch per round trip, not a request per chunk. */
import type { ChunkId } from "@weft/crypto";
import type { BlobStore } from "../storage/index.js";
import { batchedSize } from "../protocol/chunk-batch.js";

/** Batch requests in flight at once. */
const READ_REQUESTS = 2;
/** Chunks, and their bytes, one batch request asks for at most. */
const UNIT_CHUNKS = 256;
const UNIT_BYTES = 4 * 1024 * 1024;
/** What sealing adds to a chunk at most, for packing by plaintext size. */
const SEAL_ALLOWANCE = 64;

/** A read's request for a chunk, waiting to go out with others in one batch. */
interface ReadRequest {
  id: ChunkId;
  size: number;
  resolve: (data: Uint8Array) => void;
  reject: (error: unknown) => void;
}

/**
 * Readers' chunk requests, sent in `getMany` batches, at most {@link READ_REQUESTS} at once:
 * what readers ask for meanwhile waits and goes together in the next, so the batches grow as
 * the relay slows.
 */
export class ReadBatches {
  /**
   * @param accept - verifies a chunk the relay sent and gives its plaintext
   * @param fetchOne - fetches one chunk the batch did not bring, verified
   */
  constructor(
    private readonly accept: (id: ChunkId, size: number, sealed: Uint8Array) => Promise<Uint8Array>,
    private readonly fetchOne: (
      remote: BlobStore,
      id: ChunkId,
      size: number,
    ) => Promise<Uint8Array>,
  ) {}

  /** Chunk `id`'s plaintext, verified, fetched in the next batch to `remote` (which has `getMany`). */
  fetch(remote: BlobStore, id: ChunkId, size: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.reads.push({ id, size, resolve, reject });
      this.scheduleReads(remote);
    });
  }

  private reads: ReadRequest[] = [];
  private readsInFlight = 0;
  private readsScheduled = false;

  private scheduleReads(remote: BlobStore): void {
    if (this.readsScheduled || this.reads.length === 0 || this.readsInFlight >= READ_REQUESTS)
      return;
    this.readsScheduled = true;
    // A turn of the event loop, not a clock's timer: the other readers' requests join it.
    setTimeout(() => {
      this.readsScheduled = false;
      this.sendReads(remote);
    }, 0);
  }

  private sendReads(remote: BlobStore): void {
    while (this.reads.length > 0 && this.readsInFlight < READ_REQUESTS) {
      let bytes = 0;
      let n = 0;
      while (n < this.reads.length && n < UNIT_CHUNKS) {
        const cost = batchedSize(this.reads[n]!.size + SEAL_ALLOWANCE);
        if (n > 0 && bytes + cost > UNIT_BYTES) break;
        bytes += cost;
        n++;
      }
      const unit = this.reads.splice(0, n);
      this.readsInFlight++;
      void this.sendUnit(remote, unit).finally(() => {
        this.readsInFlight--;
        this.scheduleReads(remote);
      });
    }
  }

  private async sendUnit(remote: BlobStore, requests: readonly ReadRequest[]): Promise<void> {
    try {
      const got =
        requests.length > 1
          ? await remote.getMany!(requests.map((r) => r.id))
          : new Map<ChunkId, Uint8Array>();
      for (const r of requests) {
        const sealed = got.get(r.id);
        // Each request settles on its own: one corrupt chunk fails only its reader.
        await (
          sealed ? this.accept(r.id, r.size, sealed) : this.fetchOne(remote, r.id, r.size)
        ).then(r.resolve, r.reject);
      }
    } catch (error) {
      for (const r of requests) r.reject(error);
    }
  }
}
