/** Members, devices and key epochs of SqliteMetaStore: who holds a folder's key, announced epochs, removed devices. */
import type Database from "better-sqlite3";
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
} from "./checks.js";
import type { EpochAnnouncement, FolderMemberDevices, Role } from "./meta-store.js";
import { type DeviceRow, type Queries, buf, toDevice } from "./sqlite-queries.js";

type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

/** The statements of this file, prepared once per open file. */
export class MemberQueries {
  readonly memberDevices: Stmt<[string], DeviceRow & { key_epoch: number }>;
  readonly insertEpoch: Stmt<[string, number, string, string, number]>;
  readonly epochs: Stmt<
    [string, number],
    { epoch: number; signer: string; record: string; created: number }
  >;
  readonly setEpochPublished: Stmt<[number, string]>;
  readonly setRotationDue: Stmt<[string]>;
  readonly setDeviceName: Stmt<[string | null, string]>;
  readonly removeDevice: Stmt<[number, string]>;
  readonly revokeDeviceTokens: Stmt<[number, string]>;
  readonly foldersKeyedFor: Stmt<[string], { folder_id: string }>;

  constructor(db: Database.Database) {
    this.memberDevices = db.prepare(
      "SELECT d.*, max(k.epoch) AS key_epoch FROM members m " +
        "JOIN devices d ON d.account_id = m.account_id AND d.removed IS NULL " +
        "JOIN wrapped_keys k ON k.folder_id = m.folder_id AND k.device_id = d.device_id " +
        "WHERE m.folder_id = ? GROUP BY d.device_id ORDER BY d.created, d.device_id",
    );
    this.insertEpoch = db.prepare(
      "INSERT INTO epochs (folder_id, epoch, signer, record, created) VALUES (?, ?, ?, ?, ?)",
    );
    this.epochs = db.prepare(
      "SELECT epoch, signer, record, created FROM epochs WHERE folder_id = ? AND epoch > ? " +
        "ORDER BY epoch",
    );
    this.setEpochPublished = db.prepare(
      "UPDATE folders SET epoch = ?, rotation_due = 0 WHERE folder_id = ?",
    );
    this.setRotationDue = db.prepare("UPDATE folders SET rotation_due = 1 WHERE folder_id = ?");
    this.setDeviceName = db.prepare("UPDATE devices SET name = ? WHERE device_id = ?");
    this.removeDevice = db.prepare(
      "UPDATE devices SET removed = ? WHERE device_id = ? AND removed IS NULL",
    );
    this.revokeDeviceTokens = db.prepare(
      "UPDATE refresh_tokens SET revoked = 1, revoked_at = coalesce(revoked_at, ?) " +
        "WHERE device_id = ?",
    );
    // The folders whose key the device holds and where its account is still a member.
    this.foldersKeyedFor = db.prepare(
      "SELECT DISTINCT k.folder_id FROM wrapped_keys k " +
        "JOIN devices d ON d.device_id = k.device_id " +
        "JOIN members m ON m.folder_id = k.folder_id AND m.account_id = d.account_id " +
        "WHERE k.device_id = ? ORDER BY k.folder_id",
    );
  }
}

// Each function runs inside the store's transaction and error wrapping; see MetaStore for the
// contract of each.

/** MetaStore.memberDevices. */
export function memberDevices(
  q: Queries,
  mq: MemberQueries,
  folderId: FolderId,
): FolderMemberDevices[] {
  checkFolderId(folderId);
  const devices = mq.memberDevices.all(folderId);
  return q.members.all(folderId).map((m) => ({
    accountId: m.account_id,
    user: m.user,
    role: m.role as Role,
    devices: devices
      .filter((d) => d.account_id === m.account_id)
      .map((d) => ({ ...toDevice(d), keyEpoch: d.key_epoch })),
  }));
}

/** MetaStore.publishEpoch; in an IMMEDIATE transaction, so that two owners cannot both start the epoch. */
export function publishEpoch(
  q: Queries,
  mq: MemberQueries,
  now: number,
  folderId: FolderId,
  epoch: number,
  signer: DeviceId,
  record: string,
  keys: ReadonlyMap<DeviceId, Uint8Array>,
): void {
  checkFolderId(folderId);
  checkEpoch(epoch);
  checkDeviceId(signer);
  checkText(record, "record");
  const current = q.requireFolder(folderId).epoch;
  if (epoch !== current + 1)
    throw new WeftError(
      "INVALID_ARGUMENT",
      `the next epoch of the folder is ${current + 1}, not ${epoch}`,
    );
  q.requireDevice(signer);
  mq.insertEpoch.run(folderId, epoch, signer, record, now);
  for (const [deviceId, blob] of keys) {
    checkDeviceId(deviceId);
    checkBytes(blob, "wrapped key");
    q.requireDevice(deviceId);
    if (q.putWrappedKey.run(folderId, deviceId, epoch, buf(blob)).changes === 0)
      throw new WeftError("ALREADY_EXISTS", `a key is already stored for ${deviceId}`);
  }
  mq.setEpochPublished.run(epoch, folderId);
}

/** MetaStore.epochAnnouncements. */
export function epochAnnouncements(
  mq: MemberQueries,
  folderId: FolderId,
  afterEpoch: number,
): EpochAnnouncement[] {
  checkFolderId(folderId);
  if (!Number.isSafeInteger(afterEpoch) || afterEpoch < -1)
    throw new WeftError("INVALID_ARGUMENT", "afterEpoch must be an integer");
  return mq.epochs.all(folderId, afterEpoch).map((r) => ({
    epoch: r.epoch,
    signer: r.signer as DeviceId,
    record: r.record,
    created: r.created,
  }));
}

/** MetaStore.setDeviceName. */
export function setDeviceName(
  q: Queries,
  mq: MemberQueries,
  deviceId: DeviceId,
  name: string | null,
): void {
  checkDeviceId(deviceId);
  if (name !== null) checkText(name, "name");
  q.requireDevice(deviceId);
  mq.setDeviceName.run(name, deviceId);
}

/** MetaStore.removeDevice; in an IMMEDIATE transaction. */
export function removeDevice(
  q: Queries,
  mq: MemberQueries,
  deviceId: DeviceId,
  at: number,
): FolderId[] {
  checkDeviceId(deviceId);
  checkTime(at, "at");
  if (q.device.get(deviceId) === undefined) throw notFound("device");
  if (mq.removeDevice.run(at, deviceId).changes === 0) return [];
  mq.revokeDeviceTokens.run(at, deviceId);
  const folders = mq.foldersKeyedFor.all(deviceId).map((r) => r.folder_id as FolderId);
  for (const folderId of folders) mq.setRotationDue.run(folderId);
  return folders;
}
