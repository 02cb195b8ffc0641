/** The SQL of SqliteMetaStore: its prepared statements and the row shapes they return. */
import type Database from "better-sqlite3";
import type { DeviceId, FolderId } from "@weft/crypto";
import { notFound } from "./checks.js";
import type {
  Account,
  DeviceRecord,
  InviteRecord,
  RefreshTokenRecord,
  Role,
} from "./meta-store.js";

/** A row of `accounts`. */
export type AccountRow = { id: string; user: string; password_hash: string; created: number };
/** A row of `devices`. */
export type DeviceRow = {
  device_id: string;
  account_id: string;
  sign_public_key: Buffer;
  box_public_key: Buffer;
  created: number;
  name: string | null;
  removed: number | null;
};
/** A row of `refresh_tokens`. */
export type RefreshTokenRow = {
  token_hash: string;
  family: string;
  account_id: string;
  device_id: string | null;
  expires: number;
  used_at: number | null;
  revoked: number;
};
/** A row of `folders`. */
export type FolderRow = {
  folder_id: string;
  epoch: number;
  head_seq: number;
  created: number;
  rotation_due: number;
  meta: string | null;
};
/** A row of `invites`. */
export type InviteRow = {
  id: string;
  folder_id: string;
  role: string;
  created_by: string;
  expires: number;
  used_by: string | null;
  revoked: number;
  wrapped_key: Buffer;
  epoch: number;
};
/** What the dedupe of an append compares against. */
export type LogDedupeRow = { seq: number; envelope: Buffer };

type Db = Database.Database;
/** Spelled out per statement: the declaration of an exported class cannot name the inferred type. */
type Stmt<P extends unknown[], R = unknown> = Database.Statement<P, R>;

/**
 * Every statement the store runs, prepared once per open file: better-sqlite3 statements are
 * reusable, and preparing them up front also proves at open that the schema is the expected one.
 */
export class Queries {
  readonly insertAccount: Stmt<[string, string, string, number]>;
  readonly accountByUser: Stmt<[string], AccountRow>;
  readonly accountById: Stmt<[string], AccountRow>;
  readonly setPasswordHash: Stmt<[string, string]>;

  readonly insertDevice: Stmt<[string, string, Buffer, Buffer, number]>;
  readonly device: Stmt<[string], DeviceRow>;
  readonly devicesOf: Stmt<[string], DeviceRow>;

  readonly insertRefreshToken: Stmt<[string, string, string, string | null, number]>;
  readonly refreshToken: Stmt<[string], RefreshTokenRow>;
  readonly markRefreshTokenUsed: Stmt<[number, string]>;
  readonly revokeRefreshFamily: Stmt<[number, string]>;
  readonly revokeRefreshTokensOf: Stmt<[number, string]>;
  readonly revokedFamiliesSince: Stmt<[number], { family: string; revoked_at: number }>;

  readonly insertFolder: Stmt<[string, number, string | null]>;
  readonly folder: Stmt<[string], FolderRow>;
  readonly foldersOf: Stmt<
    [string],
    { folder_id: string; role: string; epoch: number; head_seq: number }
  >;
  readonly setMember: Stmt<[string, string, string]>;
  readonly removeMember: Stmt<[string, string]>;
  readonly role: Stmt<[string, string], { role: string }>;
  readonly members: Stmt<[string], { account_id: string; user: string; role: string }>;
  readonly memberDeviceKey: Stmt<[string, string], { sign_public_key: Buffer }>;
  readonly setEpoch: Stmt<[number, string]>;

  readonly putWrappedKey: Stmt<[string, string, number, Buffer]>;
  readonly wrappedKeys: Stmt<[string, string], { epoch: number; blob: Buffer }>;

  readonly insertInvite: Stmt<[string, string, string, string, number, Buffer, number]>;
  readonly invite: Stmt<[string], InviteRow>;
  readonly useInvite: Stmt<[string, string]>;
  readonly revokeInvite: Stmt<[string]>;

  readonly logEntryByDeviceSeq: Stmt<[string, string, number], LogDedupeRow>;
  readonly prunedDeviceSeq: Stmt<[string, string], { device_seq: number }>;
  readonly insertLogEntry: Stmt<[string, number, string, number, Buffer]>;
  readonly setHeadSeq: Stmt<[number, string]>;
  readonly fileHead: Stmt<[string, Buffer], { token: Buffer }>;
  readonly setFileHead: Stmt<[string, Buffer, Buffer]>;
  readonly deleteFileHead: Stmt<[string, Buffer]>;
  readonly logSizes: Stmt<[string, number, number], { seq: number; size: number }>;
  readonly logRange: Stmt<[string, number, number], { seq: number; envelope: Buffer }>;
  readonly putSnapshot: Stmt<[string, number, number, Buffer]>;
  readonly snapshot: Stmt<[string], { epoch: number; covers_seq: number; ciphertext: Buffer }>;
  readonly snapshotCoversSeq: Stmt<[string], { covers_seq: number }>;
  readonly ack: Stmt<[string, string, number, number]>;
  readonly acks: Stmt<[string], { device_id: string; seq: number }>;
  readonly minMemberAck: Stmt<[string, number], { low: number | null }>;
  readonly recordPrunedDeviceSeqs: Stmt<[string, number]>;
  readonly deleteLogUpTo: Stmt<[string, number]>;

  constructor(db: Db) {
    this.insertAccount = db.prepare(
      "INSERT INTO accounts (id, user, password_hash, created) VALUES (?, ?, ?, ?)",
    );
    this.accountByUser = db.prepare("SELECT * FROM accounts WHERE user = ?");
    this.accountById = db.prepare("SELECT * FROM accounts WHERE id = ?");
    this.setPasswordHash = db.prepare("UPDATE accounts SET password_hash = ? WHERE id = ?");

    this.insertDevice = db.prepare(
      "INSERT INTO devices (device_id, account_id, sign_public_key, box_public_key, created) " +
        "VALUES (?, ?, ?, ?, ?)",
    );
    this.device = db.prepare("SELECT * FROM devices WHERE device_id = ?");
    this.devicesOf = db.prepare(
      "SELECT * FROM devices WHERE account_id = ? ORDER BY created, device_id",
    );

    this.insertRefreshToken = db.prepare(
      "INSERT INTO refresh_tokens (token_hash, family, account_id, device_id, expires) " +
        "VALUES (?, ?, ?, ?, ?)",
    );
    this.refreshToken = db.prepare("SELECT * FROM refresh_tokens WHERE token_hash = ?");
    // coalesce keeps the first use: a replay must not overwrite when the token was spent.
    this.markRefreshTokenUsed = db.prepare(
      "UPDATE refresh_tokens SET used_at = coalesce(used_at, ?) WHERE token_hash = ?",
    );
    // coalesce keeps the first revocation: a second logout must not move it later.
    this.revokeRefreshFamily = db.prepare(
      "UPDATE refresh_tokens SET revoked = 1, revoked_at = coalesce(revoked_at, ?) WHERE family = ?",
    );
    this.revokeRefreshTokensOf = db.prepare(
      "UPDATE refresh_tokens SET revoked = 1, revoked_at = coalesce(revoked_at, ?) " +
        "WHERE account_id = ?",
    );
    this.revokedFamiliesSince = db.prepare(
      "SELECT family, min(revoked_at) AS revoked_at FROM refresh_tokens " +
        "WHERE revoked_at >= ? GROUP BY family",
    );

    this.insertFolder = db.prepare(
      "INSERT INTO folders (folder_id, created, meta) VALUES (?, ?, ?)",
    );
    this.folder = db.prepare("SELECT * FROM folders WHERE folder_id = ?");
    this.foldersOf = db.prepare(
      "SELECT f.folder_id, m.role, f.epoch, f.head_seq FROM members m " +
        "JOIN folders f ON f.folder_id = m.folder_id WHERE m.account_id = ? ORDER BY f.folder_id",
    );
    this.setMember = db.prepare(
      "INSERT INTO members (folder_id, account_id, role) VALUES (?, ?, ?) " +
        "ON CONFLICT (folder_id, account_id) DO UPDATE SET role = excluded.role",
    );
    this.removeMember = db.prepare("DELETE FROM members WHERE folder_id = ? AND account_id = ?");
    this.role = db.prepare("SELECT role FROM members WHERE folder_id = ? AND account_id = ?");
    this.members = db.prepare(
      "SELECT m.account_id, a.user, m.role FROM members m " +
        "JOIN accounts a ON a.id = m.account_id WHERE m.folder_id = ? ORDER BY a.user",
    );
    this.memberDeviceKey = db.prepare(
      "SELECT d.sign_public_key FROM devices d " +
        "JOIN members m ON m.account_id = d.account_id AND m.folder_id = ? " +
        "WHERE d.device_id = ? AND d.removed IS NULL",
    );
    this.setEpoch = db.prepare("UPDATE folders SET epoch = ? WHERE folder_id = ?");

    this.putWrappedKey = db.prepare(
      // Never replaced: a key row once stored is what that device was given for that epoch.
      "INSERT INTO wrapped_keys (folder_id, device_id, epoch, blob) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (folder_id, device_id, epoch) DO NOTHING",
    );
    this.wrappedKeys = db.prepare(
      "SELECT epoch, blob FROM wrapped_keys WHERE folder_id = ? AND device_id = ? ORDER BY epoch",
    );

    this.insertInvite = db.prepare(
      "INSERT INTO invites (id, folder_id, role, created_by, expires, wrapped_key, epoch) " +
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.invite = db.prepare("SELECT * FROM invites WHERE id = ?");
    // One statement, so that of two racing redemptions exactly one changes the row.
    this.useInvite = db.prepare(
      "UPDATE invites SET used_by = ? WHERE id = ? AND used_by IS NULL AND revoked = 0",
    );
    this.revokeInvite = db.prepare("UPDATE invites SET revoked = 1 WHERE id = ?");

    this.logEntryByDeviceSeq = db.prepare(
      "SELECT seq, envelope FROM log WHERE folder_id = ? AND device_id = ? AND device_seq = ?",
    );
    this.prunedDeviceSeq = db.prepare(
      "SELECT device_seq FROM pruned_device_seqs WHERE folder_id = ? AND device_id = ?",
    );
    this.insertLogEntry = db.prepare(
      "INSERT INTO log (folder_id, seq, device_id, device_seq, envelope) VALUES (?, ?, ?, ?, ?)",
    );
    this.setHeadSeq = db.prepare("UPDATE folders SET head_seq = ? WHERE folder_id = ?");
    this.fileHead = db.prepare("SELECT token FROM file_heads WHERE folder_id = ? AND handle = ?");
    this.setFileHead = db.prepare(
      "INSERT INTO file_heads (folder_id, handle, token) VALUES (?, ?, ?) " +
        "ON CONFLICT (folder_id, handle) DO UPDATE SET token = excluded.token",
    );
    this.deleteFileHead = db.prepare("DELETE FROM file_heads WHERE folder_id = ? AND handle = ?");
    // length() of a BLOB reads its size from the record header, not its bytes: a page of the
    // log is sized before any envelope is loaded.
    this.logSizes = db.prepare(
      "SELECT seq, length(envelope) AS size FROM log WHERE folder_id = ? AND seq > ? " +
        "ORDER BY seq LIMIT ?",
    );
    this.logRange = db.prepare(
      "SELECT seq, envelope FROM log WHERE folder_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
    );
    this.putSnapshot = db.prepare(
      "INSERT INTO snapshots (folder_id, epoch, covers_seq, ciphertext) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (folder_id) DO UPDATE SET epoch = excluded.epoch, " +
        "covers_seq = excluded.covers_seq, ciphertext = excluded.ciphertext " +
        "WHERE excluded.covers_seq >= snapshots.covers_seq",
    );
    this.snapshot = db.prepare(
      "SELECT epoch, covers_seq, ciphertext FROM snapshots WHERE folder_id = ?",
    );
    this.snapshotCoversSeq = db.prepare("SELECT covers_seq FROM snapshots WHERE folder_id = ?");
    this.ack = db.prepare(
      "INSERT INTO acks (folder_id, device_id, seq, heard) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (folder_id, device_id) DO UPDATE " +
        "SET seq = max(seq, excluded.seq), heard = max(heard, excluded.heard)",
    );
    this.acks = db.prepare(
      "SELECT device_id, seq FROM acks WHERE folder_id = ? ORDER BY device_id",
    );
    // NULL when the folder has no member device; a member device without an ack counts as 0.
    // A removed device never acks again: it holds nothing back.
    this.minMemberAck = db.prepare(
      "SELECT min(coalesce(a.seq, 0)) AS low FROM members m " +
        "JOIN devices d ON d.account_id = m.account_id AND d.removed IS NULL " +
        "LEFT JOIN acks a ON a.folder_id = m.folder_id AND a.device_id = d.device_id " +
        // A device never heard from in the folder counts from its registration.
        "WHERE m.folder_id = ? AND coalesce(a.heard, d.created) >= ?",
    );
    // `WHERE` is required before an upsert's ON CONFLICT when the rows come from a SELECT.
    this.recordPrunedDeviceSeqs = db.prepare(
      "INSERT INTO pruned_device_seqs (folder_id, device_id, device_seq) " +
        "SELECT folder_id, device_id, max(device_seq) FROM log WHERE folder_id = ? AND seq <= ? " +
        "GROUP BY device_id " +
        "ON CONFLICT (folder_id, device_id) DO UPDATE " +
        "SET device_seq = max(device_seq, excluded.device_seq)",
    );
    this.deleteLogUpTo = db.prepare("DELETE FROM log WHERE folder_id = ? AND seq <= ?");
  }

  /** The account's row. @throws WeftError NOT_FOUND */
  requireAccount(id: string): AccountRow {
    const row = this.accountById.get(id);
    if (row === undefined) throw notFound("account");
    return row;
  }

  /** The folder's row. @throws WeftError NOT_FOUND */
  requireFolder(folderId: string): FolderRow {
    const row = this.folder.get(folderId);
    if (row === undefined) throw notFound("folder");
    return row;
  }

  /** The device's row. @throws WeftError NOT_FOUND */
  requireDevice(deviceId: string): DeviceRow {
    const row = this.device.get(deviceId);
    if (row === undefined) throw notFound("device");
    return row;
  }
}

/** The {@link Account} of a row. */
export function toAccount(row: AccountRow): Account {
  return { id: row.id, user: row.user, passwordHash: row.password_hash, created: row.created };
}

/** The {@link DeviceRecord} of a row. */
export function toDevice(row: DeviceRow): DeviceRecord {
  return {
    deviceId: row.device_id as DeviceId,
    accountId: row.account_id,
    signPublicKey: ownBytes(row.sign_public_key),
    boxPublicKey: ownBytes(row.box_public_key),
    created: row.created,
    ...(row.name === null ? {} : { name: row.name }),
    ...(row.removed === null ? {} : { removed: row.removed }),
  };
}

/** The {@link RefreshTokenRecord} of a row. */
export function toRefreshToken(row: RefreshTokenRow): RefreshTokenRecord {
  return {
    tokenHash: row.token_hash,
    family: row.family,
    accountId: row.account_id,
    deviceId: row.device_id as DeviceId | null,
    expires: row.expires,
    usedAt: row.used_at,
    revoked: row.revoked === 1,
  };
}

/** The {@link InviteRecord} of a row. */
export function toInvite(row: InviteRow): InviteRecord {
  return {
    id: row.id,
    folderId: row.folder_id as FolderId,
    role: row.role as Exclude<Role, "owner">,
    createdBy: row.created_by,
    expires: row.expires,
    usedBy: row.used_by,
    revoked: row.revoked === 1,
    wrappedKey: ownBytes(row.wrapped_key),
    epoch: row.epoch,
  };
}

/** A Buffer over `data`'s bytes without copying (SQLite copies them when it binds). */
export function buf(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A plain Uint8Array with `data`'s bytes that shares memory with nothing else: better-sqlite3
 * gives each value its own allocation, handed over as is; anything else is copied, so a caller
 * can never reach other bytes through `.buffer`.
 */
export function ownBytes(data: Buffer): Uint8Array {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.byteLength)
    return new Uint8Array(data.buffer, 0, data.byteLength);
  return new Uint8Array(data);
}
