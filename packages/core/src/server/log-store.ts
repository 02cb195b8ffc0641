/** LogStore: the part of a relay's metadata the protocol server needs (members, keys, the folder log). */
import type { DeviceId, FolderId } from "@weft/crypto";
import type { FolderRole } from "../client/relay-members.js";
import type { HeadClaim } from "../protocol/messages.js";

/** What an account may do in a folder: owners manage members, editors append, viewers read. */
export type Role = FolderRole;

/** One entry of a folder's log. */
export interface LogEntry {
  /** The folder sequence number the relay assigned (from 1). */
  seq: number;
  /** The sealed, signed envelope, as the device sent it. */
  envelope: Uint8Array;
}

/**
 * What {@link LogStore.appendIf} did: stored (or found stored, `duplicate`) at `seq`, or
 * stored nothing because the heads of `stale` handles are not the claims' bases.
 */
export type AppendIfResult = { seq: number; duplicate: boolean } | { stale: Uint8Array[] };

/** The newest snapshot of a folder's index, encrypted by a device. */
export interface SnapshotRecord {
  /** The key epoch it is sealed under. */
  epoch: number;
  /** The last log sequence number it includes. */
  coversSeq: number;
  /** The sealed snapshot. */
  ciphertext: Uint8Array;
}

/**
 * The folder logs and the membership facts {@link ProtocolServer} checks requests against. It
 * stores ciphertext (envelopes, snapshots) as opaque bytes and never opens them. The relay's
 * SQLite MetaStore implements it; so does {@link MemoryLogStore}, under the test hub.
 *
 * Asynchronous, and shared: several relays may run over one database, so the server must not
 * assume that nothing ran between two of its calls (a check-then-act sequence can be raced).
 * Each operation is atomic on its own: append dedupes and takes the next seq (gap-free per
 * folder) in one step; ack keeps the highest; prune reads and deletes in one step. It enforces
 * integrity (one sequence per folder, a deviceSeq used once) but no policy: who may do what is
 * the server's to check.
 *
 * Errors reject the promise as WeftError: NOT_FOUND when a write (or {@link headSeq}, {@link readLog})
 * names an unknown folder or device, ALREADY_EXISTS for a reused deviceSeq, INVALID_ARGUMENT for
 * a malformed argument, STORAGE for a failure of the store itself. Lookups of something absent
 * return undefined instead.
 */
export interface LogStore {
  /** An account's role in a folder, if it is a member. */
  role(folderId: FolderId, accountId: string): Promise<Role | undefined>;
  /** The signing key of `deviceId` if its account is a member of the folder and it is not removed (what append checks envelopes against). */
  memberDeviceKey(folderId: FolderId, deviceId: DeviceId): Promise<Uint8Array | undefined>;
  /** The folder's current key epoch, if the folder exists. */
  folder(folderId: FolderId): Promise<{ epoch: number } | undefined>;
  /**
   * Appends an envelope to a folder's log under the next sequence number. Dedupes on (folder,
   * device, deviceSeq): the same bytes again give `{ seq: existing, duplicate: true }` (a retry
   * after a lost answer); other bytes, or a deviceSeq at or below one already pruned from the
   * log, reject. Atomic: two appends never get the same seq, nor leave a gap.
   * @throws WeftError ALREADY_EXISTS for a reused deviceSeq; NOT_FOUND for an unknown folder
   * or device
   */
  append(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
  ): Promise<{ seq: number; duplicate: boolean }>;
  /**
   * {@link append} of a strong-consistency folder's write: after the dedupe (a retry of a
   * stored envelope is `duplicate`, whatever the heads are now), stores the envelope only if
   * every claim's `base` is its handle's head (an empty base: the handle has none), and then
   * sets each handle's head to the claim's `next` (an empty next: none), all in the append's
   * one atomic step. The
   * heads are opaque bytes to the store, kept per folder and handle.
   * @throws WeftError as {@link append}
   */
  appendIf(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
    claims: readonly HeadClaim[],
  ): Promise<AppendIfResult>;
  /**
   * Log entries with `seq > afterSeq`, ascending: at most `limit`, and at most `maxBytes` of
   * envelopes in all, except that the first entry comes back even if larger. Pruned entries are
   * gone: a first seq above `afterSeq + 1` (or no entries while `afterSeq < headSeq`) means the
   * caller must start from the snapshot.
   * @throws WeftError NOT_FOUND for an unknown folder
   */
  readLog(
    folderId: FolderId,
    afterSeq: number,
    limit: number,
    maxBytes: number,
  ): Promise<LogEntry[]>;
  /**
   * The seq of the first entry after `afterSeq`, undefined for none; reads no envelope, so a
   * subscribe can check for pruned entries without loading one.
   * @throws WeftError NOT_FOUND for an unknown folder
   */
  firstSeqAfter(folderId: FolderId, afterSeq: number): Promise<number | undefined>;
  /**
   * The sequence number of a folder's newest entry, 0 for none.
   * @throws WeftError NOT_FOUND for an unknown folder
   */
  headSeq(folderId: FolderId): Promise<number>;
  /**
   * {@link headSeq} of many folders in one read (a relay cut off from the bus checks every
   * folder it serves this way each second); an unknown folder is left out of the answer.
   */
  headSeqs(folderIds: readonly FolderId[]): Promise<Map<FolderId, number>>;
  /**
   * Stores a snapshot unless the stored one covers more of the log (at equal coverage the new
   * one wins, e.g. a re-encryption under a new epoch).
   * @throws WeftError INVALID_ARGUMENT if `coversSeq` is beyond the head; NOT_FOUND for an
   * unknown folder
   */
  putSnapshot(
    folderId: FolderId,
    epoch: number,
    coversSeq: number,
    ciphertext: Uint8Array,
  ): Promise<void>;
  /** A folder's newest snapshot, if any. */
  snapshot(folderId: FolderId): Promise<SnapshotRecord | undefined>;
  /**
   * Records that a device has everything up to `seq`, and when it said so; keeps the highest
   * seq acked.
   * @throws WeftError INVALID_ARGUMENT if `seq` is beyond the head; NOT_FOUND for an unknown
   * folder or device
   */
  ack(folderId: FolderId, deviceId: DeviceId, seq: number): Promise<void>;
  /** Every device's highest ack in a folder (former members' too). */
  acks(folderId: FolderId): Promise<Map<DeviceId, number>>;
  /**
   * Deletes log entries with seq ≤ min(ack of every member device, snapshot.coversSeq); returns
   * how many. A member device that never acked holds everything; without a snapshot nothing
   * goes. A device whose last ack in the folder (or, if none, its registration) is before
   * `silentBefore` (ms since the epoch; default 0: none) holds nothing back: it has gone silent,
   * and when it returns it loads the snapshot.
   * @throws WeftError NOT_FOUND for an unknown folder
   */
  pruneLog(folderId: FolderId, silentBefore?: number): Promise<number>;
}
