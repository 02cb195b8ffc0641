/** PgMetaStoreBase: PostgreSQL connections, transactions and errors of PgMetaStore, and its accounts, devices, tokens and invites. */
import { randomBytes } from "node:crypto";
import { WeftError } from "@weft/core";
import type { DeviceId } from "@weft/crypto";
import type { Pool, PoolClient } from "pg";
import {
  checkBytes,
  checkDeviceId,
  checkEpoch,
  checkFolderId,
  checkObject,
  checkRole,
  checkText,
  checkTime,
  notFound,
} from "../checks.js";
import type { Account, DeviceRecord, InviteRecord, RefreshTokenRecord } from "../meta-store.js";
import { sha256Hex } from "../sqlite-db.js";
import { buf } from "../sqlite-queries.js";
import { type Db, isRetryable, pgError } from "./pg-db.js";
import {
  type AccountRow,
  type DeviceRow,
  type InviteRow,
  type RefreshTokenRow,
  all,
  changes,
  one,
  requireAccount,
  requireDevice,
  requireFolder,
  toAccount,
  toDevice,
  toInvite,
  toRefreshToken,
} from "./pg-queries.js";

/** How many times a transaction that lost a deadlock is run again before failing. */
const ATTEMPTS = 3;

/**
 * The half of {@link PgMetaStore} that is not about folders: the pool and its transactions,
 * accounts, devices, refresh tokens (by hash), invites (by the hash of their id), the shared
 * secrets. See MetaStore for the contract of each method.
 */
export class PgMetaStoreBase {
  private pool: Pool | undefined;
  /** The clock for `created` times and when acks were heard. */
  protected readonly now: () => number;

  constructor(pool: Pool, now: () => number) {
    this.pool = pool;
    this.now = now;
  }

  async createAccount(user: string, passwordHash: string): Promise<Account> {
    checkText(user, "user");
    checkText(passwordHash, "passwordHash");
    const account = {
      id: randomBytes(16).toString("hex"),
      user,
      passwordHash,
      created: this.now(),
    };
    const stored = await this.run("createAccount", (db) =>
      changes(
        db,
        "INSERT INTO accounts (id, user_name, password_hash, created) VALUES ($1, $2, $3, $4) " +
          "ON CONFLICT (user_name) DO NOTHING",
        [account.id, user, passwordHash, account.created],
      ),
    );
    if (stored === 0) throw new WeftError("ALREADY_EXISTS", "that user name is taken");
    return account;
  }

  async accountByUser(user: string): Promise<Account | undefined> {
    checkText(user, "user");
    const row = await this.run("accountByUser", (db) =>
      one<AccountRow>(db, "SELECT * FROM accounts WHERE user_name = $1", [user]),
    );
    return row && toAccount(row);
  }

  async accountById(id: string): Promise<Account | undefined> {
    checkText(id, "account id");
    const row = await this.run("accountById", (db) =>
      one<AccountRow>(db, "SELECT * FROM accounts WHERE id = $1", [id]),
    );
    return row && toAccount(row);
  }

  async setPasswordHash(accountId: string, hash: string): Promise<void> {
    checkText(accountId, "account id");
    checkText(hash, "hash");
    const n = await this.run("setPasswordHash", (db) =>
      changes(db, "UPDATE accounts SET password_hash = $1 WHERE id = $2", [hash, accountId]),
    );
    if (n === 0) throw notFound("account");
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
    // Copies first: the record must not change when the caller reuses its arrays.
    const [sign, box] = [new Uint8Array(signPublicKey), new Uint8Array(boxPublicKey)];
    const row = await this.tx("addDevice", async (db) => {
      const existing = await one<DeviceRow>(db, "SELECT * FROM devices WHERE device_id = $1", [
        deviceId,
      ]);
      if (existing !== undefined) return existing;
      await requireAccount(db, accountId);
      // Insert-or-keep, then read: a retry racing the first registration gets its row.
      await db.query(
        "INSERT INTO devices (device_id, account_id, sign_public_key, box_public_key, created) " +
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO NOTHING",
        [deviceId, accountId, buf(sign), buf(box), this.now()],
      );
      return requireDevice(db, deviceId);
    });
    const same =
      row.account_id === accountId &&
      row.sign_public_key.equals(sign) &&
      row.box_public_key.equals(box);
    if (!same)
      throw new WeftError("ALREADY_EXISTS", "that device id is registered with other keys");
    return toDevice(row);
  }

  async device(deviceId: DeviceId): Promise<DeviceRecord | undefined> {
    checkDeviceId(deviceId);
    const row = await this.run("device", (db) =>
      one<DeviceRow>(db, "SELECT * FROM devices WHERE device_id = $1", [deviceId]),
    );
    return row && toDevice(row);
  }

  async devicesOf(accountId: string): Promise<DeviceRecord[]> {
    checkText(accountId, "account id");
    const rows = await this.run("devicesOf", (db) =>
      all<DeviceRow>(
        db,
        "SELECT * FROM devices WHERE account_id = $1 ORDER BY created, device_id",
        [accountId],
      ),
    );
    return rows.map(toDevice);
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
    await this.run("saveRefreshToken", async (db) => {
      await requireAccount(db, accountId);
      // A token must not carry another account's device into the access tokens it yields.
      if (deviceId !== undefined && (await requireDevice(db, deviceId)).account_id !== accountId)
        throw notFound("device of that account");
      const n = await changes(
        db,
        "INSERT INTO refresh_tokens (token_hash, family, account_id, device_id, expires) " +
          "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
        [tokenHash, family, accountId, deviceId ?? null, expires],
      );
      if (n === 0) throw new WeftError("ALREADY_EXISTS", "that refresh token is stored already");
    });
  }

  async refreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    checkText(tokenHash, "tokenHash");
    const row = await this.run("refreshToken", (db) =>
      one<RefreshTokenRow>(db, "SELECT * FROM refresh_tokens WHERE token_hash = $1", [tokenHash]),
    );
    return row && toRefreshToken(row);
  }

  async markRefreshTokenUsed(tokenHash: string, at: number): Promise<boolean> {
    checkText(tokenHash, "tokenHash");
    checkTime(at, "at");
    return this.run("markRefreshTokenUsed", async (db) => {
      // One statement: of two relays spending one token at once, one changes the row, and a
      // replay never overwrites when the token was first spent.
      const first = await changes(
        db,
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        [at, tokenHash],
      );
      if (first === 1) return true;
      if (
        (await one(db, "SELECT 1 FROM refresh_tokens WHERE token_hash = $1", [tokenHash])) ===
        undefined
      )
        throw notFound("refresh token");
      return false;
    });
  }

  async revokeRefreshFamily(family: string): Promise<void> {
    checkText(family, "family");
    await this.run("revokeRefreshFamily", (db) =>
      db.query(
        // coalesce keeps the first revocation: a second logout must not move it later.
        "UPDATE refresh_tokens SET revoked = true, revoked_at = coalesce(revoked_at, $1) " +
          "WHERE family = $2",
        [this.now(), family],
      ),
    );
  }

  async revokeRefreshTokensOf(accountId: string): Promise<void> {
    checkText(accountId, "account id");
    await this.run("revokeRefreshTokensOf", (db) =>
      db.query(
        "UPDATE refresh_tokens SET revoked = true, revoked_at = coalesce(revoked_at, $1) " +
          "WHERE account_id = $2",
        [this.now(), accountId],
      ),
    );
  }

  async revokedFamiliesSince(since: number): Promise<{ family: string; revokedAt: number }[]> {
    checkTime(since, "since");
    const rows = await this.run("revokedFamiliesSince", (db) =>
      all<{ family: string; revoked_at: number }>(
        db,
        "SELECT family, min(revoked_at) AS revoked_at FROM refresh_tokens " +
          "WHERE revoked_at >= $1 GROUP BY family",
        [since],
      ),
    );
    return rows.map((r) => ({ family: r.family, revokedAt: r.revoked_at }));
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
    const hash = sha256Hex(i.id); // the id is a bearer secret: only its hash is stored
    await this.run("createInvite", async (db) => {
      if ((await one(db, "SELECT 1 FROM invites WHERE id = $1", [hash])) !== undefined)
        throw new WeftError("ALREADY_EXISTS", "that invite id is in use");
      await requireFolder(db, i.folderId);
      await requireAccount(db, i.createdBy);
      const n = await changes(
        db,
        "INSERT INTO invites (id, folder_id, role, created_by, expires, wrapped_key, epoch) " +
          "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        [hash, i.folderId, i.role, i.createdBy, i.expires, buf(i.wrappedKey), i.epoch],
      );
      if (n === 0) throw new WeftError("ALREADY_EXISTS", "that invite id is in use");
    });
  }

  async invite(id: string): Promise<InviteRecord | undefined> {
    checkText(id, "invite id");
    const row = await this.run("invite", (db) =>
      one<InviteRow>(db, "SELECT * FROM invites WHERE id = $1", [sha256Hex(id)]),
    );
    return row && toInvite(row, id);
  }

  async useInvite(id: string, accountId: string): Promise<void> {
    checkText(id, "invite id");
    checkText(accountId, "account id");
    const hash = sha256Hex(id);
    await this.run("useInvite", async (db) => {
      await requireAccount(db, accountId);
      // One statement, so that of two racing redemptions exactly one changes the row.
      const n = await changes(
        db,
        "UPDATE invites SET used_by = $1 WHERE id = $2 AND used_by IS NULL AND NOT revoked",
        [accountId, hash],
      );
      if (n === 1) return;
      const row = await one<InviteRow>(db, "SELECT * FROM invites WHERE id = $1", [hash]);
      if (row === undefined) throw notFound("invite");
      if (row.revoked) throw new WeftError("INVALID_ARGUMENT", "the invite was revoked");
      throw new WeftError("ALREADY_EXISTS", "the invite was used already");
    });
  }

  async revokeInvite(id: string): Promise<void> {
    checkText(id, "invite id");
    const n = await this.run("revokeInvite", (db) =>
      changes(db, "UPDATE invites SET revoked = true WHERE id = $1", [sha256Hex(id)]),
    );
    if (n === 0) throw notFound("invite");
  }

  /** Folders, and envelopes held in the logs: for metrics. */
  async stats(): Promise<{ folders: number; logEntries: number }> {
    const row = await this.run("stats", (db) =>
      one<{ folders: number; log_entries: number }>(
        db,
        "SELECT (SELECT count(*) FROM folders) AS folders, (SELECT count(*) FROM log) AS log_entries",
        [],
      ),
    );
    return { folders: row?.folders ?? 0, logEntries: row?.log_entries ?? 0 };
  }

  /**
   * The secret named `name` every relay on this database shares: the stored one, or `make()`'s,
   * stored by whichever relay gets there first (the others read it back).
   */
  async sharedSecret(name: string, make: () => string): Promise<string> {
    checkText(name, "name");
    const row = await this.run("sharedSecret", async (db) => {
      await db.query(
        "INSERT INTO relay_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        [name, make()],
      );
      return one<{ value: string }>(db, "SELECT value FROM relay_secrets WHERE name = $1", [name]);
    });
    return row!.value;
  }

  /** Closes the pool. Further calls reject with WeftError STORAGE; closing again is a no-op. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool === undefined) return;
    try {
      await pool.end();
    } catch (error) {
      throw pgError("close", error);
    }
  }

  /** Runs `fn` on the pool (each statement on its own). */
  protected async run<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    const pool = this.open();
    try {
      return await fn(pool);
    } catch (error) {
      throw pgError(what, error);
    }
  }

  /** Runs `fn` in a READ COMMITTED transaction on one connection, again if it lost a deadlock. */
  protected tx<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.transaction(what, "BEGIN", fn);
  }

  /** Runs `fn` in a read-only REPEATABLE READ transaction: its queries see one state. */
  protected snap<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    return this.transaction(what, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", fn);
  }

  private async transaction<T>(
    what: string,
    begin: string,
    fn: (db: Db) => Promise<T>,
  ): Promise<T> {
    const pool = this.open();
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient | undefined;
      try {
        client = await pool.connect();
        await client.query(begin);
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client?.query("ROLLBACK").catch(() => undefined);
        if (attempt < ATTEMPTS && isRetryable(error)) continue;
        throw pgError(what, error);
      } finally {
        client?.release();
      }
    }
  }

  private open(): Pool {
    if (this.pool === undefined)
      throw new WeftError("STORAGE", "the relay metadata store is closed");
    return this.pool;
  }
}
