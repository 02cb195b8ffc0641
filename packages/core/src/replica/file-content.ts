/** File content in and out of a Replica: chunked, sealed and stored on the way in; verified (and fetched when missing) on the way out. */
import type { ChunkId } from "@weft/crypto";
import {
  type ChunkDigest,
  type Manifest,
  buildManifest,
  manifestFromDigests,
} from "../chunking/index.js";
import { WeftError } from "../errors.js";
import { openChunkData, sealChunkData } from "./chunk-codec.js";
import type { ReplicaContext } from "./context.js";
import type { Transfers } from "./transfers.js";
import { type ChunkPlace, type FileData, type ReplicaOptions, toAsyncIterable } from "./types.js";

/** Sealed chunk bytes a write hands to the local store before waiting for it. */
const MAX_PUT_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** Chunks, and their bytes, a read looks for ahead of the one its reader is at. */
const READ_AHEAD_CHUNKS = 8;
const READ_AHEAD_BYTES = 16 * 1024 * 1024;

/**
 * The content of a replica's files: stores new content as sealed chunks (with bounded memory),
 * and reads a file back chunk by chunk, each verified, fetching from the relay what this device
 * lacks.
 */
export class FileContent {
  constructor(
    private readonly ctx: ReplicaContext,
    private readonly transfers: Transfers,
    private readonly options: Pick<ReplicaOptions, "chunking" | "compress" | "remoteBlobs">,
  ) {}

  /**
   * Chunks content and stores the sealed chunks this replica does not have yet. Every chunk of
   * the new content is queued for upload, also those already stored here: the upload asks the
   * relay which it lacks first, so nothing moves twice, and a chunk stored by a write that never
   * committed (a process killed mid-write) still reaches the relay. The has-check also tells
   * the relay the chunk is in use again, which its garbage collection respects.
   */
  async storeContent(
    data: FileData,
    from?: string,
    digests?: readonly ChunkDigest[],
  ): Promise<{ manifest: Manifest; fresh: ChunkId[]; places?: Map<ChunkId, ChunkPlace> }> {
    const keys = this.ctx.keys;
    const fresh = new Set<ChunkId>();
    if (from !== undefined && this.transfers.locates && digests) {
      // A scan hashed the content already (issue 14: every new file was read twice): its chunk
      // digests name the chunks, and `data` is left unread. The upload verifies each chunk.
      const manifest = await manifestFromDigests(digests, keys.subkeys(keys.epoch).chunkId);
      const places = new Map<ChunkId, ChunkPlace>();
      let offset = 0;
      for (const { id, size } of manifest.chunks) {
        if (!places.has(id)) places.set(id, { source: from, offset, size });
        offset += size;
      }
      return { manifest, fresh: [...places.keys()], places };
    }
    const source = data instanceof Uint8Array ? data : toAsyncIterable(data);
    if (from !== undefined && this.transfers.locates) {
      // The content stays where it is: each chunk's place is recorded with the change, and the
      // upload reads it from there (verified). Nothing is sealed or stored now (issue 14: the
      // spool was a write and a read of every new chunk).
      const places = new Map<ChunkId, ChunkPlace>();
      const manifest = await buildManifest(source, {
        chunkIdKey: keys.subkeys(keys.epoch).chunkId,
        ...(this.options.chunking ? { chunking: this.options.chunking } : {}),
        onChunk: (chunk) => {
          if (places.has(chunk.id)) return;
          places.set(chunk.id, { source: from, offset: chunk.offset, size: chunk.data.length });
        },
      });
      return { manifest, fresh: [...places.keys()], places };
    }
    // Puts are not awaited one by one: a store may group them into one transaction (one fsync).
    // Sealed bytes in flight are bounded, so a large file never sits in memory whole.
    const puts = new Set<Promise<void>>();
    let inFlight = 0;
    const manifest = await buildManifest(source, {
      chunkIdKey: keys.subkeys(keys.epoch).chunkId,
      ...(this.options.chunking ? { chunking: this.options.chunking } : {}),
      onChunk: async (chunk) => {
        if (fresh.has(chunk.id)) return;
        fresh.add(chunk.id);
        if (this.transfers.heldElsewhere(chunk.id) || (await this.transfers.hasLocal(chunk.id)))
          return;
        const sealed = sealChunkData(keys, chunk.id, chunk.data, this.options.compress ?? true);
        inFlight += sealed.length;
        const put = this.ctx.blobs.put(chunk.id, sealed).then(() => {
          this.transfers.markLocal([chunk.id]);
          inFlight -= sealed.length;
          puts.delete(put);
        });
        puts.add(put);
        put.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
        while (inFlight > MAX_PUT_BYTES_IN_FLIGHT) await Promise.race(puts);
      },
    }).finally(() => Promise.allSettled(puts));
    await Promise.all(puts);
    return { manifest, fresh: [...fresh] };
  }

  manifestAt(path: string): Manifest {
    const e = this.ctx.index.stat(path);
    if (!e) throw new WeftError("NOT_FOUND", `no such file: ${path}`);
    if (e.kind !== "file" || !e.version.manifest)
      throw new WeftError("IS_A_DIRECTORY", `not a file: ${e.path}`);
    return e.version.manifest;
  }

  /**
   * A file's chunks in order, each verified: from the local store, this device's files, or the
   * relay. Up to {@link READ_AHEAD_CHUNKS} chunks ({@link READ_AHEAD_BYTES}) are looked for
   * ahead of the one the reader is at, so fetches of a large file overlap.
   */
  async *readChunks(manifest: Manifest): AsyncIterable<Uint8Array> {
    const chunks = manifest.chunks;
    const ahead: Promise<Uint8Array>[] = [];
    let next = 0;
    let aheadBytes = 0;
    for (let i = 0; i < chunks.length; i++) {
      while (
        next < chunks.length &&
        (next === i ||
          (next - i < READ_AHEAD_CHUNKS && aheadBytes + chunks[next]!.size <= READ_AHEAD_BYTES))
      ) {
        const { id, size } = chunks[next]!;
        const read = this.readChunk(id, size);
        read.catch(() => undefined); // awaited in turn; a reader that stops early leaves it
        ahead.push(read);
        aheadBytes += size;
        next++;
      }
      const data = await ahead.shift()!;
      aheadBytes -= chunks[i]!.size;
      yield data;
    }
  }

  /** Chunks fetched ahead by {@link prefetch}: each kept until read as often as it was wanted. */
  private readonly held = new Map<ChunkId, { data: Uint8Array; uses: number }>();

  /**
   * Fetches what the content of `paths` needs from the relay (what is neither in the store nor
   * in this device's files), in batches, verified, and holds it in memory for their reads.
   * Resolves when fetched, with a function that drops what no read took.
   */
  async prefetch(paths: readonly string[]): Promise<() => void> {
    const remote = this.options.remoteBlobs;
    const wanted = new Map<ChunkId, { size: number; uses: number }>();
    for (const path of paths) {
      let manifest: Manifest;
      try {
        manifest = this.manifestAt(path);
      } catch {
        continue;
      }
      for (const { id, size } of manifest.chunks) {
        const w = wanted.get(id);
        if (w) w.uses++;
        else wanted.set(id, { size, uses: 1 });
      }
    }
    const ids = [...wanted.keys()].filter(
      (id) => !this.held.has(id) && !this.transfers.heldElsewhere(id),
    );
    if (!remote || ids.length === 0) return () => undefined;
    const missing = new Set(await this.ctx.blobs.has(ids));
    const fetch = new Map<ChunkId, number>();
    for (const id of ids)
      if (missing.has(id) && !this.transfers.localHas(id)) fetch.set(id, wanted.get(id)!.size);
    if (fetch.size === 0) return () => undefined;
    const got = await this.transfers.fetchAll(remote, fetch);
    for (const [id, data] of got) this.held.set(id, { data, uses: wanted.get(id)!.uses });
    return () => {
      for (const id of got.keys()) this.held.delete(id);
    };
  }

  private async readChunk(id: ChunkId, size: number): Promise<Uint8Array> {
    const held = this.held.get(id);
    if (held && held.data.length === size) {
      if (--held.uses <= 0) this.held.delete(id);
      return held.data;
    }
    let sealed = await this.ctx.blobs.get(id);
    if (!sealed) {
      const local = await this.transfers.fromLocal(id, size);
      if (local) return local;
    }
    if (!sealed && this.options.remoteBlobs) {
      // Queued for download already: wait for it rather than fetch it a second time.
      await this.transfers.arrival(id);
      sealed = await this.ctx.blobs.get(id);
    }
    if (sealed) return openChunkData(this.ctx.keys, id, sealed, size);
    if (this.options.remoteBlobs)
      return this.transfers.fetchForRead(this.options.remoteBlobs, id, size);
    throw new WeftError(
      "NOT_FOUND",
      `chunk ${id.slice(0, 12)}… of this file is not on this device`,
    );
  }

  /** The manifests of the current tree's files (those whose path `only` takes, when given). */
  currentManifests(only?: (path: string) => boolean): Manifest[] {
    const manifests: Manifest[] = [];
    for (const e of this.ctx.index.tree().entries.values())
      if (e.version.manifest && (!only || only(e.path))) manifests.push(e.version.manifest);
    return manifests;
  }
}
