/** SqliteMetaStore: the relay's MetaStore in one SQLite file in WAL mode (better-sqlite3). */
/* eslint-disable @typescript-eslint/require-await -- better-sqlite3 is synchronous: each asynchronous method runs its statements at once, and an async method turns a throw into a rejection */
import { resolve } from "node:path";
import type Database from "better-sqlite3";
import { WeftError, storageError } from "@weft/core";
import type { HeadClaim } from "@weft/core";
import type { AppendIfResult } from "@weft/core/server";
import type { DeviceId, FolderId } from "@weft/crypto";
import {
  checkBytes,
  checkDeviceId,
  checkEpoch,
  checkEpochIncreases,
  checkFolderId,
  checkObject,
  checkRole,
  checkText,
  checkTime,
  notFound,
} from "./checks.js";
import type {
  Account,
  AccountFolder,
  DeviceRecord,
  EpochAnnouncement,
  FolderMember,
  FolderMemberDevices,
  FolderRecord,
  FolderUsage,
  InviteRecord,
  LogEntry,
  MetaStore,
  RefreshTokenRecord,
  Role,
  SnapshotRecord,
  WrappedKey,
} from "./meta-store.js";
import { openDatabase, sha256Hex } from "./sqlite-db.js";
import * as accounts from "./sqlite-accounts.js";
import * as log from "./sqlite-log.js";
import * as members from "./sqlite-members.js";
import {
  Queries,
  buf,
  ownBytes,
  toAccount,
  toDevice,
  toInvite,
  toRefreshToken,
} from "./sqlite-queries.js";

type Db = Database.Database;

/** Options of {@link openSqliteMetaStore}. */
export interface SqliteMetaStoreOptions {
  /**
   * The clock for `created` times and when acks were heard, in milliseconds since the epoch;
   * `Date.now` by default.
   */
  now?: () => number;
}

/**
 * A {@link MetaStore} in one SQLite file: the relay's zero-configuration default.
 *
 * - WAL journal with `synchronous = FULL`: a commit is fsynced before the call returns, because
 *   the relay answers at once (`appended` with a seq, an issued token): were a commit to vanish
 *   in a power loss after that, the relay could hand the same seq to other bytes.
 * - The file (and its -wal and -shm files, which copy its mode) is 0600: it holds password
 *   hashes and refresh-token hashes.
 * - Multi-statement operations (append, prune, register a device) run in IMMEDIATE
 *   transactions, so a concurrent writer (another process on the file) cannot slip in between
 *   reading the head and writing the next seq.
 */
export class SqliteMetaStore implements MetaStore {
  private db: Db | undefined;
  private readonly q: Queries;
  private readonly mq: members.MemberQueries;
  private readonly now: () => number;
  private readonly txn: {
    immediate(fn: () => unknown): unknown;
    deferred(fn: () => unknown): unknown;
  };

  /** Use {@link openSqliteMetaStore}. */
  private constructor(
    /** The absolute path of the database file. */
    readonly path: string,
    db: Db,
    options: SqliteMetaStoreOptions,
  ) {
    this.db = db;
    this.q = new Queries(db);
    this.mq = new members.MemberQueries(db);
    this.now = options.now ?? Date.now;
    this.txn = db.transaction((fn: () => unknown) => fn());
  }

  /** Opens the store in the file at `path`: the same as {@link openSqliteMetaStore}. */
  static open(path: string, options: SqliteMetaStoreOptions = {}): SqliteMetaStore {
    if (typeof path !== "string" || path === "")
      throw new WeftError("INVALID_ARGUMENT", "path must be a non-empty string");
    const file = resolve(path);
    return new SqliteMetaStore(file, openDatabase(file), options);
  }

  async createAccount(user: string, passwordHash: string): Promise<Account> {
    checkText(user, "user");
    checkText(passwordHash, "passwordHash");
    return this.write("createAccount", () =>
      accounts.createAccount(this.q, user, passwordHash, this.now()),
    );
  }

  async accountByUser(user: string): Promise<Account | undefined> {
    checkText(user, "user");
    return this.run("accountByUser", () => maybe(this.q.accountByUser.get(user), toAccount));
  }

  async accountById(id: string): Promise<Account | undefined> {
    checkText(id, "account id");
    return this.run("accountById", () => maybe(this.q.accountById.get(id), toAccount));
  }

  async setPasswordHash(accountId: string, hash: string): Promise<void> {
    checkText(accountId, "account id");
    checkText(hash, "hash");
    this.run("setPasswordHash", () => {
      if (this.q.setPasswordHash.run(hash, accountId).changes === 0) throw notFound("account");
    });
  }

  async addDevice(
    accountId: string,
    deviceId: DeviceId,
    signPublicKey: Uint8Array,
    boxPublicKey: Uint8Array,
  ): Promise<DeviceRecord> {
    checkText(accountId, "account id");
    checkDeviceId(deviceId);
    checkBytes(signPublicKey, "signPublicKey");
    checkBytes(boxPublicKey, "boxPublicKey");
    return this.write("addDevice", () =>
      accounts.addDevice(this.q, accountId, deviceId, signPublicKey, boxPublicKey, this.now()),
    );
  }

  async device(deviceId: DeviceId): Promise<DeviceRecord | undefined> {
    checkDeviceId(deviceId);
    return this.run("device", () => maybe(this.q.device.get(deviceId), toDevice));
  }

  async devicesOf(accountId: string): Promise<DeviceRecord[]> {
    checkText(accountId, "account id");
    return this.run("devicesOf", () => this.q.devicesOf.all(accountId).map(toDevice));
  }

  async saveRefreshToken(r: {
    tokenHash: string;
    family: string;
    accountId: string;
    expires: number;
    deviceId?: DeviceId;
  }): Promise<void> {
    checkObject(r, "refresh token");
    const { tokenHash, family, accountId, expires, deviceId } = r;
    checkText(tokenHash, "tokenHash");
    checkText(family, "family");
    checkText(accountId, "accountId");
    checkTime(expires, "expires");
    if (deviceId !== undefined) checkDeviceId(deviceId);
    this.write("saveRefreshToken", () => accounts.saveRefreshToken(this.q, r));
  }

  async refreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    checkText(tokenHash, "tokenHash");
    return this.run("refreshToken", () =>
      maybe(this.q.refreshToken.get(tokenHash), toRefreshToken),
    );
  }

  async markRefreshTokenUsed(tokenHash: string, at: number): Promise<boolean> {
    checkText(tokenHash, "tokenHash");
    checkTime(at, "at");
    return this.write("markRefreshTokenUsed", () => {
      const row = this.q.refreshToken.get(tokenHash);
      if (!row) throw notFound("refresh token");
      this.q.markRefreshTokenUsed.run(at, tokenHash);
      return row.used_at === null;
    });
  }

  async revokeRefreshFamily(family: string): Promise<void> {
    checkText(family, "family");
    this.run("revokeRefreshFamily", () => void this.q.revokeRefreshFamily.run(this.now(), family));
  }

  async revokeRefreshTokensOf(accountId: string): Promise<void> {
    checkText(accountId, "account id");
    this.run(
      "revokeRefreshTokensOf",
      () => void this.q.revokeRefreshTokensOf.run(this.now(), accountId),
    );
  }

  async revokedFamiliesSince(since: number): Promise<{ family: string; revokedAt: number }[]> {
    checkTime(since, "since");
    return this.run("revokedFamiliesSince", () =>
      this.q.revokedFamiliesSince
        .all(since)
        .map((r) => ({ family: r.family, revokedAt: r.revoked_at })),
    );
  }

  async createFolder(folderId: FolderId, ownerAccountId: string, meta?: string): Promise<void> {
    checkFolderId(folderId);
    checkText(ownerAccountId, "account id");
    if (meta !== undefined) checkText(meta, "meta");
    this.write("createFolder", () => {
      if (this.q.folder.get(folderId) !== undefined)
        throw new WeftError("ALREADY_EXISTS", "that folder id is in use");
      this.q.requireAccount(ownerAccountId);
      this.q.insertFolder.run(folderId, this.now(), meta ?? null);
      this.q.setMember.run(folderId, ownerAccountId, "owner");
    });
  }

  async folder(folderId: FolderId): Promise<FolderRecord | undefined> {
    checkFolderId(folderId);
    return this.run("folder", () => {
      const row = this.q.folder.get(folderId);
      if (row === undefined) return undefined;
      return {
        folderId,
        epoch: row.epoch,
        created: row.created,
        headSeq: row.head_seq,
        ...(row.rotation_due === 1 ? { rotationDue: true as const } : {}),
        ...(row.meta !== null ? { meta: row.meta } : {}),
      };
    });
  }

  async foldersOf(accountId: string): Promise<AccountFolder[]> {
    checkText(accountId, "account id");
    return this.run("foldersOf", () =>
      this.q.foldersOf.all(accountId).map((r) => ({
        folderId: r.folder_id as FolderId,
        role: r.role as Role,
        epoch: r.epoch,
        headSeq: r.head_seq,
      })),
    );
  }

  async folderUsage(folderIds: readonly FolderId[]): Promise<Map<FolderId, FolderUsage>> {
    for (const id of folderIds) checkFolderId(id);
    return this.read("folderUsage", () => {
      const rows = this.db!.prepare(
        "SELECT f.folder_id, f.log_entries, f.log_bytes, " +
          "coalesce((SELECT length(s.ciphertext) FROM snapshots s WHERE s.folder_id = f.folder_id), 0) " +
          "AS snapshot_bytes FROM folders f WHERE f.folder_id IN (SELECT value FROM json_each(?))",
      ).all(JSON.stringify(folderIds)) as {
        folder_id: string;
        log_entries: number;
        log_bytes: number;
        snapshot_bytes: number;
      }[];
      return new Map(
        rows.map((r) => [
          r.folder_id as FolderId,
          { logEntries: r.log_entries, logBytes: r.log_bytes, snapshotBytes: r.snapshot_bytes },
        ]),
      );
    });
  }

  async setMember(folderId: FolderId, accountId: string, role: Role): Promise<void> {
    checkFolderId(folderId);
    checkText(accountId, "account id");
    checkRole(role, ["owner", "editor", "viewer"]);
    this.write("setMember", () => {
      this.q.requireFolder(folderId);
      this.q.requireAccount(accountId);
      this.q.setMember.run(folderId, accountId, role);
    });
  }

  async removeMember(folderId: FolderId, accountId: string): Promise<void> {
    checkFolderId(folderId);
    checkText(accountId, "account id");
    this.write("removeMember", () => {
      // A removed member holds the current key: the next one is owed.
      if (this.q.removeMember.run(folderId, accountId).changes > 0)
        this.mq.setRotationDue.run(folderId);
    });
  }

  async role(folderId: FolderId, accountId: string): Promise<Role | undefined> {
    checkFolderId(folderId);
    checkText(accountId, "account id");
    return this.run("role", () => this.q.role.get(folderId, accountId)?.role as Role | undefined);
  }

  async members(folderId: FolderId): Promise<FolderMember[]> {
    checkFolderId(folderId);
    return this.run("members", () =>
      this.q.members
        .all(folderId)
        .map((r) => ({ accountId: r.account_id, user: r.user, role: r.role as Role })),
    );
  }

  async memberDevices(folderId: FolderId): Promise<FolderMemberDevices[]> {
    return this.read("memberDevices", () => members.memberDevices(this.q, this.mq, folderId));
  }

  async publishEpoch(
    folderId: FolderId,
    epoch: number,
    signer: DeviceId,
    record: string,
    keys: ReadonlyMap<DeviceId, Uint8Array>,
  ): Promise<void> {
    this.write("publishEpoch", () =>
      members.publishEpoch(this.q, this.mq, this.now(), folderId, epoch, signer, record, keys),
    );
  }

  async epochAnnouncements(folderId: FolderId, afterEpoch: number): Promise<EpochAnnouncement[]> {
    return this.run("epochAnnouncements", () =>
      members.epochAnnouncements(this.mq, folderId, afterEpoch),
    );
  }

  async setDeviceName(deviceId: DeviceId, name: string | null): Promise<void> {
    this.run("setDeviceName", () => members.setDeviceName(this.q, this.mq, deviceId, name));
  }

  async removeDevice(deviceId: DeviceId, at: number): Promise<FolderId[]> {
    return this.write("removeDevice", () => members.removeDevice(this.q, this.mq, deviceId, at));
  }

  async memberDeviceKey(folderId: FolderId, deviceId: DeviceId): Promise<Uint8Array | undefined> {
    checkFolderId(folderId);
    checkDeviceId(deviceId);
    return this.run("memberDeviceKey", () => {
      const row = this.q.memberDeviceKey.get(folderId, deviceId);
      return row === undefined ? undefined : ownBytes(row.sign_public_key);
    });
  }

  async setEpoch(folderId: FolderId, epoch: number): Promise<void> {
    checkFolderId(folderId);
    checkEpoch(epoch);
    this.write("setEpoch", () => {
      const current = this.q.requireFolder(folderId).epoch;
      checkEpochIncreases(epoch, current);
      this.q.setEpoch.run(epoch, folderId);
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
    this.write("putWrappedKey", () => {
      this.q.requireFolder(folderId);
      this.q.requireDevice(deviceId);
      if (this.q.putWrappedKey.run(folderId, deviceId, epoch, buf(blob)).changes === 0)
        throw new WeftError(
          "ALREADY_EXISTS",
          `a key is already stored for device ${deviceId} at epoch ${epoch}`,
        );
    });
  }

  async wrappedKeys(folderId: FolderId, deviceId: DeviceId): Promise<WrappedKey[]> {
    checkFolderId(folderId);
    checkDeviceId(deviceId);
    return this.run("wrappedKeys", () =>
      this.q.wrappedKeys
        .all(folderId, deviceId)
        .map((r) => ({ epoch: r.epoch, blob: ownBytes(r.blob) })),
    );
  }

  async createInvite(i: Omit<InviteRecord, "usedBy" | "revoked">): Promise<void> {
    checkObject(i, "invite");
    checkText(i.id, "invite id");
    checkFolderId(i.folderId);
    checkRole(i.role, ["editor", "viewer"]);
    checkText(i.createdBy, "createdBy");
    checkTime(i.expires, "expires");
    checkBytes(i.wrappedKey, "wrappedKey");
    checkEpoch(i.epoch);
    this.write("createInvite", () => accounts.createInvite(this.q, i));
  }

  async invite(id: string): Promise<InviteRecord | undefined> {
    checkText(id, "invite id");
    return this.run("invite", () =>
      maybe(this.q.invite.get(sha256Hex(id)), (row) => ({ ...toInvite(row), id })),
    );
  }

  async useInvite(id: string, accountId: string): Promise<void> {
    checkText(id, "invite id");
    checkText(accountId, "account id");
    this.write("useInvite", () => accounts.useInvite(this.q, id, accountId));
  }

  async revokeInvite(id: string): Promise<void> {
    checkText(id, "invite id");
    this.run("revokeInvite", () => {
      if (this.q.revokeInvite.run(sha256Hex(id)).changes === 0) throw notFound("invite");
    });
  }

  async append(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
  ): Promise<{ seq: number; duplicate: boolean }> {
    return this.write("append", () => {
      const result = log.append(this.q, folderId, deviceId, deviceSeq, envelope);
      if ("stale" in result) throw new Error("unreachable: an append without claims");
      return result;
    });
  }

  async appendIf(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
    claims: readonly HeadClaim[],
  ): Promise<AppendIfResult> {
    return this.write("appendIf", () =>
      log.append(this.q, folderId, deviceId, deviceSeq, envelope, claims),
    );
  }

  async readLog(
    folderId: FolderId,
    afterSeq: number,
    limit: number,
    maxBytes: number,
  ): Promise<LogEntry[]> {
    return this.read("readLog", () => log.read(this.q, folderId, afterSeq, limit, maxBytes));
  }

  async firstSeqAfter(folderId: FolderId, afterSeq: number): Promise<number | undefined> {
    return this.read("firstSeqAfter", () => log.firstSeqAfter(this.q, folderId, afterSeq));
  }

  async headSeq(folderId: FolderId): Promise<number> {
    checkFolderId(folderId);
    return this.run("headSeq", () => this.q.requireFolder(folderId).head_seq);
  }

  async headSeqs(folderIds: readonly FolderId[]): Promise<Map<FolderId, number>> {
    for (const id of folderIds) checkFolderId(id);
    return this.read("headSeqs", () => {
      const out = new Map<FolderId, number>();
      for (const id of folderIds) {
        const head = this.q.folder.get(id)?.head_seq;
        if (head !== undefined) out.set(id, head);
      }
      return out;
    });
  }

  async putSnapshot(
    folderId: FolderId,
    epoch: number,
    coversSeq: number,
    ciphertext: Uint8Array,
  ): Promise<void> {
    this.write("putSnapshot", () =>
      log.putSnapshot(this.q, folderId, epoch, coversSeq, ciphertext),
    );
  }

  async snapshot(folderId: FolderId): Promise<SnapshotRecord | undefined> {
    return this.run("snapshot", () => log.snapshot(this.q, folderId));
  }

  async ack(folderId: FolderId, deviceId: DeviceId, seq: number): Promise<void> {
    this.write("ack", () => log.ack(this.q, folderId, deviceId, seq, this.now()));
  }

  async acks(folderId: FolderId): Promise<Map<DeviceId, number>> {
    return this.run("acks", () => log.acks(this.q, folderId));
  }

  async pruneLog(folderId: FolderId, silentBefore = 0): Promise<number> {
    return this.write("pruneLog", () => log.prune(this.q, folderId, silentBefore));
  }

  /** Folders, and envelopes held in the logs: for metrics (two counts, one read). */
  async stats(): Promise<{ folders: number; logEntries: number }> {
    return this.read("stats", () => {
      const row = this.db!.prepare(
        "SELECT (SELECT COUNT(*) FROM folders) AS folders, (SELECT COUNT(*) FROM log) AS logEntries",
      ).get() as { folders: number; logEntries: number };
      return { folders: row.folders, logEntries: row.logEntries };
    });
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db === undefined) return;
    try {
      // Checkpoints the WAL into the main file and removes -wal and -shm.
      db.close();
    } catch (error) {
      throw storageError("relay metadata store: close", error);
    }
  }

  /** Runs `fn` in an IMMEDIATE transaction: its reads and writes see no other writer between. */
  private write<T>(what: string, fn: () => T): T {
    return this.run(what, () => this.txn.immediate(fn) as T);
  }

  /** Runs `fn` in a read transaction: all its queries see one state of the file. */
  private read<T>(what: string, fn: () => T): T {
    return this.run(what, () => this.txn.deferred(fn) as T);
  }

  private run<T>(what: string, fn: () => T): T {
    if (this.db === undefined) throw new WeftError("STORAGE", "the relay metadata store is closed");
    try {
      return fn();
    } catch (error) {
      throw storageError(`relay metadata store: ${what}`, error);
    }
  }
}

/**
 * Opens the relay's metadata store in the SQLite file at `path`, creating it (mode 0600; its
 * parent directories 0700) if absent, and applying pending migrations.
 * @throws WeftError INVALID_ARGUMENT for an empty path; STORAGE if the file cannot be opened, is
 * not a SQLite database, or was written by a newer relay
 */
export function openSqliteMetaStore(
  path: string,
  options?: SqliteMetaStoreOptions,
): SqliteMetaStore {
  return SqliteMetaStore.open(path, options);
}

/** `map(row)`, or undefined for no row. */
function maybe<R, T>(row: R | undefined, map: (row: R) => T): T | undefined {
  return row === undefined ? undefined : map(row);
}
