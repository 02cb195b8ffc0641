/**
 * Replica: one device's view of one folder, the whole engine. Files and documents go in and
 * come out here; everything that leaves the device is sealed; everything that arrives is
 * verified before it is used. The agent is only a bridge between a Replica and a disk.
 */
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import { ready } from "@weft/crypto";
import type { Awareness } from "y-protocols/awareness";
import type * as Y from "yjs";
import { systemClock } from "../clock.js";
import { forEachLimited } from "../pool.js";
import type { AutomergeDocHandle } from "../docs/automerge-doc.js";
import type { DocChannel, DocType } from "../docs/channel.js";
import type { YDocBinding } from "../docs/yjs-doc.js";
import { WeftError } from "../errors.js";
import { type DeletedFile, deletedAt } from "../folder/deleted.js";
import { type ConflictInfo, FolderIndex, type Resolution } from "../folder/folder-index.js";
import type { VersionSnapshot } from "../folder/records.js";
import type { FileId } from "../ids.js";
import { HybridClock } from "../model/hlc.js";
import { ClientOwnership } from "./authorize.js";
import { RecordAttestations } from "./record-attestations.js";
import { ChunkKeys } from "./chunk-codec.js";
import { type ReplicaContext, Serial } from "./context.js";
import { DocChannels } from "./doc-channels.js";
import { type ConnectionState, SyncEngine } from "./engine.js";
import { Emitter, type PeerInfo, type ReplicaEventMap, type ReplicaStatus } from "./events.js";
import { FileContent } from "./file-content.js";
import { type GarbageReport, collectGarbage, isCollectable, liveChunks } from "./garbage.js";
import { LocalCommits } from "./local-commit.js";
import { LocalState } from "./local-state.js";
import { Outbox } from "./outbox.js";
import type { PayloadPart } from "./payload.js";
import { type RefusedWrite, type StrongOp, StrongWrites } from "./strong-writes.js";
import { Transfers } from "./transfers.js";
import type {
  ChunkPlace,
  Consistency,
  FileData,
  FileWrite,
  ListEntry,
  ReplicaOptions,
  ReplicaResolution,
  ReplicaStats,
  WriteOptions,
} from "./types.js";
import { toListEntry } from "./types.js";

/** Strong writes {@link Replica.writeFiles} has in flight at once. */
const STRONG_WRITES_AT_ONCE = 32;

export type { RefusedWrite, StrongOp } from "./strong-writes.js";
export type {
  ChunkPlace,
  Consistency,
  FileData,
  FileWrite,
  ListEntry,
  LocalChunkSource,
  RawDeflate,
  RawInflate,
  ReplicaOptions,
  ReplicaResolution,
  ReplicaStats,
  WriteOptions,
} from "./types.js";

/**
 * One device's view of one folder: write and read files and documents, list the tree, resolve
 * conflicts, see history. Everything it sends is sealed and everything it receives verified.
 * Open one with {@link Replica.open}; {@link Replica.close} when done.
 */
export class Replica {
  private readonly transfers: Transfers;
  private readonly engine: SyncEngine;
  private readonly docs: DocChannels;
  private readonly commits: LocalCommits;
  private readonly content: FileContent;
  /** A strong folder's writes (undefined in an eventually consistent folder). */
  private strong: StrongWrites | undefined;
  private closed = false;

  private get events(): Emitter<ReplicaEventMap> {
    return this.ctx.events;
  }

  private constructor(
    private readonly ctx: ReplicaContext,
    private readonly options: ReplicaOptions,
    ownership: ClientOwnership,
  ) {
    this.transfers = new Transfers(ctx, options.transfers ?? 8, () => this.afterTransfers(), {
      cache: options.cacheChunks ?? true,
      ...(options.localChunks ? { local: options.localChunks } : {}),
      ...(options.compress !== undefined ? { compress: options.compress } : {}),
    });
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
        ...(options.clockDeviceSeq ? { clockDeviceSeq: true } : {}),
      },
      {
        remoteApplied: (changed) => this.afterRemote(changed),
        cameOnline: () => this.checkRelayChunks(),
      },
    );
    this.docs.attach(this.engine);
    this.commits = new LocalCommits(ctx, this.transfers, this.engine.outbox, this.engine);
    this.content = new FileContent(ctx, this.transfers, options);
    this.downloads = options.downloads;
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
    const indexOptions = {
      device: options.identity.deviceId,
      clock: options.clock ?? new HybridClock({ now: () => time.now() }),
      ...(options.retention ? { retention: options.retention } : {}),
    };
    const index = new FolderIndex(indexOptions);
    for (const update of loaded.index) index.applyDelta(update);
    const ctx: ReplicaContext = {
      folderId: options.folderId,
      identity: options.identity,
      keys: new ChunkKeys(options.folderId, options.keyring, options.decompress),
      index,
      local,
      attestations: new RecordAttestations(
        options.folderId,
        options.identity,
        index,
        local,
        loaded.attestations,
      ),
      blobs: options.blobs,
      meta: loaded.meta,
      events: new Emitter(),
      serial: new Serial(),
      clock: time,
    };
    const replica = new Replica(ctx, options, ClientOwnership.fromDoc(index.doc));
    if (options.consistency === "strong") {
      const strong = new StrongWrites(
        ctx,
        options.keyring,
        indexOptions,
        replica.transfers.uploads,
        loaded.strong,
        options.clockDeviceSeq === true,
      );
      strong.attach(replica.engine.strongSession());
      replica.engine.strong = strong;
      replica.strong = strong;
    }
    for (const { key, part } of loaded.outbox) replica.engine.outbox.addLoaded(key, part);
    for (const { deviceSeq, envelope } of loaded.sent)
      replica.engine.outbox.addUnconfirmed(deviceSeq, envelope);
    replica.transfers.queue(loaded.uploads, loaded.places);
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
    // A strong folder's write replaces the version there was when it began, not one that
    // arrived while its content was being read.
    const seen = this.strong?.observe({ kind: "write", path });
    const manifest = await this.content.storeContent(data, options.source, options.chunks);
    if (this.strong) {
      const op = { kind: "write", path, manifest: manifest.manifest } as const;
      await this.strongSubmit(
        {
          ...op,
          ...(options.mode !== undefined ? { mode: options.mode } : {}),
          ...(options.mtime !== undefined ? { mtime: options.mtime } : {}),
        },
        manifest.fresh,
        options.basedOn,
        seen,
        manifest.places,
      );
      return;
    }
    await this.commit(
      () =>
        this.ctx.index.writeFile(path, {
          manifest: manifest.manifest,
          mode: options.mode,
          mtime: options.mtime,
          ...(options.basedOn ? { basedOn: options.basedOn } : {}),
        }),
      manifest.fresh,
      undefined,
      manifest.places,
    );
  }

  /**
   * Writes several files as one change: one index transaction, one stored update and one
   * outbox entry for all of them, rather than one of each per file (issue 14: a scan of many
   * new files). Each file is written as {@link writeFile} would, in order; one that fails
   * (bad content, a directory at its path, …) is left out and the others are still written.
   * Resolves once the change is durable, with each file's error or undefined, in order. A
   * strong folder writes them one by one.
   */
  async writeFiles(files: readonly FileWrite[]): Promise<(Error | undefined)[]> {
    this.checkOpen();
    const failed = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
    const results: (Error | undefined)[] = files.map(() => undefined);
    if (this.strong) {
      // Each is its own strong write (accepted or refused on its own), a few at a time.
      await forEachLimited(files, STRONG_WRITES_AT_ONCE, { onFailure: "finish" }, (f, i) =>
        this.writeFile(f.path, f.data, f.options).catch((e: unknown) => (results[i] = failed(e))),
      );
      return results;
    }
    const stored: (Awaited<ReturnType<FileContent["storeContent"]>> | undefined)[] = [];
    const fresh = new Set<ChunkId>();
    const places = new Map<ChunkId, ChunkPlace>();
    // One at a time: content that is read and spooled keeps its bounded memory per file.
    for (const [i, { data, options = {} }] of files.entries()) {
      const s = await this.content
        .storeContent(data, options.source, options.chunks)
        .catch((e: unknown) => void (results[i] = failed(e)));
      stored.push(s ?? undefined);
      for (const id of s?.fresh ?? []) fresh.add(id);
      for (const [id, place] of s?.places ?? []) if (!places.has(id)) places.set(id, place);
    }
    await this.commit(
      () =>
        this.ctx.index.batch(() => {
          for (const [i, { path, options = {} }] of files.entries()) {
            const s = stored[i];
            if (!s) continue;
            try {
              this.ctx.index.writeFile(path, {
                manifest: s.manifest,
                mode: options.mode,
                mtime: options.mtime,
                ...(options.basedOn ? { basedOn: options.basedOn } : {}),
              });
            } catch (e) {
              results[i] = failed(e);
            }
          }
        }),
      [...fresh],
      undefined,
      places.size > 0 ? places : undefined,
    );
    return results;
  }

  /** The whole content of a file, every chunk verified. Fetches chunks not yet downloaded. */
  async readFile(path: string): Promise<Uint8Array> {
    const manifest = this.content.manifestAt(path);
    const out = new Uint8Array(manifest.size);
    let at = 0;
    for await (const block of this.content.readChunks(manifest)) {
      out.set(block, at);
      at += block.length;
    }
    return out;
  }

  /** A file's content as a stream of verified chunks, for files too large to hold at once. */
  createReadStream(path: string): AsyncIterable<Uint8Array> {
    return this.content.readChunks(this.content.manifestAt(path));
  }

  /**
   * Fetches the chunks the files at `paths` need from the relay (those this device has in
   * neither its store nor, see {@link ReplicaOptions.localChunks}, its files) in batches, and
   * holds them in memory, verified, for the next reads of those files: for a caller about to
   * read many small files, one request per batch instead of one per file. Resolves once
   * fetched, with a function that drops what no read took; call it after the reads.
   */
  prefetch(paths: readonly string[]): Promise<() => void> {
    this.checkOpen();
    return this.content.prefetch(paths);
  }

  /** The entry at a path, or undefined. */
  stat(path: string): ListEntry | undefined {
    const e = this.ctx.index.stat(path);
    return e && toListEntry(e);
  }

  /**
   * The derived tree sorted by path: every entry, or those under `dir` (recursively).
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
    if (this.strong) return this.strongSubmit({ kind: "mkdir", path });
    return this.commit(() => void this.ctx.index.mkdir(path));
  }

  /** Moves or renames a file or a directory (history follows it). */
  move(from: string, to: string): Promise<void> {
    if (this.strong) return this.strongSubmit({ kind: "move", from, to });
    return this.commit(() => this.ctx.index.move(from, to));
  }

  /** Removes a file or a directory with its content; removed versions stay in history. */
  remove(path: string): Promise<void> {
    if (this.strong) return this.strongSubmit({ kind: "remove", path });
    return this.commit(() => this.ctx.index.remove(path));
  }

  /** Earlier versions of a file, newest first. */
  history(path: string): VersionSnapshot[] {
    return this.ctx.index.history(path);
  }

  /** Makes an earlier version (from `history` or a conflict copy) current again. */
  restore(path: string, version: string): Promise<void> {
    if (this.strong) return this.strongSubmit({ kind: "restore", path, version });
    return this.commit(() => this.ctx.index.restore(path, version));
  }

  /** Files deleted at `path`, newest deletion first, with the versions each had. */
  deleted(path: string): DeletedFile[] {
    return deletedAt(this.ctx.index, path);
  }

  /** Brings a deleted file (from {@link deleted}) back at its path with one of its versions. */
  undelete(fileId: FileId, version: string): Promise<void> {
    if (this.strong) return this.strongOnly("undelete");
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
    if (this.strong) return this.strongOnly("resolveConflict");
    if ("merged" in resolution) {
      const { manifest, fresh } = await this.content.storeContent(resolution.merged);
      return this.commit(
        () => this.ctx.index.resolveConflict(path, { merged: { manifest } }),
        fresh,
      );
    }
    return this.commit(() => this.ctx.index.resolveConflict(path, resolution as Resolution));
  }

  // ------------------------------------------------------------------ strong consistency

  /** The folder's consistency mode ({@link ReplicaOptions.consistency}). */
  get consistency(): Consistency {
    return this.strong ? "strong" : "eventual";
  }

  /**
   * A strong folder's writes the relay refused because the file changed elsewhere first, kept
   * until {@link reapply}d or {@link discardRefused}; empty in an eventual folder.
   */
  refusedWrites(): RefusedWrite[] {
    return this.strong?.refused() ?? [];
  }

  /**
   * Paths of a strong folder's writes made here and not yet accepted or refused (a move: its
   * source and its destination). The index does not show them until the relay accepts them.
   */
  queuedWrites(): string[] {
    return this.strong?.queuedPaths() ?? [];
  }

  /**
   * Writes a refused write again, on top of the file as it is now (the version that made it
   * refused goes to history, as any superseded version). Resolves once queued.
   * @throws WeftError NOT_FOUND for an unknown id (or an eventual folder)
   */
  async reapply(id: string): Promise<void> {
    this.checkOpen();
    if (!this.strong) throw new WeftError("NOT_FOUND", `no refused write ${id}`);
    await this.strong.reapply(id);
  }

  /**
   * Forgets a refused write: the file stays as the other device left it.
   * @throws WeftError NOT_FOUND for an unknown id (or an eventual folder)
   */
  async discardRefused(id: string): Promise<void> {
    this.checkOpen();
    if (!this.strong) throw new WeftError("NOT_FOUND", `no refused write ${id}`);
    await this.strong.discard(id);
  }

  private async strongSubmit(
    op: StrongOp,
    fresh: readonly ChunkId[] = [],
    basedOn?: string,
    seen?: Record<string, string | null>,
    places?: ReadonlyMap<ChunkId, ChunkPlace>,
  ): Promise<void> {
    this.checkOpen();
    // As in an eventual folder, a change of nothing fails at once (not later, as a refusal);
    // a path a queued change of this device creates counts as there.
    const source =
      op.kind === "move"
        ? op.from
        : op.kind === "write" || op.kind === "mkdir"
          ? undefined
          : op.path;
    if (source !== undefined && !this.ctx.index.stat(source) && !this.strong!.writesQueued(source))
      throw new WeftError("NOT_FOUND", `no such file: ${source}`);
    const uploads = fresh.filter((id) => !this.transfers.uploads.has(id));
    if (uploads.length > 0) {
      await this.ctx.local.transaction(this.ctx.local.uploadOps(uploads, places));
      this.transfers.queue(uploads, places);
      this.engine.startTransfers();
    }
    await this.strong!.submit(op, fresh, basedOn, seen);
  }

  private strongOnly(what: string): Promise<never> {
    return Promise.reject(
      new WeftError(
        "INVALID_OPTIONS",
        `${what} is not available in a strong-consistency folder (it never has conflicts; ` +
          "write the version you want instead)",
      ),
    );
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
   * relay, the log applied up to its head, chunks uploaded and (eager mode) downloaded. The head
   * is the relay's as of this call: what another device's `syncOnce` (or write) got stored
   * through the same relay before this call began is applied here when this resolves.
   * @throws ProtocolError `unavailable` (or the relay's reason) when it cannot connect
   */
  async syncOnce(): Promise<void> {
    this.checkOpen();
    const starting = this.engine.status === "stopped";
    this.engine.start();
    if (starting) this.wantAll();
    // Connected already: the relay's push of an entry stored just before this call may still
    // be on its way. A (re)subscribe learns the head from the relay; an open session needs one
    // round trip on its connection to have received everything sent before it.
    if (this.engine.status === "online") await this.engine.roundTrip();
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
   * Runs a local operation and makes what it changed durable (see {@link LocalCommits.commit});
   * resolves once durable.
   */
  private commit<T>(
    op: () => T,
    fresh: ChunkId[] = [],
    docPart?: Extract<PayloadPart, { kind: "doc" }>,
    places?: ReadonlyMap<ChunkId, ChunkPlace>,
  ): Promise<T> {
    this.checkOpen();
    return this.commits.commit(op, fresh, docPart, places);
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
      .reuploadMissing(this.content.currentManifests(), remote)
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

  private afterTransfers(): void {
    this.engine.notify();
    this.engine.kick(); // what the finished uploads let through is sealed now, and transfers go on
    this.strong?.kick();
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
   * Changes which files' content is downloaded as it arrives (eager mode; see
   * {@link ReplicaOptions.downloads}; undefined: every file's). Content newly taken in is
   * queued at once; queued content now left out is dropped from the queue, not deleted if here.
   */
  setDownloads(downloads: ((path: string) => boolean) | undefined): void {
    this.checkOpen();
    this.downloads = downloads;
    this.wantAll(true);
  }

  /** Whose content eager mode downloads (undefined: every file's). */
  private downloads: ((path: string) => boolean) | undefined;

  /**
   * In eager mode, queues every chunk of the tree that is not here yet (of the files
   * {@link setDownloads} takes): after remote changes, and when syncing starts (a download cut
   * by a restart resumes at full width). `replace` also drops what is queued and not wanted.
   */
  private wantAll(replace = false): void {
    if ((this.options.download ?? "eager") === "eager") {
      const manifests = this.content.currentManifests(this.downloads);
      void this.ctx.serial
        .track(() =>
          this.transfers.want(
            manifests,
            this.engine.status === "online" ? this.options.remoteBlobs : undefined,
            replace,
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
