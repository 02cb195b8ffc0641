/** PgMetaStore: the relay's MetaStore in PostgreSQL (pg, loaded on demand), shared by several relays. */
import { WeftError } from "@weft/core";
import type { HeadClaim } from "@weft/core";
import type { AppendIfResult } from "@weft/core/server";
import type { DeviceId, FolderId } from "@weft/crypto";
import type { Pool } from "pg";
import {
  checkBytes,
  checkDeviceId,
  checkEpoch,
  checkEpochIncreases,
  checkFolderId,
  checkRole,
  checkText,
} from "../checks.js";
import type {
  AccountFolder,
  EpochAnnouncement,
  FolderMember,
  FolderMemberDevices,
  FolderRecord,
  FolderUsage,
  LogEntry,
  MetaStore,
  Role,
  SnapshotRecord,
  WrappedKey,
} from "../meta-store.js";
import { buf, ownBytes } from "../sqlite-queries.js";
import { createPool, describeDatabase, migrate, pgError } from "./pg-db.js";
import { PgMetaStoreBase } from "./pg-base.js";
import * as log from "./pg-log.js";
import * as members from "./pg-members.js";
import { all, changes, one, requireAccount, requireDevice, requireFolder } from "./pg-queries.js";

/** Options of {@link openPgMetaStore}. */
export interface PgMetaStoreOptions {
  /** The clock for `created` times and when acks were heard (ms since the epoch); `Date.now` by default. */
  now?: () => number;
  /** Apply pending migrations on open (default true; `weft relay migrate` does it on its own). */
  migrate?: boolean;
  /** Most connections the pool opens (default 10). */
  maxConnections?: number;
  /** Told of a pooled connection that broke while idle (the pool replaces it). */
  onError?: (error: Error) => void;
}

/**
 * A MetaStore in PostgreSQL, for several stateless relays sharing one database.
 *
 * - The per-folder log sequence is `folders.head_seq`, bumped in the append's transaction under
 *   the folder row's lock: appends to one folder are serialized across relays, seqs have no gap,
 *   and the dedupe on (folder, device, deviceSeq) sees a concurrent retry's entry.
 * - Other check-then-write operations are one statement (upserts, conditional updates) or a
 *   transaction that locks the folder row first; unique keys back them up as ALREADY_EXISTS.
 * - Errors: unique_violation is ALREADY_EXISTS, a foreign key violation NOT_FOUND, a lost
 *   connection STORAGE with the pg error as cause. No message carries the connection string.
 */
export class PgMetaStore extends PgMetaStoreBase implements MetaStore {
  /** Use {@link openPgMetaStore}. */
  constructor(
    pool: Pool,
    options: PgMetaStoreOptions,
    /** The database's URL without its password. */
    readonly database: string,
  ) {
    super(pool, options.now ?? Date.now);
  }

  async createFolder(folderId: FolderId, ownerAccountId: string, meta?: string): Promise<void> {
    checkFolderId(folderId);
    checkText(ownerAccountId, "account id");
    if (meta !== undefined) checkText(meta, "meta");
    await this.tx("createFolder", async (db) => {
      const n = await changes(
        db,
        "INSERT INTO folders (folder_id, created, meta) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [folderId, this.now(), meta ?? null],
      );
      if (n === 0) throw new WeftError("ALREADY_EXISTS", "that folder id is in use");
      await requireAccount(db, ownerAccountId); // a throw rolls the folder back
      await db.query("INSERT INTO members (folder_id, account_id, role) VALUES ($1, $2, 'owner')", [
        folderId,
        ownerAccountId,
      ]);
    });
  }

  async folder(folderId: FolderId): Promise<FolderRecord | undefined> {
    checkFolderId(folderId);
    const row = await this.run("folder", (db) =>
      one<{
        epoch: number;
        created: number;
        head_seq: number;
        rotation_due: boolean;
        meta: string | null;
      }>(
        db,
        "SELECT epoch, created, head_seq, rotation_due, meta FROM folders WHERE folder_id = $1",
        [folderId],
      ),
    );
    if (row === undefined) return undefined;
    return {
      folderId,
      epoch: row.epoch,
      created: row.created,
      headSeq: row.head_seq,
      ...(row.rotation_due ? { rotationDue: true as const } : {}),
      ...(row.meta !== null ? { meta: row.meta } : {}),
    };
  }

  async folderUsage(folderIds: readonly FolderId[]): Promise<Map<FolderId, FolderUsage>> {
    for (const id of folderIds) checkFolderId(id);
    const rows = await this.run("folderUsage", (db) =>
      all<{ folder_id: string; log_entries: number; log_bytes: number; snapshot_bytes: number }>(
        db,
        // octet_length of a stored bytea reads its size from the TOAST pointer, not the bytes.
        "SELECT f.folder_id, f.log_entries, f.log_bytes, " +
          "coalesce((SELECT octet_length(s.ciphertext) FROM snapshots s " +
          "WHERE s.folder_id = f.folder_id), 0) AS snapshot_bytes " +
          "FROM folders f WHERE f.folder_id = ANY($1::text[])",
        [[...folderIds]],
      ),
    );
    return new Map(
      rows.map((r) => [
        r.folder_id as FolderId,
        {
          logEntries: Number(r.log_entries),
          logBytes: Number(r.log_bytes),
          snapshotBytes: Number(r.snapshot_bytes),
        },
      ]),
    );
  }

  async foldersOf(accountId: string): Promise<AccountFolder[]> {
    checkText(accountId, "account id");
    const rows = await this.run("foldersOf", (db) =>
      all<{ folder_id: string; role: string; epoch: number; head_seq: number }>(
        db,
        "SELECT f.folder_id, m.role, f.epoch, f.head_seq FROM members m " +
          "JOIN folders f ON f.folder_id = m.folder_id WHERE m.account_id = $1 ORDER BY f.folder_id",
        [accountId],
      ),
    );
    return rows.map((r) => ({
      folderId: r.folder_id as FolderId,
      role: r.role as Role,
      epoch: r.epoch,
      headSeq: r.head_seq,
    }));
  }

  async setMember(folderId: FolderId, accountId: string, role: Role): Promise<void> {
    checkFolderId(folderId);
    checkText(accountId, "account id");
    checkRole(role, ["owner", "editor", "viewer"]);
    await this.run("setMember", async (db) => {
      await requireFolder(db, folderId);
      await requireAccount(db, accountId);
      await db.query(
        "INSERT INTO members (folder_id, account_id, role) VALUES ($1, $2, $3) " +
          "ON CONFLICT (folder_id, account_id) DO UPDATE SET role = excluded.role",
        [folderId, accountId, role],
      );
    });
  }

  async removeMember(folderId: FolderId, accountId: string): Promise<void> {
    checkFolderId(folderId);
    checkText(accountId, "account id");
    await this.tx("removeMember", async (db) => {
      const n = await changes(db, "DELETE FROM members WHERE folder_id = $1 AND account_id = $2", [
        folderId,
        accountId,
      ]);
      // A removed member holds the current key: the next one is owed.
      if (n > 0)
        await db.query("UPDATE folders SET rotation_due = true WHERE folder_id = $1", [folderId]);
    });
  }

  async role(folderId: FolderId, accountId: string): Promise<Role | undefined> {
    checkFolderId(folderId);
    checkText(accountId, "account id");
    const row = await this.run("role", (db) =>
      one<{ role: string }>(
        db,
        "SELECT role FROM members WHERE folder_id = $1 AND account_id = $2",
        [folderId, accountId],
      ),
    );
    return row?.role as Role | undefined;
  }

  async members(folderId: FolderId): Promise<FolderMember[]> {
    checkFolderId(folderId);
    const rows = await this.run("members", (db) =>
      all<{ account_id: string; user_name: string; role: string }>(
        db,
        "SELECT m.account_id, a.user_name, m.role FROM members m " +
          "JOIN accounts a ON a.id = m.account_id WHERE m.folder_id = $1 ORDER BY a.user_name",
        [folderId],
      ),
    );
    return rows.map((r) => ({ accountId: r.account_id, user: r.user_name, role: r.role as Role }));
  }

  memberDevices(folderId: FolderId): Promise<FolderMemberDevices[]> {
    return this.snap("memberDevices", (db) => members.memberDevices(db, folderId));
  }

  publishEpoch(
    folderId: FolderId,
    epoch: number,
    signer: DeviceId,
    record: string,
    keys: ReadonlyMap<DeviceId, Uint8Array>,
  ): Promise<void> {
    return this.tx("publishEpoch", (db) =>
      members.publishEpoch(db, this.now(), folderId, epoch, signer, record, keys),
    );
  }

  epochAnnouncements(folderId: FolderId, afterEpoch: number): Promise<EpochAnnouncement[]> {
    return this.run("epochAnnouncements", (db) =>
      members.epochAnnouncements(db, folderId, afterEpoch),
    );
  }

  setDeviceName(deviceId: DeviceId, name: string | null): Promise<void> {
    return this.run("setDeviceName", (db) => members.setDeviceName(db, deviceId, name));
  }

  removeDevice(deviceId: DeviceId, at: number): Promise<FolderId[]> {
    return this.tx("removeDevice", (db) => members.removeDevice(db, deviceId, at));
  }

  async memberDeviceKey(folderId: FolderId, deviceId: DeviceId): Promise<Uint8Array | undefined> {
    checkFolderId(folderId);
    checkDeviceId(deviceId);
    const row = await this.run("memberDeviceKey", (db) =>
      one<{ sign_public_key: Buffer }>(
        db,
        "SELECT d.sign_public_key FROM devices d " +
          "JOIN members m ON m.account_id = d.account_id AND m.folder_id = $1 " +
          "WHERE d.device_id = $2 AND d.removed IS NULL",
        [folderId, deviceId],
      ),
    );
    return row && ownBytes(row.sign_public_key);
  }

  async setEpoch(folderId: FolderId, epoch: number): Promise<void> {
    checkFolderId(folderId);
    checkEpoch(epoch);
    await this.tx("setEpoch", async (db) => {
      checkEpochIncreases(epoch, (await requireFolder(db, folderId, true)).epoch);
      await db.query("UPDATE folders SET epoch = $1 WHERE folder_id = $2", [epoch, folderId]);
    });
  }

  async putWrappedKey(
    folderId: FolderId,
    deviceId: DeviceId,
    epoch: number,
    blob: Uint8Array,
  ): Promise<void> {
    checkFolderId(folderId);
    checkDeviceId(deviceId);
    checkEpoch(epoch);
    checkBytes(blob, "blob");
    await this.run("putWrappedKey", async (db) => {
      await requireFolder(db, folderId);
      await requireDevice(db, deviceId);
      // Never replaced: an overwrite is how a planted key would take the real one's place.
      const n = await changes(
        db,
        "INSERT INTO wrapped_keys (folder_id, device_id, epoch, blob) VALUES ($1, $2, $3, $4) " +
          "ON CONFLICT (folder_id, device_id, epoch) DO NOTHING",
        [folderId, deviceId, epoch, buf(blob)],
      );
      if (n === 0)
        throw new WeftError(
          "ALREADY_EXISTS",
          `a key is already stored for device ${deviceId} at epoch ${epoch}`,
        );
    });
  }

  async wrappedKeys(folderId: FolderId, deviceId: DeviceId): Promise<WrappedKey[]> {
    checkFolderId(folderId);
    checkDeviceId(deviceId);
    const rows = await this.run("wrappedKeys", (db) =>
      all<{ epoch: number; blob: Buffer }>(
        db,
        "SELECT epoch, blob FROM wrapped_keys WHERE folder_id = $1 AND device_id = $2 ORDER BY epoch",
        [folderId, deviceId],
      ),
    );
    return rows.map((r) => ({ epoch: r.epoch, blob: ownBytes(r.blob) }));
  }

  append(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
  ): Promise<{ seq: number; duplicate: boolean }> {
    // One statement (weft_append, migration 5), its own transaction: no BEGIN nor COMMIT.
    return this.run("append", (db) => log.appendOne(db, folderId, deviceId, deviceSeq, envelope));
  }

  appendIf(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
    claims: readonly HeadClaim[],
  ): Promise<AppendIfResult> {
    return this.tx("appendIf", (db) =>
      log.append(db, folderId, deviceId, deviceSeq, envelope, claims),
    );
  }

  readLog(
    folderId: FolderId,
    afterSeq: number,
    limit: number,
    maxBytes: number,
  ): Promise<LogEntry[]> {
    return this.snap("readLog", (db) => log.read(db, folderId, afterSeq, limit, maxBytes));
  }

  firstSeqAfter(folderId: FolderId, afterSeq: number): Promise<number | undefined> {
    return this.run("firstSeqAfter", (db) => log.firstSeqAfter(db, folderId, afterSeq));
  }

  async headSeq(folderId: FolderId): Promise<number> {
    checkFolderId(folderId);
    return (await this.run("headSeq", (db) => requireFolder(db, folderId))).head_seq;
  }

  async headSeqs(folderIds: readonly FolderId[]): Promise<Map<FolderId, number>> {
    for (const id of folderIds) checkFolderId(id);
    const rows = await this.run("headSeqs", (db) =>
      all<{ folder_id: FolderId; head_seq: number }>(
        db,
        "SELECT folder_id, head_seq FROM folders WHERE folder_id = ANY($1::text[])",
        [folderIds],
      ),
    );
    return new Map(rows.map((r) => [r.folder_id, r.head_seq]));
  }

  putSnapshot(
    folderId: FolderId,
    epoch: number,
    coversSeq: number,
    ciphertext: Uint8Array,
  ): Promise<void> {
    return this.run("putSnapshot", (db) =>
      log.putSnapshot(db, folderId, epoch, coversSeq, ciphertext),
    );
  }

  snapshot(folderId: FolderId): Promise<SnapshotRecord | undefined> {
    return this.run("snapshot", (db) => log.snapshot(db, folderId));
  }

  ack(folderId: FolderId, deviceId: DeviceId, seq: number): Promise<void> {
    return this.run("ack", (db) => log.ack(db, folderId, deviceId, seq, this.now()));
  }

  acks(folderId: FolderId): Promise<Map<DeviceId, number>> {
    return this.run("acks", (db) => log.acks(db, folderId));
  }

  pruneLog(folderId: FolderId, silentBefore = 0): Promise<number> {
    return this.tx("pruneLog", (db) => log.prune(db, folderId, silentBefore));
  }
}

/**
 * Opens the relay's metadata store in the PostgreSQL database at `url`
 * (`postgres://USER@HOST:PORT/DB`; the password, if any, never appears in a message), loading pg
 * on first use and applying pending migrations unless `options.migrate` is false.
 * @throws WeftError INVALID_OPTIONS for a URL that is not postgres://; STORAGE if the database
 * cannot be reached or was migrated by a newer relay
 */
export async function openPgMetaStore(
  url: string,
  options: PgMetaStoreOptions = {},
): Promise<PgMetaStore> {
  const pool = await createPool(url, {
    ...(options.maxConnections === undefined ? {} : { max: options.maxConnections }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  const database = describeDatabase(url);
  try {
    if (options.migrate !== false) await migrate(pool);
    else await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => undefined);
    const e = pgError("open", error);
    throw new WeftError(e.code, `${e.message} (${database})`, { cause: e.cause ?? e });
  }
  return new PgMetaStore(pool, options, database);
}

/**
 * Applies the pending migrations to the database at `url` and closes; `weft relay migrate`.
 * Returns the versions applied (none when it was up to date).
 */
export async function migratePgDatabase(url: string): Promise<number[]> {
  const pool = await createPool(url, { max: 1 });
  try {
    return await migrate(pool);
  } catch (error) {
    const e = pgError("migrate", error);
    throw new WeftError(e.code, `${e.message} (${describeDatabase(url)})`, { cause: e.cause ?? e });
  } finally {
    await pool.end().catch(() => undefined);
  }
}
