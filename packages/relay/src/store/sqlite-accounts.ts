/** Accounts, devices, refresh tokens and invites of SqliteMetaStore: the writes that check before they insert. */
import { randomBytes } from "node:crypto";
import { WeftError } from "@weft/core";
import type { DeviceId } from "@weft/crypto";
import { notFound } from "./checks.js";
import type { Account, DeviceRecord, InviteRecord } from "./meta-store.js";
import { sha256Hex } from "./sqlite-db.js";
import { type Queries, buf, toDevice } from "./sqlite-queries.js";

// Each function runs inside the store's transaction and error wrapping, after the store checked
// its arguments; see MetaStore for the contract of each.

/** MetaStore.createAccount. */
export function createAccount(
  q: Queries,
  user: string,
  passwordHash: string,
  now: number,
): Account {
  if (q.accountByUser.get(user) !== undefined)
    throw new WeftError("ALREADY_EXISTS", "that user name is taken");
  const account = { id: randomBytes(16).toString("hex"), user, passwordHash, created: now };
  q.insertAccount.run(account.id, user, passwordHash, account.created);
  return account;
}

/** MetaStore.addDevice. */
export function addDevice(
  q: Queries,
  accountId: string,
  deviceId: DeviceId,
  signPublicKey: Uint8Array,
  boxPublicKey: Uint8Array,
  created: number,
): DeviceRecord {
  const existing = q.device.get(deviceId);
  if (existing !== undefined) {
    const same =
      existing.account_id === accountId &&
      existing.sign_public_key.equals(signPublicKey) &&
      existing.box_public_key.equals(boxPublicKey);
    if (!same)
      throw new WeftError("ALREADY_EXISTS", "that device id is registered with other keys");
    return toDevice(existing);
  }
  q.requireAccount(accountId);
  q.insertDevice.run(deviceId, accountId, buf(signPublicKey), buf(boxPublicKey), created);
  // Copies: the record must not change when the caller reuses its arrays.
  const [sign, box] = [new Uint8Array(signPublicKey), new Uint8Array(boxPublicKey)];
  return { deviceId, accountId, signPublicKey: sign, boxPublicKey: box, created };
}

/** MetaStore.saveRefreshToken. */
export function saveRefreshToken(
  q: Queries,
  r: { tokenHash: string; family: string; accountId: string; expires: number; deviceId?: DeviceId },
): void {
  const { tokenHash, family, accountId, expires, deviceId } = r;
  q.requireAccount(accountId);
  // A token must not carry another account's device into the access tokens it yields.
  if (deviceId !== undefined && q.requireDevice(deviceId).account_id !== accountId)
    throw notFound("device of that account");
  if (q.refreshToken.get(tokenHash) !== undefined)
    throw new WeftError("ALREADY_EXISTS", "that refresh token is stored already");
  q.insertRefreshToken.run(tokenHash, family, accountId, deviceId ?? null, expires);
}

/** MetaStore.createInvite. */
export function createInvite(q: Queries, i: Omit<InviteRecord, "usedBy" | "revoked">): void {
  const id = sha256Hex(i.id); // the id is a bearer secret: only its hash is stored
  if (q.invite.get(id) !== undefined)
    throw new WeftError("ALREADY_EXISTS", "that invite id is in use");
  q.requireFolder(i.folderId);
  q.requireAccount(i.createdBy);
  const { folderId, role, createdBy, expires, wrappedKey, epoch } = i;
  q.insertInvite.run(id, folderId, role, createdBy, expires, buf(wrappedKey), epoch);
}

/** MetaStore.useInvite. */
export function useInvite(q: Queries, id: string, accountId: string): void {
  q.requireAccount(accountId);
  const hash = sha256Hex(id);
  if (q.useInvite.run(accountId, hash).changes === 1) return;
  const row = q.invite.get(hash);
  if (row === undefined) throw notFound("invite");
  if (row.revoked === 1) throw new WeftError("INVALID_ARGUMENT", "the invite was revoked");
  throw new WeftError("ALREADY_EXISTS", "the invite was used already");
}
