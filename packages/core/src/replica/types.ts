/** The types a Replica takes and returns, and the conversions between them and the index's own. */
import type { ChunkId, DeviceIdentity, FolderId, FolderKeyring } from "@weft/crypto";
import type { ChunkDigest, ChunkerOptions } from "../chunking/index.js";
import type { Clock } from "../clock.js";
import type { TreeEntry } from "../folder/tree.js";
import type { RetentionPolicy } from "../folder/registers.js";
import type { HybridClock } from "../model/hlc.js";
import type { Transport } from "../protocol/transport.js";
import type { BlobStore, StateStore } from "../storage/index.js";

/**
 * Plaintext chunks found outside the replica's own store, e.g. in the files of a synced folder
 * (see {@link ReplicaOptions.localChunks}).
 */
export interface LocalChunkSource {
  /** Whether chunk `id` may be here (a cheap look-up; {@link read} can still find it changed). */
  has(id: ChunkId): boolean;
  /** Chunk `id`'s plaintext as this device holds it now, or undefined; verified by the caller. */
  read(id: ChunkId): Promise<Uint8Array | undefined>;
  /**
   * The bytes at `place` as they are now (fewer or none when they are gone), verified by the
   * caller. Needed for writes with {@link WriteOptions.source}.
   */
  readAt?(place: ChunkPlace): Promise<Uint8Array | undefined>;
}

/**
 * Where a chunk of a write lies in a {@link LocalChunkSource}: `size` bytes at `offset` of
 * `source` (the write's {@link WriteOptions.source}, e.g. the file's path).
 */
export interface ChunkPlace {
  source: string;
  offset: number;
  size: number;
}

/** How to open a {@link Replica}. */
export interface ReplicaOptions {
  /** This device's keys. The secret keys never leave the Replica. */
  identity: DeviceIdentity;
  /** The folder. */
  folderId: FolderId;
  /** The folder's keys, every epoch this device has; new content is sealed under the newest. */
  keyring: FolderKeyring;
  /** This device's bookkeeping (index, counters, outbox). Reopening with the same store resumes. */
  state: StateStore;
  /** This device's sealed chunks. */
  blobs: BlobStore;
  /** Opens a connection to the relay (or a peer, or the in-memory hub); called again to reconnect. */
  connect?: () => Transport;
  /**
   * The access token for `auth`, or a function that returns a fresh one. Required with
   * `connect`. After the relay refused a token (`unauthorized`: expired, or its sign-in ended),
   * the function is given that token: it must not return it again (refresh, or throw to say the
   * device must sign in again; the error is reported). `RelaySession.token` does so.
   */
  token?: string | ((refused?: string) => string | Promise<string>);
  /** The relay's chunk store (HTTP for the relay; a hub client in tests). Required with `connect`. */
  remoteBlobs?: BlobStore;
  /**
   * Adds to `keyring` the keys this device was given since it was opened: a new epoch after a
   * member or device was removed (e.g. with `RelayAccount.folderKeys`, or by completing the
   * rotation when this device is an owner's). Called on every connection, before anything is
   * read, and when the log holds an entry under an epoch with no key here; what it adds is used
   * at once, new writes included. A failure is reported as an `error` event.
   */
  refreshKeys?: () => Promise<void>;
  /** `"eager"` (default) downloads new content as it arrives; `"lazy"` only when read. */
  download?: "eager" | "lazy";
  /**
   * Whether `blobs` keeps every chunk this device has (default true). With false it is only a
   * spool: a chunk of a local write stays until the relay has it and is then deleted, and a
   * chunk fetched for a read goes to the reader without being stored. For a device whose files
   * hold the content anyway (the agent's synced folder, with {@link localChunks}): otherwise
   * `blobs` is a second copy of the folder.
   */
  cacheChunks?: boolean;
  /**
   * Content this device holds outside `blobs` (a synced folder's own files): a read, and an
   * upload the relay asks for again, take a chunk from here when `blobs` lacks it. Each is
   * checked against its id before use; one that no longer matches (the file changed) is not.
   */
  localChunks?: LocalChunkSource;
  /**
   * In eager mode, which files' content to download as it arrives, by path (default: every
   * file's). A file left out is still listed, and its chunks are fetched when it is read. Change
   * it later with `Replica.setDownloads`. The agent's selective sync uses it.
   */
  downloads?: (path: string) => boolean;
  /** Chunks in flight at once per direction (default 8). */
  transfers?: number;
  /**
   * Compress chunks before sealing when it saves space (default true), with the built-in
   * JavaScript DEFLATE or, given a function, with that one (see {@link RawDeflate}).
   */
  compress?: boolean | RawDeflate;
  /** Raw INFLATE for compressed chunks (default: the built-in JavaScript one; see {@link RawInflate}). */
  decompress?: RawInflate;
  /** Upload a snapshot after this many log entries past the newest one (default 1000). */
  snapshotEvery?: number;
  /**
   * Reconnect backoff in ms (default 250 to 30,000, doubling, each wait randomly shortened by
   * up to half so devices do not all return at once). It retries for as long as the replica
   * runs; `max` bounds how long after the relay is back a device can take to notice.
   */
  reconnectDelayMs?: { min: number; max: number };
  /**
   * After this long without hearing from the relay the replica pings it, and after twice this
   * long it drops the connection and reconnects (default 15,000 ms). A connection attempt that
   * gets no answer is given up after twice this long too.
   */
  keepaliveMs?: number;
  /**
   * How long a change already made in memory waits for the state store while it reports a
   * full disk, before the operation fails (default: as long as the replica runs; a process
   * that syncs once and exits passes 0, and redoes the change next time).
   */
  diskFullWaitMs?: number;
  /**
   * Number this device's envelopes from the wall clock in ms (each above the last and at least
   * `time.now()`) instead of 1, 2, 3…: for a state that may not be the only one this device ever
   * writes the folder from (one thrown away after use, as `weft put --no-state` keeps). The
   * relay refuses a deviceSeq it has seen, and a number from the clock is above every one this
   * device used before, as long as its clock does not go back. Catch up (`syncOnce`) before
   * writing: the device's own envelopes from another state are applied only while none above
   * them has been sealed here. Default false.
   */
  clockDeviceSeq?: boolean;
  /** Chunker sizes; every device of a folder must use the same ones. */
  chunking?: ChunkerOptions;
  /** History kept per file. */
  retention?: RetentionPolicy;
  /** The hybrid logical clock that stamps local writes (default: one on {@link time}). */
  clock?: HybridClock;
  /**
   * Where every timer and timestamp of the replica comes from: reconnect backoff, keepalive,
   * re-authentication, retries, presence times (default `systemClock`). A `ManualClock` lets a
   * test or a simulation move time by hand.
   */
  time?: Clock;
  /**
   * The folder's consistency mode, from its signed metadata (default `"eventual"`). In
   * `"strong"` mode every file change is held out of the shared index until the relay accepts
   * it against the file heads it replaces; one that would conflict is refused and kept
   * ({@link Replica.refusedWrites}) instead of becoming a conflict copy.
   */
  consistency?: Consistency;
}

/** How a folder treats concurrent writes: both kept (a conflict copy), or the later one refused. */
export type Consistency = "eventual" | "strong";

/** Content for {@link Replica.writeFile}: bytes, or a stream of blocks (Node streams are async iterables). */
export type FileData = Uint8Array | AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/** Options of a write. */
export interface WriteOptions {
  /** Permission bits (default 0o644). */
  mode?: number;
  /** Modification time in ms (default now). */
  mtime?: number;
  /**
   * Content hash of the version the new content was made from (for a file edited on disk,
   * what was on disk before). When a newer version arrived meanwhile, the write does not
   * supersede it: both are kept, as a conflict.
   */
  basedOn?: string;
  /**
   * Where the content lies in {@link ReplicaOptions.localChunks} (a name its `readAt` takes,
   * e.g. the file's path). With a spool-only store (`cacheChunks: false`) and a source that
   * has `readAt`, new chunks are not sealed into `blobs`: each chunk's place is stored with the
   * change (in the same transaction), and the upload reads the chunk back from there, checks it
   * against its id and seals it then. A chunk that no longer matches (the content changed
   * since) is reported and not sent: write the new content, which supersedes this version.
   * Ignored otherwise (the chunks are spooled).
   */
  source?: string;
  /**
   * With {@link source}: the content's chunks as a scan of that source found them
   * (`contentHashOf`'s `chunks`, same chunking options). When the chunks' places are stored
   * (see `source`), the manifest is made from these and `data` is not read at all: the upload
   * reads each chunk from its place and checks it against its id, so a digest that is not of
   * the content names a chunk that is reported and not sent, as for content changed since.
   * Ignored when the chunks are spooled (`data` is read then).
   */
  chunks?: readonly ChunkDigest[];
}

/** One file of {@link Replica.writeFiles}: what {@link Replica.writeFile} takes. */
export interface FileWrite {
  path: string;
  data: FileData;
  options?: WriteOptions;
}

/** An entry of {@link Replica.list}. */
export interface ListEntry {
  /** Folder-relative path, `/`-separated. */
  path: string;
  kind: "file" | "dir" | "symlink";
  /** Bytes (0 for directories and links). */
  size: number;
  /** Hex content hash (DESIGN.md §3), null for directories and links. */
  contentHash: string | null;
}

/**
 * A conflict resolution as {@link Replica.resolveConflict} takes it: the folder index's
 * `Resolution`, with merged content given as bytes.
 */
export type ReplicaResolution =
  | { keep: string }
  | { keepBoth: true }
  | { merged: FileData }
  | { dropCopy: string }
  | { keepCopy: string; path?: string };

/** Counters of what a replica moved, for status pages and benchmarks. */
export interface ReplicaStats {
  bytesUploaded: number;
  bytesDownloaded: number;
  envelopesSent: number;
  /** Local changes not yet sealed and sent. */
  pendingOut: number;
  /** Chunks queued to upload or download. */
  pendingChunks: number;
  /** Chunks the relay lacked when asked (e.g. a peer has not uploaded them yet). */
  unavailableChunks: number;
  /** Highest folder sequence number applied here. */
  appliedSeq: number;
  /** Snapshots loaded from the relay instead of replaying the log. */
  snapshotsLoaded: number;
}

/** The listing form of a tree entry. */
export function toListEntry(e: TreeEntry): ListEntry {
  const m = e.version.manifest;
  return {
    path: e.path,
    kind: e.kind,
    size: m?.size ?? 0,
    contentHash: e.kind === "file" ? (m?.contentHash ?? null) : null,
  };
}

/** Bytes given as a web ReadableStream or any async iterable, as an async iterable. */
export function toAsyncIterable(
  data: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>,
): AsyncIterable<Uint8Array> {
  if (Symbol.asyncIterator in data) return data as AsyncIterable<Uint8Array>;
  const stream = data as ReadableStream<Uint8Array>;
  return {
    async *[Symbol.asyncIterator]() {
      const reader = stream.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    },
  };
}

/**
 * Raw DEFLATE (RFC 1951, no header), for `ReplicaOptions.compress`: a platform's native one is
 * several times faster than the built-in JavaScript (in Node: `zlib.deflateRawSync(data,
 * { level: 1 })`). Any conforming output works: readers inflate it the same way.
 */
export type RawDeflate = (data: Uint8Array) => Uint8Array;

/**
 * Raw INFLATE, for `ReplicaOptions.decompress`: returns at most `maxBytes` bytes of `data`
 * inflated (more must either be cut off there or throw: the caller then sees a length that does
 * not match and refuses the chunk, so a deflate bomb never allocates past the manifest's size).
 * In Node: `zlib.inflateRawSync(data, { maxOutputLength: maxBytes })`, several times faster
 * than the built-in JavaScript.
 */
export type RawInflate = (data: Uint8Array, maxBytes: number) => Uint8Array;
