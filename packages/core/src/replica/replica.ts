/**
 * Replica: one device's view of one folder, the whole engine. Files and documents go in and
 * come out here; everything that leaves the device is sealed; everything that arrives is
 * verified before it is used. The agent is only a bridge between a Replica and a disk.
 */
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import { ready } from "@weft/crypto";
import { systemClock } from "../clock.js";
import * as Y from "yjs";
import { type Manifest, buildManifest } from "../chunking/index.js";
import type { Awareness } from "y-protocols/awareness";
import type { AutomergeDocHandle } from "../docs/automerge-doc.js";
import type { DocChannel, DocType } from "../docs/channel.js";
import type { YDocBinding } from "../docs/yjs-doc.js";
import { WeftError } from "../errors.js";
import { type ConflictInfo, FolderIndex, type Resolution } from "../folder/folder-index.js";
import { HybridClock } from "../model/hlc.js";
import type { VersionSnapshot } from "../folder/records.js";
import { type DeletedFile, deletedAt } from "../folder/deleted.js";
import type { FileId } from "../ids.js";
import { type GarbageReport, collectGarbage, isCollectable, liveChunks } from "./garbage.js";
import { ClientOwnership } from "./authorize.js";
import { ChunkKeys, openChunkData, sealChunkData } from "./chunk-codec.js";
import { type ReplicaContext, Serial } from "./context.js";
import { DocChannels } from "./doc-channels.js";
import { type ConnectionState, SyncEngine } from "./engine.js";
import { Emitter, type PeerInfo, type ReplicaEventMap, type ReplicaStatus } from "./events.js";
import { LocalState } from "./local-state.js";
import type { StateOp } from "../storage/index.js";
import type { PayloadPart } from "./payload.js";
import { Outbox } from "./outbox.js";
import { Transfers } from "./transfers.js";
import {
  type FileData,
  type ListEntry,
  type ReplicaOptions,
  type ReplicaResolution,
  type ReplicaStats,
  type WriteOptions,
  toAsyncIterable,
  toListEntry,
} from "./types.js";

export type {
  FileData,
  ListEntry,
  RawDeflate,
  RawInflate,
  ReplicaOptions,
  ReplicaResolution,
  ReplicaStats,
  WriteOptions,
} from "./types.js";

/** Sealed chunk bytes a write hands to the local store before waiting for it. */
const MAX_PUT_BYTES_IN_FLIGHT = 32 * 1024 * 1024;

/**
 * One device's view of one folder: write and read files and documents, list the tree, resolve
 * conflicts, see history. Everything it sends is sealed and everything it receives verified.
 * Open one with {@link Replica.open}; {@link Replica.close} when done.
 */
export class Replica {
  private readonly transfers: Transfers;
  private readonly engine: SyncEngine;
  private readonly docs: DocChannels;
  private captured: Uint8Array[] = [];
  private closed = false;

  private get events(): Emitter<ReplicaEventMap> {
    return this.ctx.events;
  }

  private constructor(
    private readonly ctx: ReplicaContext,
    private readonly options: ReplicaOptions,
    ownership: ClientOwnership,
  ) {
    this.transfers = new Transfers(ctx, options.transfers ?? 8, () => this.afterTransfers());
    this.docs = new DocChannels(ctx, (part) => this.commit(() => undefined, [], part));
    const token = options.token;
    this.engine = new SyncEngine(
      ctx,
      this.transfers,
      ownership,
      this.docs,
      new Outbox(),
      {
        connect: options.connect,
        token: typeof token === "function" ? token : () => token ?? "",
        remoteBlobs: options.remoteBlobs,
        snapshotEvery: options.snapshotEvery ?? 1000,
        reconnectDelayMs: options.reconnectDelayMs ?? { min: 250, max: 30_000 },
        keepaliveMs: options.keepaliveMs ?? 15_000,
        ...(options.refreshKeys ? { refreshKeys: options.refreshKeys } : {}),
      },
      {
        remoteApplied: (changed) => this.afterRemote(changed),
        cameOnline: () => this.checkRelayChunks(),
      },
    );
    this.docs.attach(this.engine);
    ctx.index.onLocalUpdate((update) => this.captured.push(update));
  }

  /**
   * Opens a replica from its stores: loads the index and the queues it left, resuming
   * interrupted uploads and unsent changes. Call {@link start} to sync.
   */
  static async open(options: ReplicaOptions): Promise<Replica> {
    await ready();
    if (options.connect && !options.remoteBlobs)
      throw new WeftError("INVALID_OPTIONS", "a replica that connects needs remoteBlobs too");
    const time = options.time ?? systemClock;
    const local = new LocalState(options.state, options.diskFullWaitMs, time);
    const loaded = await local.load();
    const index = new FolderIndex({
      device: options.identity.deviceId,
      clock: options.clock ?? new HybridClock({ now: () => time.now() }),
      ...(options.retention ? { retention: options.retention } : {}),
    });
    for (const update of loaded.index) index.applyDelta(update);
    const ctx: ReplicaContext = {
      folderId: options.folderId,
      identity: options.identity,
      keys: new ChunkKeys(options.folderId, options.keyring, options.decompress),
      index,
      local,
      blobs: options.blobs,
      meta: loaded.meta,
      events: new Emitter(),
      serial: new Serial(),
      clock: time,
    };
    const replica = new Replica(ctx, options, ClientOwnership.fromDoc(index.doc));
    for (const { key, part } of loaded.outbox) replica.engine.outbox.addLoaded(key, part);
    for (const { deviceSeq, envelope } of loaded.sent)
      replica.engine.outbox.addUnconfirmed(deviceSeq, envelope);
    for (const id of loaded.uploads) replica.transfers.uploads.add(id);
    return replica;
  }

  /** This device. */
  get deviceId(): DeviceId {
    return this.ctx.identity.deviceId;
  }

  /** The folder. */
  get folderId(): FolderId {
    return this.ctx.folderId;
  }

  /** The folder index (read it; change files through the Replica so changes are sealed and sent). */
  get index(): FolderIndex {
    return this.ctx.index;
  }

  // ------------------------------------------------------------------ files

  /** Writes a file (creating parent directories): chunks it, seals new chunks, records the version. */
  async writeFile(path: string, data: FileData, options: WriteOptions = {}): Promise<void> {
    this.checkOpen();
    const manifest = await this.storeContent(data);
    await this.commit(
      () =>
        this.ctx.index.writeFile(path, {
          manifest: manifest.manifest,
          mode: options.mode,
          mtime: options.mtime,
        }),
      manifest.fresh,
    );
  }

  /** The whole content of a file, every chunk verified. Fetches chunks not yet downloaded. */
  async readFile(path: string): Promise<Uint8Array> {
    const manifest = this.manifestAt(path);
    const out = new Uint8Array(manifest.size);
    let at = 0;
    for await (const block of this.readChunks(manifest)) {
      out.set(block, at);
      at += block.length;
    }
    return out;
  }

  /** A file's content as a stream of verified chunks, for files too large to hold at once. */
  createReadStream(path: string): AsyncIterable<Uint8Array> {
    return this.readChunks(this.manifestAt(path));
  }

  /** The entry at a path, or undefined. */
  stat(path: string): ListEntry | undefined {
    const e = this.ctx.index.stat(path);
    return e && toListEntry(e);
  }

  /**
   * The materialised tree sorted by path: every entry, or those under `dir` (recursively).
   * Conflict copies are listed under their conflict names.
   */
  list(dir = ""): ListEntry[] {
    const prefix = dir === "" ? "" : `${this.ctx.index.stat(dir)?.path ?? dir}/`;
    if (dir !== "" && this.ctx.index.stat(dir)?.kind !== "dir")
      throw new WeftError("NOT_FOUND", `no such directory: ${dir}`);
    const out: ListEntry[] = [];
    for (const e of this.ctx.index.tree().entries.values())
      if (e.path.startsWith(prefix)) out.push(toListEntry(e));
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Creates a directory and its parents. */
  mkdir(path: string): Promise<void> {
    return this.commit(() => void this.ctx.index.mkdir(path));
  }

  /** Moves or renames a file or a directory (history follows it). */
  move(from: string, to: string): Promise<void> {
    return this.commit(() => this.ctx.index.move(from, to));
  }

  /** Removes a file or a directory with its content; removed versions stay in history. */
  remove(path: string): Promise<void> {
    return this.commit(() => this.ctx.index.remove(path));
  }

  /** Earlier versions of a file, newest first. */
  history(path: string): VersionSnapshot[] {
    return this.ctx.index.history(path);
  }

  /** Makes an earlier version (from `history` or a conflict copy) current again. */
  restore(path: string, version: string): Promise<void> {
    return this.commit(() => this.ctx.index.restore(path, version));
  }

  /** Files deleted at `path`, newest deletion first, with the versions each had. */
  deleted(path: string): DeletedFile[] {
    return deletedAt(this.ctx.index, path);
  }

  /** Brings a deleted file (from {@link deleted}) back at its path with one of its versions. */
  undelete(fileId: FileId, version: string): Promise<void> {
    return this.commit(() => this.ctx.index.undelete(fileId, version));
  }

  /** Files with unresolved concurrent versions. */
  conflicts(): ConflictInfo[] {
    return this.ctx.index.conflicts();
  }

  /**
   * Settles a conflict of the file at `path`: keep one version, keep both as separate files,
   * write merged content, or settle one conflict copy (drop it, or keep it as a file of its own).
   */
  async resolveConflict(path: string, resolution: ReplicaResolution): Promise<void> {
    if ("merged" in resolution) {
      const { manifest, fresh } = await this.storeContent(resolution.merged);
      return this.commit(
        () => this.ctx.index.resolveConflict(path, { merged: { manifest } }),
        fresh,
      );
    }
    return this.commit(() => this.ctx.index.resolveConflict(path, resolution as Resolution));
  }

  // ------------------------------------------------------------------ documents

  /**
   * The channel of a named document (see `DocChannel`), for document bindings. Most apps use
   * {@link doc} (Yjs), `openAutomergeDoc` or the `WeftProvider` instead.
   */
  openDocChannel(name: string, type: DocType): Promise<DocChannel> {
    this.checkOpen();
    return this.docs.channel(name, type);
  }

  /**
   * The Yjs document `name`, synced E2E with the folder's other devices: local edits are
   * stored, sealed and sent; remote ones applied as they arrive. Opening the same name again
   * returns the same Y.Doc. The name stays inside the envelopes.
   */
  async doc(name: string): Promise<Y.Doc> {
    return (await this.yjsBinding(name)).doc;
  }

  /** The awareness (cursors, presence) of Yjs document `name`: ephemeral, sealed, never stored. */
  async awareness(name: string): Promise<Awareness> {
    return (await this.yjsBinding(name)).awareness;
  }

  /**
   * The Automerge document `name`. `init` runs only if this device has nothing stored for it;
   * create a document's structure on one device (see `openAutomergeDoc`).
   */
  automerge<T>(name: string, init?: (doc: T) => void): Promise<AutomergeDocHandle<T>> {
    this.checkOpen();
    return this.docs.automerge(name, init);
  }

  private yjsBinding(name: string): Promise<YDocBinding> {
    this.checkOpen();
    return this.docs.yjs(name);
  }

  // ------------------------------------------------------------------ sync

  /** Starts syncing: connects (and reconnects) in the background. */
  start(): void {
    this.checkOpen();
    this.engine.start();
    this.wantAll();
  }

  /** Stops syncing; local operations still work and are sent after the next `start`. */
  stop(): void {
    this.engine.stop();
  }

  /**
   * Syncs until nothing is pending in either direction: local changes sealed and stored by the
   * relay, the log applied up to its head, chunks uploaded and (eager mode) downloaded.
   * @throws ProtocolError `unavailable` (or the relay's reason) when it cannot connect
   */
  async syncOnce(): Promise<void> {
    this.checkOpen();
    const starting = this.engine.status === "stopped";
    this.engine.start();
    if (starting) this.wantAll();
    for (;;) {
      if (this.engine.status !== "online") await this.engine.connectNow();
      if (this.engine.idle) return;
      await this.engine.nextChange();
    }
  }

  /** Whether nothing is in progress, and when online nothing is pending either way. */
  get idle(): boolean {
    return this.engine.idle;
  }

  /** The connection state. */
  get status(): ReplicaStatus {
    return this.engine.status;
  }

  /**
   * The connection with details for people: since when it is in its state, why the last
   * attempt failed, when the next one is due.
   */
  get connection(): ConnectionState {
    return this.engine.connectionState();
  }

  /** The folder's other devices that this replica has heard of, with presence and lag. */
  peers(): PeerInfo[] {
    return this.engine.peers.list();
  }

  /** Transfer counters and queue sizes, each from the part that keeps it. */
  stats(): ReplicaStats {
    return { ...this.transfers.stats(), ...this.engine.stats() };
  }

  /** Adds an event listener; returns a function that removes it. */
  on<E extends keyof ReplicaEventMap>(
    event: E,
    listener: (payload: ReplicaEventMap[E]) => void,
  ): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Asks the relay to delete the folder's chunks that no version this replica knows references
   * (history dropped by the retention policy, uploads never committed). It first syncs to the
   * log's head, so versions other devices wrote are known; chunks stored or has-checked within
   * the relay's grace period are kept anyway (a write still in flight elsewhere). The relay takes
   * this request from folder owners only.
   * @throws WeftError INVALID_OPTIONS when `remoteBlobs` cannot list and collect (HttpBlobStore can)
   */
  async collectGarbage(): Promise<GarbageReport> {
    this.checkOpen();
    const remote = this.options.remoteBlobs;
    if (!isCollectable(remote))
      throw new WeftError(
        "INVALID_OPTIONS",
        "remoteBlobs cannot list and collect chunks (use HttpBlobStore)",
      );
    await this.syncOnce();
    const live = await this.ctx.serial.run(() => liveChunks(this.ctx.index));
    return collectGarbage(live, remote);
  }

  /**
   * Stops syncing and waits for work in progress to be stored. The stores stay open (the
   * caller owns them); the replica cannot be used again.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.engine.stop();
    this.docs.closeAll();
    // A commit waiting for disk space would hold the lane forever: give up on it.
    this.ctx.local.stop();
    await this.ctx.serial.run(() => undefined);
    await this.ctx.local.written();
  }

  // ------------------------------------------------------------------ internals

  /**
   * Runs a local index operation in the serial lane and stores what it changed, with the
   * chunks to upload, in one transaction; then queues it for sending. Resolves once durable.
   */
  private commit<T>(
    op: () => T,
    fresh: ChunkId[] = [],
    docPart?: Extract<PayloadPart, { kind: "doc" }>,
  ): Promise<T> {
    this.checkOpen();
    // The lane is held while the change is made and its ops are queued, not while they become
    // durable: commits queued meanwhile join the same store transaction (see LocalState).
    return this.ctx.serial
      .run(() => {
        this.captured = [];
        const result = op();
        const updates = this.captured;
        this.captured = [];
        const parts: PayloadPart[] = [];
        if (updates.length > 0)
          parts.push({
            kind: "index",
            update: updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates),
          });
        if (docPart) parts.push(docPart);
        if (parts.length === 0) return { result };
        const local = this.ctx.local;
        const ops: StateOp[] = [];
        for (const part of parts) {
          ops.push(
            ...local.appendOps(
              part.kind === "index" ? "index" : `${part.type}:${part.name}`,
              part.update,
            ),
          );
          ops.push(...local.outboxOps(part));
        }
        const uploads = fresh.filter((id) => !this.transfers.uploads.has(id));
        ops.push(...local.uploadOps(uploads));
        if (local.needsCompaction("index"))
          ops.push(...local.compactOps("index", this.ctx.index.snapshot()));
        const release = this.ctx.serial.hold();
        return {
          result,
          durable: local
            .durable(ops, (error) =>
              this.events.emit("error", {
                error,
                context: "storing a local change (waiting for space)",
              }),
            )
            .then(() => this.committed(ops, parts, uploads, fresh, updates.length > 0))
            .finally(release),
        };
      })
      .then(async ({ result, durable }) => {
        await durable;
        return result;
      });
  }

  /** After a commit is durable: queue its uploads and outbox parts, in commit order. */
  private committed(
    ops: StateOp[],
    parts: PayloadPart[],
    uploads: ChunkId[],
    needs: ChunkId[],
    changed: boolean,
  ): void {
    for (const id of uploads) this.transfers.uploads.add(id);
    // Outbox keys are assigned by outboxOps in order; recover them from the ops.
    for (const op of ops) {
      if (op.op !== "save" || op.key[1] !== "outbox") continue;
      this.engine.outbox.add(op.key[2]!, parts.shift()!, needs);
    }
    if (changed) this.events.emit("change", { origin: "local", changed: 1 });
    this.engine.kick();
  }

  /**
   * Chunks content and stores the sealed chunks this replica does not have yet. Every chunk of
   * the new content is queued for upload, also those already stored here: the upload asks the
   * relay which it lacks first, so nothing moves twice, and a chunk stored by a write that never
   * committed (a process killed mid-write) still reaches the relay. The has-check also tells
   * the relay the chunk is in use again, which its garbage collection respects.
   */
  private async storeContent(data: FileData): Promise<{ manifest: Manifest; fresh: ChunkId[] }> {
    const keys = this.ctx.keys;
    const fresh = new Set<ChunkId>();
    const source = data instanceof Uint8Array ? data : toAsyncIterable(data);
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
        if (await this.transfers.hasLocal(chunk.id)) return;
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

  private manifestAt(path: string): Manifest {
    const e = this.ctx.index.stat(path);
    if (!e) throw new WeftError("NOT_FOUND", `no such file: ${path}`);
    if (e.kind !== "file" || !e.version.manifest)
      throw new WeftError("IS_A_DIRECTORY", `not a file: ${e.path}`);
    return e.version.manifest;
  }

  private async *readChunks(manifest: Manifest): AsyncIterable<Uint8Array> {
    for (const { id, size } of manifest.chunks) {
      let sealed = await this.ctx.blobs.get(id);
      if (!sealed && this.options.remoteBlobs) {
        // Queued for download already: wait for it rather than fetch it a second time.
        await this.transfers.arrival(id);
        sealed = await this.ctx.blobs.get(id);
      }
      if (sealed) yield openChunkData(this.ctx.keys, id, sealed, size);
      else if (this.options.remoteBlobs)
        yield await this.transfers.fetch(this.options.remoteBlobs, id, size);
      else
        throw new WeftError(
          "NOT_FOUND",
          `chunk ${id.slice(0, 12)}… of this file is not on this device`,
        );
    }
  }

  /**
   * Has-checks on the relay every chunk of the current tree this device holds, and uploads
   * those it lacks: whatever removed them (a buggy or hostile garbage-collection request, a
   * restored backup), any device that still has the content puts it back. Runs each time the
   * session comes online, so also at every `syncOnce`; counted as work in progress meanwhile.
   * The has-check also tells the relay the chunks are in use, which restores them from its
   * quarantine without an upload.
   */
  private checkRelayChunks(): void {
    const remote = this.options.remoteBlobs;
    if (!remote) return;
    const release = this.ctx.serial.hold();
    void this.transfers
      .reuploadMissing(this.currentManifests(), remote)
      .catch((error: unknown) =>
        this.events.emit("error", {
          error: error instanceof Error ? error : new Error(String(error)),
          context: "checking that the relay has this device's chunks",
        }),
      )
      .finally(() => {
        release();
        this.afterTransfers();
      });
  }

  /** The manifests of the current tree's files. */
  private currentManifests(): Manifest[] {
    const manifests: Manifest[] = [];
    for (const e of this.ctx.index.tree().entries.values())
      if (e.version.manifest) manifests.push(e.version.manifest);
    return manifests;
  }

  private afterTransfers(): void {
    this.engine.notify();
    this.engine.kick(); // what the finished uploads let through is sealed now, and transfers go on
  }

  private lastConflicts = 0;

  private afterRemote(changed: number): void {
    this.events.emit("change", { origin: "remote", changed });
    const conflicted = this.ctx.index.tree().conflicted.size;
    if (conflicted > this.lastConflicts)
      this.events.emit("conflict", { conflicts: this.conflicts() });
    this.lastConflicts = conflicted;
    this.wantAll();
  }

  /**
   * In eager mode, queues every chunk of the tree that is not here yet: after remote changes,
   * and when syncing starts (a download cut by a restart resumes at full width).
   */
  private wantAll(): void {
    if ((this.options.download ?? "eager") === "eager") {
      const manifests = this.currentManifests();
      void this.ctx.serial
        .track(() =>
          this.transfers.want(
            manifests,
            this.engine.status === "online" ? this.options.remoteBlobs : undefined,
          ),
        )
        .catch((error: unknown) =>
          this.events.emit("error", {
            error: error as Error,
            context: "listing chunks to download",
          }),
        )
        .finally(() => this.engine.notify());
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new WeftError("CLOSED", "the replica is closed");
  }
}
