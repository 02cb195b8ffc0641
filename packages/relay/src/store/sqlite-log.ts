/** The folder log of SqliteMetaStore: appends with dedupe, pages, snapshots, acks and pruning. */
import { WeftError } from "@weft/core";
import type { HeadClaim } from "@weft/core";
import type { AppendIfResult } from "@weft/core/server";
import type { DeviceId, FolderId } from "@weft/crypto";
import {
  checkBytes,
  checkCount,
  checkDeviceId,
  checkEpoch,
  checkFolderId,
  checkNotBeyondHead,
  checkSeq,
} from "./checks.js";
import type { LogEntry, SnapshotRecord } from "./meta-store.js";
import type { Queries } from "./sqlite-queries.js";
import { buf, ownBytes } from "./sqlite-queries.js";

// Each function runs inside the store's transaction and error wrapping; see MetaStore for the
// contract of each.

/**
 * MetaStore.append, and with `claims` MetaStore.appendIf; to run in an IMMEDIATE transaction,
 * so that head + 1 is this entry's and the heads read are the heads written over.
 */
export function append(
  q: Queries,
  folderId: FolderId,
  deviceId: DeviceId,
  deviceSeq: number,
  envelope: Uint8Array,
  claims: readonly HeadClaim[] = [],
): AppendIfResult {
  checkFolderId(folderId);
  checkDeviceId(deviceId);
  checkSeq(deviceSeq, "deviceSeq");
  checkBytes(envelope, "envelope");
  const folder = q.requireFolder(folderId);
  const existing = q.logEntryByDeviceSeq.get(folderId, deviceId, deviceSeq);
  if (existing !== undefined) {
    // A retry whose answer was lost carries the same bytes; anything else reuses a number.
    if (existing.envelope.equals(envelope)) return { seq: existing.seq, duplicate: true };
    throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used for other bytes`);
  }
  const pruned = q.prunedDeviceSeq.get(folderId, deviceId)?.device_seq ?? -1;
  if (deviceSeq <= pruned)
    throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used and pruned`);
  q.requireDevice(deviceId);
  const stale = claims
    .filter((c) => {
      const head = q.fileHead.get(folderId, buf(c.handle))?.token;
      return head ? !head.equals(c.base) : c.base.length !== 0;
    })
    .map((c) => c.handle.slice());
  if (stale.length > 0) return { stale };
  for (const c of claims) {
    if (c.next.length === 0) q.deleteFileHead.run(folderId, buf(c.handle));
    else q.setFileHead.run(folderId, buf(c.handle), buf(c.next));
  }
  const seq = folder.head_seq + 1;
  q.insertLogEntry.run(folderId, seq, deviceId, deviceSeq, buf(envelope));
  q.setHeadSeq.run(seq, folderId);
  return { seq, duplicate: false };
}

/** MetaStore.readLog; to run in one read transaction. */
/** The seq of the first entry after `afterSeq` (its size query reads no envelope). */
export function firstSeqAfter(
  q: Queries,
  folderId: FolderId,
  afterSeq: number,
): number | undefined {
  checkFolderId(folderId);
  checkSeq(afterSeq, "afterSeq");
  q.requireFolder(folderId);
  for (const { seq } of q.logSizes.iterate(folderId, afterSeq, 1)) return seq;
  return undefined;
}

export function read(
  q: Queries,
  folderId: FolderId,
  afterSeq: number,
  limit: number,
  maxBytes: number,
): LogEntry[] {
  checkFolderId(folderId);
  checkSeq(afterSeq, "afterSeq");
  checkCount(limit, "limit");
  checkCount(maxBytes, "maxBytes");
  q.requireFolder(folderId);
  // Size the page first, so that no envelope is loaded only to be left out of it.
  let last = afterSeq;
  let bytes = 0;
  for (const { seq, size } of q.logSizes.iterate(folderId, afterSeq, limit)) {
    if (last !== afterSeq && bytes + size > maxBytes) break;
    bytes += size;
    last = seq;
  }
  if (last === afterSeq) return [];
  return q.logRange
    .all(folderId, afterSeq, last)
    .map((r) => ({ seq: r.seq, envelope: ownBytes(r.envelope) }));
}

/** MetaStore.putSnapshot. */
export function putSnapshot(
  q: Queries,
  folderId: FolderId,
  epoch: number,
  coversSeq: number,
  ciphertext: Uint8Array,
): void {
  checkFolderId(folderId);
  checkEpoch(epoch);
  checkSeq(coversSeq, "coversSeq");
  checkBytes(ciphertext, "ciphertext");
  // Beyond the head, a snapshot would let pruning drop entries it does not hold.
  checkNotBeyondHead(coversSeq, "coversSeq", q.requireFolder(folderId).head_seq);
  q.putSnapshot.run(folderId, epoch, coversSeq, buf(ciphertext));
}

/** MetaStore.snapshot. */
export function snapshot(q: Queries, folderId: FolderId): SnapshotRecord | undefined {
  checkFolderId(folderId);
  const row = q.snapshot.get(folderId);
  if (row === undefined) return undefined;
  return { epoch: row.epoch, coversSeq: row.covers_seq, ciphertext: ownBytes(row.ciphertext) };
}

/** MetaStore.ack. */
export function ack(
  q: Queries,
  folderId: FolderId,
  deviceId: DeviceId,
  seq: number,
  now: number,
): void {
  checkFolderId(folderId);
  checkDeviceId(deviceId);
  checkSeq(seq, "seq");
  checkNotBeyondHead(seq, "seq", q.requireFolder(folderId).head_seq);
  q.requireDevice(deviceId);
  q.ack.run(folderId, deviceId, seq, now);
}

/** MetaStore.acks. */
export function acks(q: Queries, folderId: FolderId): Map<DeviceId, number> {
  checkFolderId(folderId);
  const out = new Map<DeviceId, number>();
  for (const r of q.acks.iterate(folderId)) out.set(r.device_id as DeviceId, r.seq);
  return out;
}

/** MetaStore.pruneLog; to run in an IMMEDIATE transaction. */
export function prune(q: Queries, folderId: FolderId, silentBefore: number): number {
  checkFolderId(folderId);
  q.requireFolder(folderId);
  const covers = q.snapshotCoversSeq.get(folderId)?.covers_seq ?? 0;
  // null when no member has a device heard from since `silentBefore`: then only the snapshot
  // bounds what is still needed.
  const low = q.minMemberAck.get(folderId, silentBefore)?.low ?? null;
  const upTo = low === null ? covers : Math.min(low, covers);
  if (upTo <= 0) return 0;
  // Remembered before the rows go: append's dedupe can no longer see those device seqs.
  q.recordPrunedDeviceSeqs.run(folderId, upTo);
  return q.deleteLogUpTo.run(folderId, upTo).changes;
}
