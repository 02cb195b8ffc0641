/** Shared SQL helpers of PgMetaStore: row shapes, row-to-record conversions, lookups that must find their row. */
import type { DeviceId, FolderId } from "@weft/crypto";
import { notFound } from "../checks.js";
import type {
  Account,
  DeviceRecord,
  InviteRecord,
  RefreshTokenRecord,
  Role,
} from "../meta-store.js";
import { ownBytes } from "../sqlite-queries.js";
import type { Db } from "./pg-db.js";

/** A row of `accounts`. */
export type AccountRow = { id: string; user_name: string; password_hash: string; created: number };
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
  revoked: boolean;
};
/** A row of `folders`. */
export type FolderRow = {
  folder_id: string;
  epoch: number;
  head_seq: number;
  created: number;
  rotation_due: boolean;
};
/** A row of `invites`. */
export type InviteRow = {
  id: string;
  folder_id: string;
  role: string;
  created_by: string;
  expires: number;
  used_by: string | null;
  revoked: boolean;
  wrapped_key: Buffer;
  epoch: number;
};

/** The first row of a query, or undefined. */
export async function one<R extends object>(
  db: Db,
  sql: string,
  params: unknown[],
): Promise<R | undefined> {
  return (await db.query<R>(sql, params)).rows[0];
}

/** Every row of a query. */
export async function all<R extends object>(db: Db, sql: string, params: unknown[]): Promise<R[]> {
  return (await db.query<R>(sql, params)).rows;
}

/** How many rows a statement changed. */
export async function changes(db: Db, sql: string, params: unknown[]): Promise<number> {
  return (await db.query(sql, params)).rowCount ?? 0;
}

/**
 * The folder's row; `lock` takes its row lock until the transaction ends (`FOR UPDATE`: the
 * folder's appends, prunes and epoch changes run one at a time, across relays).
 * @throws WeftError NOT_FOUND
 */
export async function requireFolder(db: Db, folderId: string, lock = false): Promise<FolderRow> {
  const row = await one<FolderRow>(
    db,
    `SELECT * FROM folders WHERE folder_id = $1${lock ? " FOR UPDATE" : ""}`,
    [folderId],
  );
  if (row === undefined) throw notFound("folder");
  return row;
}

/** The account's row. @throws WeftError NOT_FOUND */
export async function requireAccount(db: Db, id: string): Promise<AccountRow> {
  const row = await one<AccountRow>(db, "SELECT * FROM accounts WHERE id = $1", [id]);
  if (row === undefined) throw notFound("account");
  return row;
}

/** The device's row. @throws WeftError NOT_FOUND */
export async function requireDevice(db: Db, deviceId: string): Promise<DeviceRow> {
  const row = await one<DeviceRow>(db, "SELECT * FROM devices WHERE device_id = $1", [deviceId]);
  if (row === undefined) throw notFound("device");
  return row;
}

/** The {@link Account} of a row. */
export function toAccount(row: AccountRow): Account {
  return { id: row.id, user: row.user_name, passwordHash: row.password_hash, created: row.created };
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
    revoked: row.revoked,
  };
}

/** The {@link InviteRecord} of a row, under the id the caller gave (the row holds its hash). */
export function toInvite(row: InviteRow, id: string): InviteRecord {
  return {
    id,
    folderId: row.folder_id as FolderId,
    role: row.role as Exclude<Role, "owner">,
    createdBy: row.created_by,
    expires: row.expires,
    usedBy: row.used_by,
    revoked: row.revoked,
    wrappedKey: ownBytes(row.wrapped_key),
    epoch: row.epoch,
  };
}
