/** Members, devices and key epochs of PgMetaStore: who holds a folder's key, announced epochs, removed devices. */
import { WeftError } from "@weft/core";
import type { DeviceId, FolderId } from "@weft/crypto";
import {
  checkBytes,
  checkDeviceId,
  checkEpoch,
  checkFolderId,
  checkText,
  checkTime,
  notFound,
} from "../checks.js";
import type { EpochAnnouncement, FolderMemberDevices, Role } from "../meta-store.js";
import { buf } from "../sqlite-queries.js";
import type { Db } from "./pg-db.js";
import {
  type DeviceRow,
  all,
  changes,
  requireDevice,
  requireFolder,
  toDevice,
} from "./pg-queries.js";

// Each function runs inside the store's error wrapping (and, where it says so, a transaction);
// see MetaStore for the contract of each.

/** MetaStore.memberDevices, in a REPEATABLE READ transaction (two queries, one state). */
export async function memberDevices(db: Db, folderId: FolderId): Promise<FolderMemberDevices[]> {
  checkFolderId(folderId);
  const devices = await all<DeviceRow & { key_epoch: number }>(
    db,
    "SELECT d.*, max(k.epoch) AS key_epoch FROM members m " +
      "JOIN devices d ON d.account_id = m.account_id AND d.removed IS NULL " +
      "JOIN wrapped_keys k ON k.folder_id = m.folder_id AND k.device_id = d.device_id " +
      "WHERE m.folder_id = $1 GROUP BY d.device_id ORDER BY d.created, d.device_id",
    [folderId],
  );
  const members = await all<{ account_id: string; user_name: string; role: string }>(
    db,
    "SELECT m.account_id, a.user_name, m.role FROM members m " +
      "JOIN accounts a ON a.id = m.account_id WHERE m.folder_id = $1 ORDER BY a.user_name",
    [folderId],
  );
  return members.map((m) => ({
    accountId: m.account_id,
    user: m.user_name,
    role: m.role as Role,
    devices: devices
      .filter((d) => d.account_id === m.account_id)
      .map((d) => ({ ...toDevice(d), keyEpoch: d.key_epoch })),
  }));
}

/**
 * MetaStore.publishEpoch, in a transaction holding the folder's row lock: of two owners
 * starting the same epoch, the second sees the first's and is refused.
 */
export async function publishEpoch(
  db: Db,
  now: number,
  folderId: FolderId,
  epoch: number,
  signer: DeviceId,
  record: string,
  keys: ReadonlyMap<DeviceId, Uint8Array>,
): Promise<void> {
  checkFolderId(folderId);
  checkEpoch(epoch);
  checkDeviceId(signer);
  checkText(record, "record");
  const current = (await requireFolder(db, folderId, true)).epoch;
  if (epoch !== current + 1)
    throw new WeftError(
      "INVALID_ARGUMENT",
      `the next epoch of the folder is ${current + 1}, not ${epoch}`,
    );
  await requireDevice(db, signer);
  await db.query(
    "INSERT INTO epochs (folder_id, epoch, signer, record, created) VALUES ($1, $2, $3, $4, $5)",
    [folderId, epoch, signer, record, now],
  );
  for (const [deviceId, blob] of keys) {
    checkDeviceId(deviceId);
    checkBytes(blob, "wrapped key");
    await requireDevice(db, deviceId);
    const stored = await changes(
      db,
      // Never replaced: a key row once stored is what that device was given for that epoch.
      "INSERT INTO wrapped_keys (folder_id, device_id, epoch, blob) VALUES ($1, $2, $3, $4) " +
        "ON CONFLICT (folder_id, device_id, epoch) DO NOTHING",
      [folderId, deviceId, epoch, buf(blob)],
    );
    if (stored === 0)
      throw new WeftError("ALREADY_EXISTS", `a key is already stored for ${deviceId}`);
  }
  await db.query("UPDATE folders SET epoch = $1, rotation_due = false WHERE folder_id = $2", [
    epoch,
    folderId,
  ]);
}

/** MetaStore.epochAnnouncements. */
export async function epochAnnouncements(
  db: Db,
  folderId: FolderId,
  afterEpoch: number,
): Promise<EpochAnnouncement[]> {
  checkFolderId(folderId);
  if (!Number.isSafeInteger(afterEpoch) || afterEpoch < -1)
    throw new WeftError("INVALID_ARGUMENT", "afterEpoch must be an integer");
  const rows = await all<{ epoch: number; signer: string; record: string; created: number }>(
    db,
    "SELECT epoch, signer, record, created FROM epochs WHERE folder_id = $1 AND epoch > $2 " +
      "ORDER BY epoch",
    [folderId, afterEpoch],
  );
  return rows.map((r) => ({
    epoch: r.epoch,
    signer: r.signer as DeviceId,
    record: r.record,
    created: r.created,
  }));
}

/** MetaStore.setDeviceName. */
export async function setDeviceName(
  db: Db,
  deviceId: DeviceId,
  name: string | null,
): Promise<void> {
  checkDeviceId(deviceId);
  if (name !== null) checkText(name, "name");
  if (
    (await changes(db, "UPDATE devices SET name = $1 WHERE device_id = $2", [name, deviceId])) === 0
  )
    throw notFound("device");
}

/** MetaStore.removeDevice, in a transaction: the removal, its tokens and the rotations due go together. */
export async function removeDevice(db: Db, deviceId: DeviceId, at: number): Promise<FolderId[]> {
  checkDeviceId(deviceId);
  checkTime(at, "at");
  await requireDevice(db, deviceId);
  // One statement: of two relays removing the device at once, one changes the row.
  const removed = await changes(
    db,
    "UPDATE devices SET removed = $1 WHERE device_id = $2 AND removed IS NULL",
    [at, deviceId],
  );
  if (removed === 0) return [];
  await db.query(
    "UPDATE refresh_tokens SET revoked = true, revoked_at = coalesce(revoked_at, $1) " +
      "WHERE device_id = $2",
    [at, deviceId],
  );
  // The folders whose key the device holds and where its account is still a member.
  const folders = await all<{ folder_id: string }>(
    db,
    "UPDATE folders SET rotation_due = true WHERE folder_id IN (" +
      "SELECT k.folder_id FROM wrapped_keys k " +
      "JOIN devices d ON d.device_id = k.device_id " +
      "JOIN members m ON m.folder_id = k.folder_id AND m.account_id = d.account_id " +
      "WHERE k.device_id = $1) RETURNING folder_id",
    [deviceId],
  );
  return folders.map((r) => r.folder_id as FolderId).sort();
}
