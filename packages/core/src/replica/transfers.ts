/**
 * Chunk transfers between a replica's own BlobStore and the relay's: only missing chunks move
 * (asked in batches), several at once, and an interrupted run resumes from what is left.
 */
import type { ChunkPlace, LocalChunkSource, ReplicaStats } from "./types.js";
import type { ChunkId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { forEachLimited } from "../pool.js";
import type { Manifest } from "../chunking/index.js";
import type { BlobStore } from "../storage/index.js";
import { ProtocolError } from "../protocol/errors.js";
import { frameLimits } from "../protocol/limits.js";
import { BATCH_CHUNK_LIMIT, type BatchChunk, batchedSize } from "../protocol/chunk-batch.js";
import { openChunkData, sealChunkData } from "./chunk-codec.js";
import type { ReplicaContext } from "./context.js";
import { Backoff } from "./backoff.js";
import { ReadBatches } from "./read-batches.js";

const BATCH = frameLimits.maxChunkIdsPerCheck;
/** Chunks one worker moves per step, and the bytes it packs into one batch request. */
const UNIT_CHUNKS = 256;
const UNIT_BYTES = 4 * 1024 * 1024;
/** What sealing adds to a chunk at most (header and tag), for packing by plaintext size. */
const SEAL_ALLOWANCE = 64;
const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 30_000;

/** Where a replica's chunks live besides the relay (see `ReplicaOptions.cacheChunks`). */
export interface ChunkHome {
  /** Whether the local store keeps chunks (true) or only spools them until uploaded (false). */
  cache: boolean;
  /** Plaintext chunks in this device's files. */
  local?: LocalChunkSource;
  /** Compression for chunks sealed again from `local` for an upload. */
  compress?: Parameters<typeof sealChunkData>[3];
}

/** A queue run's counters, for progress events. */
interface Run {
  done: number;
  total: number;
  bytes: number;
}

/**
 * The chunk transfers of one replica: uploads of new content (asking the relay what it lacks
 * first), downloads of what the tree needs (eager) or a read asks for (lazy), both bounded in
 * width and retried with backoff, with progress events and byte counters.
 */
export class Transfers {
  /** Chunks to upload (persisted under `upload/` until the relay has them). */
  readonly uploads = new Set<ChunkId>();
  /**
   * Where queued chunks that were not spooled lie in this device's files (see
   * `WriteOptions.source`): read from there, verified and sealed when uploaded.
   */
  readonly places = new Map<ChunkId, ChunkPlace>();
  /** Chunks wanted from the relay, with the size their manifest gives. */
  private readonly wanted = new Map<ChunkId, number>();
  /** Chunks known to be in the local store (a cache in front of `blobs.has`). */
  private readonly local = new Set<ChunkId>();
  /** Chunks the relay did not have when asked; retried when the log moves on. */
  readonly unavailable = new Set<ChunkId>();
  private uploading: Promise<void> | undefined;
  private downloading: Promise<void> | undefined;
  private readonly retry: Backoff;
  private upRun: Run = { done: 0, total: 0, bytes: 0 };
  private downRun: Run = { done: 0, total: 0, bytes: 0 };
  /** Bytes of sealed chunks sent to and received from the relay, over the replica's life. */
  private bytesUp = 0;
  private bytesDown = 0;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly concurrency: number,
    private readonly onIdleChange: () => void,
    private readonly home: ChunkHome = { cache: true },
  ) {
    this.retry = new Backoff({ min: MIN_RETRY_MS, max: MAX_RETRY_MS }, false, ctx.clock);
  }

  /** Its part of `Replica.stats()`: bytes moved, chunks queued and lacking. */
  stats(): Pick<
    ReplicaStats,
    "bytesUploaded" | "bytesDownloaded" | "pendingChunks" | "unavailableChunks"
  > {
    return {
      bytesUploaded: this.bytesUp,
      bytesDownloaded: this.bytesDown,
      pendingChunks: this.pending,
      unavailableChunks: this.unavailable.size,
    };
  }

  get busy(): boolean {
    return this.uploading !== undefined || this.downloading !== undefined;
  }

  /** Whether nothing is left to move (chunks the relay lacks do not count: they cannot move). */
  get pending(): number {
    return this.uploads.size + this.wanted.size;
  }

  /** Records chunks as present locally. */
  markLocal(ids: Iterable<ChunkId>): void {
    for (const id of ids) this.local.add(id);
  }

  /** Whether the local store is known to hold `id` (or does, after asking it). */
  async hasLocal(id: ChunkId): Promise<boolean> {
    if (this.local.has(id)) return true;
    const missing = await this.ctx.blobs.has([id]);
    if (missing.length === 0) this.local.add(id);
    return missing.length === 0;
  }

  /**
   * Chunk `id`'s plaintext from this device's files (`ChunkHome.local`), if it is there and
   * still is that chunk (of `size` bytes, when given).
   */
  async fromLocal(id: ChunkId, size?: number): Promise<Uint8Array | undefined> {
    return (await this.localChunk(id, size))?.data;
  }

  private async localChunk(
    id: ChunkId,
    size?: number,
  ): Promise<{ data: Uint8Array; epoch: number } | undefined> {
    const source = this.home.local;
    if (!source?.has(id)) return undefined;
    const data = await source.read(id).catch(() => undefined);
    if (!data || (size !== undefined && data.length !== size)) return undefined;
    const epoch = this.ctx.keys.epochOf(id, data);
    return epoch === undefined ? undefined : { data, epoch };
  }

  /**
   * Whether a new write need not spool chunk `id`: the store is a spool only, and the chunk is
   * one of a version in this device's files, which the relay has (every version's chunks are up
   * before it is announced) or the spool holds. Should the relay have lost it, the upload reads
   * it from the file (verified) like any chunk it asks for again.
   */
  heldElsewhere(id: ChunkId): boolean {
    return !this.home.cache && this.localHas(id);
  }

  /**
   * Whether a write with a source need not spool its chunks: the store is a spool only and the
   * local source reads places (the upload then reads each chunk from its place).
   */
  get locates(): boolean {
    return !this.home.cache && this.home.local?.readAt !== undefined;
  }

  /** Queues chunks (stored as queued already), with where those not spooled lie. */
  queue(ids: Iterable<ChunkId>, places?: ReadonlyMap<ChunkId, ChunkPlace>): void {
    for (const id of ids) {
      this.uploads.add(id);
      const place = places?.get(id);
      if (place) this.places.set(id, place);
    }
  }

  /** Whether this device's files may hold chunk `id` (see `ReplicaOptions.localChunks`). */
  localHas(id: ChunkId): boolean {
    return this.home.local?.has(id) === true;
  }

  /** Starts uploading queued chunks, unless a run is going. */
  startUploads(remote: BlobStore): void {
    if (this.uploading || this.uploads.size === 0 || this.retry.pending) return;
    this.uploading = this.upload(remote)
      .then(() => this.succeeded())
      .catch((error: unknown) => this.failed(error, "uploading chunks"))
      .finally(() => {
        this.uploading = undefined;
        this.onIdleChange();
      });
  }

  /**
   * Queues the chunks of `manifests` this replica lacks and starts fetching them. With
   * `replace`, queued chunks none of `manifests` needs are dropped from the queue (those in
   * flight still arrive): the set of files to download shrank.
   */
  async want(
    manifests: Iterable<Manifest>,
    remote: BlobStore | undefined,
    replace = false,
  ): Promise<void> {
    const candidates = new Map<ChunkId, number>();
    for (const m of manifests)
      for (const c of m.chunks)
        if (!this.local.has(c.id) && !this.unavailable.has(c.id)) candidates.set(c.id, c.size);
    if (replace)
      for (const id of [...this.wanted.keys()])
        if (!candidates.has(id)) {
          this.wanted.delete(id);
          this.arrived(id); // a reader waiting on it fetches it itself
        }
    const ids = [...candidates.keys()];
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      const missing = new Set(await this.ctx.blobs.has(batch));
      for (const id of batch) {
        if (missing.has(id)) this.wanted.set(id, candidates.get(id)!);
        else this.local.add(id);
      }
    }
    if (remote) this.startDownloads(remote);
  }

  /**
   * Queues for upload the chunks of `manifests` that this replica holds and the relay lacks
   * (persisted like any upload, so a restart resumes them), and starts uploading.
   * @returns how many were queued
   */
  async reuploadMissing(manifests: Iterable<Manifest>, remote: BlobStore): Promise<number> {
    const ids = new Set<ChunkId>();
    for (const m of manifests) for (const c of m.chunks) if (!this.uploads.has(c.id)) ids.add(c.id);
    const all = [...ids];
    let queued = 0;
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      const notHere = new Set(await this.ctx.blobs.has(batch));
      const held = batch.filter((id) => !notHere.has(id) || this.home.local?.has(id));
      if (held.length === 0) continue;
      const lost = (await remote.has(held)).filter((id) => !this.uploads.has(id));
      if (lost.length === 0) continue;
      await this.ctx.local.transaction(this.ctx.local.uploadOps(lost));
      for (const id of lost) this.uploads.add(id);
      queued += lost.length;
    }
    if (queued > 0) this.startUploads(remote);
    return queued;
  }

  /** Forgets that the relay lacked some chunks, so the next `want` asks again. */
  retryUnavailable(): void {
    this.unavailable.clear();
  }

  startDownloads(remote: BlobStore): void {
    if (this.downloading || this.wanted.size === 0 || this.retry.pending) return;
    this.downloading = this.download(remote)
      .then(() => this.succeeded())
      .catch((error: unknown) => this.failed(error, "downloading chunks"))
      .finally(() => {
        this.downloading = undefined;
        for (const id of [...this.waiters.keys()]) this.arrived(id);
        this.onIdleChange();
      });
  }

  /**
   * Fetches one chunk from the relay, verifies it and stores it locally; returns its
   * plaintext. Used by reads of content that has not been downloaded yet.
   * @throws WeftError NOT_FOUND when the relay does not have it; INTEGRITY when it is corrupt
   */
  async fetch(remote: BlobStore, id: ChunkId, size: number): Promise<Uint8Array> {
    const sealed = await remote.get(id);
    if (!sealed)
      throw new WeftError("NOT_FOUND", `chunk ${id.slice(0, 12)}… is not on the relay (yet)`);
    return this.accept(id, size, sealed);
  }

  /**
   * Fetches `chunks` (id → size) from the relay in batches, `concurrency` requests at once, and
   * verifies each; resolves with the plaintexts of those that came. A chunk the relay lacks or
   * that fails verification is left out (its reader fetches it itself and meets the error).
   * Nothing is stored.
   */
  async fetchAll(
    remote: BlobStore,
    chunks: Map<ChunkId, number>,
  ): Promise<Map<ChunkId, Uint8Array>> {
    const out = new Map<ChunkId, Uint8Array>();
    await this.pool(this.downloadUnits([...chunks], remote), async (unit) => {
      const got =
        unit.length > 1 && remote.getMany
          ? await remote.getMany(unit.map(([id]) => id))
          : new Map<ChunkId, Uint8Array>();
      for (const [id, size] of unit) {
        try {
          const sealed = got.get(id) ?? (await remote.get(id));
          if (sealed) out.set(id, await this.accept(id, size, sealed));
        } catch (error) {
          if (
            error instanceof WeftError &&
            (error.code === "NOT_FOUND" || error.code === "INTEGRITY")
          )
            continue;
          throw error;
        }
      }
    });
    return out;
  }

  /**
   * As {@link fetch}, for a read: requests go to the relay in batches (see {@link ReadBatches}).
   */
  fetchForRead(remote: BlobStore, id: ChunkId, size: number): Promise<Uint8Array> {
    if (!remote.getMany || size > BATCH_CHUNK_LIMIT) return this.fetch(remote, id, size);
    return this.reads.fetch(remote, id, size);
  }

  private readonly reads = new ReadBatches(
    (id, size, sealed) => this.accept(id, size, sealed),
    (remote, id, size) => this.fetch(remote, id, size),
  );

  /**
   * Verifies a chunk from the relay and stores it locally (unless the store only spools
   * uploads); returns its plaintext.
   */
  private async accept(id: ChunkId, size: number, sealed: Uint8Array): Promise<Uint8Array> {
    const data = openChunkData(this.ctx.keys, id, sealed, size); // throws before anything is stored
    if (this.home.cache) {
      await this.ctx.blobs.put(id, sealed);
      this.local.add(id);
    }
    this.wanted.delete(id);
    this.bytesDown += sealed.length;
    this.arrived(id);
    return data;
  }

  /**
   * While the download queue runs and has `id` queued, resolves once it is stored here or the
   * queue gave up on it; otherwise at once. A reader waits on this rather than fetching a chunk
   * the queue is already fetching (which moved new content twice).
   */
  arrival(id: ChunkId): Promise<void> {
    if (!this.downloading || !this.wanted.has(id)) return Promise.resolve();
    let waiter = this.waiters.get(id);
    if (!waiter) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      waiter = { promise, resolve };
      this.waiters.set(id, waiter);
    }
    return waiter.promise;
  }

  private readonly waiters = new Map<ChunkId, { promise: Promise<void>; resolve: () => void }>();

  private arrived(id: ChunkId): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    waiter.resolve();
  }

  private async upload(remote: BlobStore): Promise<void> {
    this.upRun = { done: 0, total: this.uploads.size, bytes: 0 };
    while (this.uploads.size > 0) {
      const batch: ChunkId[] = [];
      for (const id of this.uploads) if (batch.push(id) === BATCH) break;
      const missing = await remote.has(batch);
      this.upRun.done += batch.length - missing.length;
      await this.pool(slices(missing, UNIT_CHUNKS), (unit) => this.uploadUnit(remote, unit));
      // Recorded per batch, so a crash or a cut connection resumes with what is left.
      await this.ctx.local.transaction(this.ctx.local.uploadedOps(batch));
      for (const id of batch) {
        this.uploads.delete(id);
        this.places.delete(id);
      }
      if (!this.home.cache) {
        // A spool: the relay has them now, and this device's files hold the content. (A crash
        // before this leaves them in the store, which costs space and nothing else.)
        for (const id of batch) this.local.delete(id);
        await this.ctx.blobs.delete(batch);
      }
      this.onIdleChange(); // changes whose chunks are all up now can be sent while the rest go
      if (missing.length === 0)
        this.ctx.events.emit("progress", { direction: "upload", ...this.upRun });
      this.upRun.total = Math.max(this.upRun.total, this.upRun.done + this.uploads.size);
    }
  }

  /** Sends some chunks: small ones packed into batch requests when the relay takes them. */
  private async uploadUnit(remote: BlobStore, ids: readonly ChunkId[]): Promise<void> {
    let packed: BatchChunk[] = [];
    let packedBytes = 0;
    const sent = (bytes: number, count = 1): void => {
      this.bytesUp += bytes;
      this.upRun.bytes += bytes;
      this.upRun.done += count;
      this.ctx.events.emit("progress", { direction: "upload", ...this.upRun });
    };
    const flush = async (): Promise<void> => {
      const chunks = packed;
      packed = [];
      packedBytes = 0;
      if (chunks.length === 0) return;
      if (chunks.length > 1 && remote.putMany) {
        await remote.putMany(chunks);
        sent(
          chunks.reduce((n, c) => n + c.bytes.length, 0),
          chunks.length,
        );
      } else
        for (const c of chunks) {
          await remote.put(c.id, c.bytes);
          sent(c.bytes.length);
        }
    };
    for (const id of ids) {
      const sealed = await this.sealed(id);
      if (!sealed) {
        if (this.home.cache)
          throw new WeftError("STORAGE", `chunk ${id.slice(0, 12)}… vanished from the local store`);
        // Only in a file that changed since: its old bytes are gone here, and the scan that
        // finds the change records what is there now. Waiting for it would stop every send.
        const place = this.places.get(id);
        this.report(
          new WeftError(
            "NOT_FOUND",
            `chunk ${id.slice(0, 12)}… is no longer on this device` +
              (place ? ` (${place.source} changed since it was recorded)` : ""),
          ),
          "uploading chunks (its file changed since; not sent)",
        );
        continue;
      }
      if (sealed.length > BATCH_CHUNK_LIMIT) {
        await remote.put(id, sealed);
        sent(sealed.length);
        continue;
      }
      if (packedBytes + batchedSize(sealed.length) > UNIT_BYTES) await flush();
      packed.push({ id, bytes: sealed });
      packedBytes += batchedSize(sealed.length);
    }
    await flush();
  }

  /**
   * Chunk `id` sealed for the relay: read from its place in this device's files (checked
   * against its id first), from the local store, or from wherever else the files hold it.
   */
  private async sealed(id: ChunkId): Promise<Uint8Array | undefined> {
    const place = this.places.get(id);
    const local = this.home.local;
    if (place && local?.readAt) {
      const data = await local.readAt(place).catch(() => undefined);
      const epoch = data?.length === place.size ? this.ctx.keys.epochOf(id, data) : undefined;
      if (data && epoch !== undefined)
        return sealChunkData(this.ctx.keys, id, data, this.home.compress ?? true, epoch);
    }
    const stored = await this.ctx.blobs.get(id);
    if (stored) return stored;
    const found = await this.localChunk(id);
    return (
      found && sealChunkData(this.ctx.keys, id, found.data, this.home.compress ?? true, found.epoch)
    );
  }

  private async download(remote: BlobStore): Promise<void> {
    this.downRun = { done: 0, total: this.wanted.size, bytes: 0 };
    while (this.wanted.size > 0) {
      const batch: [ChunkId, number][] = [];
      for (const entry of this.wanted) if (batch.push(entry) === BATCH * 4) break;
      await this.pool(this.downloadUnits(batch, remote), async (unit) => {
        // Packed units come in one request; what it left out is fetched one by one below.
        const got =
          unit.length > 1 && remote.getMany
            ? await remote.getMany(unit.map(([id]) => id))
            : new Map<ChunkId, Uint8Array>();
        for (const [id, size] of unit) {
          try {
            const sealed = got.get(id);
            if (sealed) await this.accept(id, size, sealed);
            else await this.fetch(remote, id, size);
            this.downRun.bytes += size;
          } catch (error) {
            this.arrived(id); // a waiting reader fetches it itself and meets the error
            // Set aside until the next connection: the relay lacks it, or it is corrupt.
            if (error instanceof WeftError && error.code === "NOT_FOUND") {
              this.wanted.delete(id);
              this.unavailable.add(id);
              continue;
            }
            if (error instanceof WeftError && error.code === "INTEGRITY") {
              this.wanted.delete(id);
              this.unavailable.add(id);
              this.report(error, `verifying chunk ${id.slice(0, 12)}… from the relay`);
              continue;
            }
            // Anything else (the relay went away, a store failed) ends the run and stays
            // wanted: the retry fetches it. Dropped here, it was fetched only when read.
            throw error;
          }
          this.downRun.done++;
          this.ctx.events.emit("progress", { direction: "download", ...this.downRun });
        }
      });
      this.downRun.total = Math.max(this.downRun.total, this.downRun.done + this.wanted.size);
    }
  }

  /** Groups chunks to fetch: small ones packed by their sizes, large ones alone. */
  private downloadUnits(
    batch: readonly [ChunkId, number][],
    remote: BlobStore,
  ): [ChunkId, number][][] {
    if (!remote.getMany) return batch.map((entry) => [entry]);
    const units: [ChunkId, number][][] = [];
    let unit: [ChunkId, number][] = [];
    let bytes = 0;
    for (const entry of batch) {
      // The manifest gives the plaintext size; sealing adds a little, compression may take some.
      const cost = batchedSize(entry[1] + SEAL_ALLOWANCE);
      if (entry[1] > BATCH_CHUNK_LIMIT) {
        units.push([entry]);
        continue;
      }
      if (unit.length === UNIT_CHUNKS || bytes + cost > UNIT_BYTES) {
        units.push(unit);
        unit = [];
        bytes = 0;
      }
      unit.push(entry);
      bytes += cost;
    }
    if (unit.length > 0) units.push(unit);
    return units;
  }

  /** Runs `task` over `items`, `concurrency` at a time; the first failure stops the rest. */
  private pool<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
    return forEachLimited(items, this.concurrency, { onFailure: "stop" }, task);
  }

  /** Forgets a pending retry and starts the next run at once (e.g. after a reconnect). */
  retryNow(): void {
    this.retry.cancel();
    this.retry.reset();
  }

  /** Stops retrying (the replica stopped). */
  stop(): void {
    this.retry.cancel();
  }

  private succeeded(): void {
    this.retry.reset();
  }

  /**
   * A run failed (the relay went away, a store failed): report it and wait before the next
   * run. Restarting at once would spin: the run that ends is what starts the next one.
   */
  private failed(error: unknown, context: string): void {
    if (!(error instanceof ProtocolError && error.wireCode === "unavailable"))
      this.report(error, context);
    this.retry.schedule(() => this.onIdleChange());
  }

  private report(error: unknown, context: string): void {
    this.ctx.events.emit("error", {
      error: error instanceof Error ? error : new Error(String(error)),
      context,
    });
  }
}

/** `items` in slices of at most `size`. */
function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
