/** The folder log of PgMetaStore: appends with dedupe, pages, snapshots, acks and pruning. */
import { WeftError } from "@weft/core";
import type { HeadClaim } from "@weft/core";
import type { AppendIfResult } from "@weft/core/server";
import type { DeviceId, FolderId } from "@weft/crypto";
import {
  notFound,
  checkBytes,
  checkCount,
  checkDeviceId,
  checkEpoch,
  checkFolderId,
  checkNotBeyondHead,
  checkSeq,
} from "../checks.js";
import type { LogEntry, SnapshotRecord } from "../meta-store.js";
import { buf, ownBytes } from "../sqlite-queries.js";
import type { Db } from "./pg-db.js";
import { all, changes, one, requireDevice, requireFolder } from "./pg-queries.js";

// Each function runs inside the store's error wrapping (and, where it says so, a transaction);
// see MetaStore for the contract of each.

/**
 * MetaStore.appendIf, in a transaction (MetaStore.append is {@link appendOne}). The folder's row lock comes first: a second relay's
 * append to the folder waits for this one's commit, then sees its entry, so the dedupe holds
 * across relays and head + 1 is this entry's seq with no gap.
 */
export async function append(
  db: Db,
  folderId: FolderId,
  deviceId: DeviceId,
  deviceSeq: number,
  envelope: Uint8Array,
  claims: readonly HeadClaim[] = [],
): Promise<AppendIfResult> {
  checkFolderId(folderId);
  checkDeviceId(deviceId);
  checkSeq(deviceSeq, "deviceSeq");
  checkBytes(envelope, "envelope");
  // Three statements while the lock is held, not six: the lock; the dedupe, the pruned
  // deviceSeqs and the device in one read; the head's bump and the insert in one write. The lock
  // is held from the first to the commit, so fewer round trips let more appends through a
  // folder. The lock is a statement of its own: a read that waited for it with a join would see
  // the log as it was before the wait (one snapshot per statement), and miss a retry's entry.
  await requireFolder(db, folderId, true);
  const state = await one<{
    dup_seq: number | null;
    dup_envelope: Buffer | null;
    pruned: number | null;
    device_known: boolean;
  }>(
    db,
    "SELECT l.seq AS dup_seq, l.envelope AS dup_envelope, " +
      "(SELECT p.device_seq FROM pruned_device_seqs p " +
      "WHERE p.folder_id = $1 AND p.device_id = $2) AS pruned, " +
      "EXISTS (SELECT 1 FROM devices d WHERE d.device_id = $2) AS device_known " +
      "FROM (SELECT 1) AS one LEFT JOIN log l " +
      "ON l.folder_id = $1 AND l.device_id = $2 AND l.device_seq = $3",
    [folderId, deviceId, deviceSeq],
  );
  if (state === undefined) throw new Error("a SELECT without FROM rows returned none");
  if (state.dup_seq !== null && state.dup_envelope !== null) {
    // A retry whose answer was lost carries the same bytes; anything else reuses a number.
    if (state.dup_envelope.equals(envelope)) return { seq: state.dup_seq, duplicate: true };
    throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used for other bytes`);
  }
  if (deviceSeq <= (state.pruned ?? -1))
    throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used and pruned`);
  if (!state.device_known) throw notFound("device");
  if (claims.length > 0) {
    // Read under the folder's lock, like the head: no other append can move them meanwhile.
    const heads = await all<{ handle: Buffer; token: Buffer }>(
      db,
      "SELECT handle, token FROM file_heads WHERE folder_id = $1 AND handle = ANY($2::bytea[])",
      [folderId, claims.map((c) => buf(c.handle))],
    );
    const byHandle = new Map(heads.map((h) => [h.handle.toString("hex"), h.token]));
    const stale = claims
      .filter((c) => {
        const head = byHandle.get(Buffer.from(c.handle).toString("hex"));
        return head ? !head.equals(c.base) : c.base.length !== 0;
      })
      .map((c) => c.handle.slice());
    if (stale.length > 0) return { stale };
    // One statement: claims with a next move the head, those without drop it.
    const set = claims.filter((c) => c.next.length > 0);
    const drop = claims.filter((c) => c.next.length === 0);
    await all(
      db,
      "WITH gone AS (DELETE FROM file_heads WHERE folder_id = $1 AND handle = ANY($4::bytea[])) " +
        "INSERT INTO file_heads (folder_id, handle, token) " +
        "SELECT $1, h, t FROM unnest($2::bytea[], $3::bytea[]) AS u (h, t) " +
        "ON CONFLICT (folder_id, handle) DO UPDATE SET token = excluded.token",
      [
        folderId,
        set.map((c) => buf(c.handle)),
        set.map((c) => buf(c.next)),
        drop.map((c) => buf(c.handle)),
      ],
    );
  }
  const inserted = await one<{ seq: number }>(
    db,
    "WITH head AS (UPDATE folders SET head_seq = head_seq + 1 WHERE folder_id = $1 " +
      "RETURNING head_seq) " +
      "INSERT INTO log (folder_id, seq, device_id, device_seq, envelope) " +
      "SELECT $1, head_seq, $2, $3, $4 FROM head RETURNING seq",
    [folderId, deviceId, deviceSeq, buf(envelope)],
  );
  return { seq: inserted!.seq, duplicate: false };
}

/**
 * MetaStore.append in one statement, its own transaction: the stored function `weft_append`
 * (migration 5) does what {@link append} does without claims, under the same folder row lock.
 * One round trip instead of five (BEGIN, lock, read, write, COMMIT): the lock is held for the
 * function's run only, not across the relay's round trips, so more appends get through a folder.
 */
export async function appendOne(
  db: Db,
  folderId: FolderId,
  deviceId: DeviceId,
  deviceSeq: number,
  envelope: Uint8Array,
): Promise<{ seq: number; duplicate: boolean }> {
  checkFolderId(folderId);
  checkDeviceId(deviceId);
  checkSeq(deviceSeq, "deviceSeq");
  checkBytes(envelope, "envelope");
  const row = await one<{ o_seq: number | null; o_outcome: string }>(
    db,
    "SELECT o_seq, o_outcome FROM weft_append($1, $2, $3, $4)",
    [folderId, deviceId, deviceSeq, buf(envelope)],
  );
  switch (row?.o_outcome) {
    case "appended":
    case "duplicate":
      return { seq: row.o_seq!, duplicate: row.o_outcome === "duplicate" };
    case "reused":
      throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used for other bytes`);
    case "pruned":
      throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used and pruned`);
    case "no_folder":
      throw notFound("folder");
    case "no_device":
      throw notFound("device");
    default:
      throw new Error(`weft_append answered ${String(row?.o_outcome)}`);
  }
}

/** The seq of the first entry after `afterSeq` (reads no envelope). */
export async function firstSeqAfter(
  db: Db,
  folderId: FolderId,
  afterSeq: number,
): Promise<number | undefined> {
  checkFolderId(folderId);
  checkSeq(afterSeq, "afterSeq");
  await requireFolder(db, folderId);
  const row = await one<{ seq: number }>(
    db,
    "SELECT seq FROM log WHERE folder_id = $1 AND seq > $2 ORDER BY seq LIMIT 1",
    [folderId, afterSeq],
  );
  return row?.seq;
}

/** MetaStore.readLog, in a REPEATABLE READ transaction: the sizes and the page see one state. */
export async function read(
  db: Db,
  folderId: FolderId,
  afterSeq: number,
  limit: number,
  maxBytes: number,
): Promise<LogEntry[]> {
  checkFolderId(folderId);
  checkSeq(afterSeq, "afterSeq");
  checkCount(limit, "limit");
  checkCount(maxBytes, "maxBytes");
  await requireFolder(db, folderId);
  // Size the page first (octet_length reads a stored value's length, not its bytes), so that no
  // envelope is loaded only to be left out of it.
  const sizes = await all<{ seq: number; size: number }>(
    db,
    "SELECT seq, octet_length(envelope) AS size FROM log WHERE folder_id = $1 AND seq > $2 " +
      "ORDER BY seq LIMIT $3",
    [folderId, afterSeq, limit],
  );
  let last = afterSeq;
  let bytes = 0;
  for (const { seq, size } of sizes) {
    if (last !== afterSeq && bytes + size > maxBytes) break;
    bytes += size;
    last = seq;
  }
  if (last === afterSeq) return [];
  const rows = await all<{ seq: number; envelope: Buffer }>(
    db,
    "SELECT seq, envelope FROM log WHERE folder_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
    [folderId, afterSeq, last],
  );
  return rows.map((r) => ({ seq: r.seq, envelope: ownBytes(r.envelope) }));
}

/** MetaStore.putSnapshot: one upsert, so of two racing snapshots the wider one stays. */
export async function putSnapshot(
  db: Db,
  folderId: FolderId,
  epoch: number,
  coversSeq: number,
  ciphertext: Uint8Array,
): Promise<void> {
  checkFolderId(folderId);
  checkEpoch(epoch);
  checkSeq(coversSeq, "coversSeq");
  checkBytes(ciphertext, "ciphertext");
  // Beyond the head, a snapshot would let pruning drop entries it does not hold. The head only
  // grows, so a check before the write stays true.
  checkNotBeyondHead(coversSeq, "coversSeq", (await requireFolder(db, folderId)).head_seq);
  await db.query(
    "INSERT INTO snapshots (folder_id, epoch, covers_seq, ciphertext) VALUES ($1, $2, $3, $4) " +
      "ON CONFLICT (folder_id) DO UPDATE SET epoch = excluded.epoch, " +
      "covers_seq = excluded.covers_seq, ciphertext = excluded.ciphertext " +
      "WHERE excluded.covers_seq >= snapshots.covers_seq",
    [folderId, epoch, coversSeq, buf(ciphertext)],
  );
}

/** MetaStore.snapshot. */
export async function snapshot(db: Db, folderId: FolderId): Promise<SnapshotRecord | undefined> {
  checkFolderId(folderId);
  const row = await one<{ epoch: number; covers_seq: number; ciphertext: Buffer }>(
    db,
    "SELECT epoch, covers_seq, ciphertext FROM snapshots WHERE folder_id = $1",
    [folderId],
  );
  if (row === undefined) return undefined;
  return { epoch: row.epoch, coversSeq: row.covers_seq, ciphertext: ownBytes(row.ciphertext) };
}

/** MetaStore.ack: one upsert that keeps the highest seq and the latest time. */
export async function ack(
  db: Db,
  folderId: FolderId,
  deviceId: DeviceId,
  seq: number,
  now: number,
): Promise<void> {
  checkFolderId(folderId);
  checkDeviceId(deviceId);
  checkSeq(seq, "seq");
  checkNotBeyondHead(seq, "seq", (await requireFolder(db, folderId)).head_seq);
  await requireDevice(db, deviceId);
  await db.query(
    "INSERT INTO acks (folder_id, device_id, seq, heard) VALUES ($1, $2, $3, $4) " +
      "ON CONFLICT (folder_id, device_id) DO UPDATE " +
      "SET seq = greatest(acks.seq, excluded.seq), heard = greatest(acks.heard, excluded.heard)",
    [folderId, deviceId, seq, now],
  );
}

/** MetaStore.acks. */
export async function acks(db: Db, folderId: FolderId): Promise<Map<DeviceId, number>> {
  checkFolderId(folderId);
  const rows = await all<{ device_id: string; seq: number }>(
    db,
    "SELECT device_id, seq FROM acks WHERE folder_id = $1 ORDER BY device_id",
    [folderId],
  );
  return new Map(rows.map((r) => [r.device_id as DeviceId, r.seq]));
}

/** MetaStore.pruneLog, in a transaction holding the folder's row lock (appends wait). */
export async function prune(db: Db, folderId: FolderId, silentBefore: number): Promise<number> {
  checkFolderId(folderId);
  await requireFolder(db, folderId, true);
  const covers =
    (
      await one<{ covers_seq: number }>(
        db,
        "SELECT covers_seq FROM snapshots WHERE folder_id = $1",
        [folderId],
      )
    )?.covers_seq ?? 0;
  // NULL when no member has a device heard from since `silentBefore`: then only the snapshot
  // bounds what is still needed. A member device that never acked counts as 0, from its
  // registration; a removed device holds nothing back.
  const low = await one<{ low: number | null }>(
    db,
    "SELECT min(coalesce(a.seq, 0)) AS low FROM members m " +
      "JOIN devices d ON d.account_id = m.account_id AND d.removed IS NULL " +
      "LEFT JOIN acks a ON a.folder_id = m.folder_id AND a.device_id = d.device_id " +
      "WHERE m.folder_id = $1 AND coalesce(a.heard, d.created) >= $2",
    [folderId, silentBefore],
  );
  const upTo = low?.low == null ? covers : Math.min(low.low, covers);
  if (upTo <= 0) return 0;
  // Remembered before the rows go: append's dedupe can no longer see those device seqs.
  await db.query(
    "INSERT INTO pruned_device_seqs (folder_id, device_id, device_seq) " +
      "SELECT folder_id, device_id, max(device_seq) FROM log WHERE folder_id = $1 AND seq <= $2 " +
      "GROUP BY folder_id, device_id " +
      "ON CONFLICT (folder_id, device_id) DO UPDATE " +
      "SET device_seq = greatest(pruned_device_seqs.device_seq, excluded.device_seq)",
    [folderId, upTo],
  );
  return changes(db, "DELETE FROM log WHERE folder_id = $1 AND seq <= $2", [folderId, upTo]);
}
