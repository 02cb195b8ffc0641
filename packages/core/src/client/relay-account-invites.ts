/** Folder invites of a RelayAccount: create one (a secret, or sealed to a device), redeem it for the folder key, revoke it. */
import type { DeviceId, DeviceIdentity, FolderId } from "@weft/crypto";
import {
  FolderKeyring,
  generateInviteSecret,
  toBase64Url,
  unwrapKeyForDevice,
  unwrapKeyWithSecret,
  wrapKeyForDevice,
  wrapKeyWithSecret,
} from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import { bytesField, field } from "./relay-http.js";
import { type RelayInvite, encodeInvite, inviteContext, parseInvite } from "./relay-invite.js";
import { type FolderRole, fetchFolderKeys, mergeKeyring } from "./relay-members.js";

/** Options of {@link RelayAccount.createInvite}. */
export interface CreateInviteOptions {
  /** What the invitee may do (default `"editor"`). */
  role?: "editor" | "viewer";
  /** How long the invite can be redeemed, 60 s to 30 days (default: the relay's, 7 days). */
  ttlSeconds?: number;
  /** Seal the key to this device instead of a secret: the invite then holds no secret. */
  to?: DeviceId;
}

/** What {@link RelayAccount.redeemInvite} got. */
export interface RedeemedInvite {
  folderId: FolderId;
  role: FolderRole;
  /** The folder key of the invite's epoch. */
  keyring: FolderKeyring;
  /**
   * Whether the relay also keeps the key sealed to this device (for {@link RelayAccount.folderKeys}
   * later, and so that an owner's next key rotation includes this device). False when storing it
   * failed: the invite is used up either way, so the key is returned rather than lost to an error.
   */
  keyStored: boolean;
}

/** What the invite calls use of a RelayAccount. */
export interface InviteAccount {
  readonly identity: DeviceIdentity;
  /** The relay's base URL. */
  readonly relay: string;
  request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  device(deviceId: DeviceId): Promise<{ boxPublicKey: Uint8Array }>;
  storeFolderKey(folderId: FolderId, epoch: number, key: Uint8Array): Promise<unknown>;
}

/**
 * Creates a one-time invite to a folder this account owns and returns it as text
 * (`weft1:…`, the same format as `weft folder invite`). It holds the relay's URL, the
 * folder id, the invite id and a secret that unwraps the folder key; the relay never sees
 * the secret. Send it over a channel you trust. With `to`, the key is sealed to that device
 * instead and the invite holds no secret.
 */
export async function createInvite(
  account: InviteAccount,
  keyring: FolderKeyring,
  options: CreateInviteOptions = {},
): Promise<string> {
  const { role = "editor", ttlSeconds, to } = options;
  const folderId = keyring.folderId;
  const epoch = keyring.latestEpoch;
  const key = keyring.folderKey(epoch);
  let wrapped: Uint8Array;
  let secret: string | undefined;
  if (to !== undefined) {
    wrapped = wrapKeyForDevice(key, (await account.device(to)).boxPublicKey);
  } else {
    secret = generateInviteSecret();
    wrapped = wrapKeyWithSecret(key, secret, inviteContext(folderId, epoch));
  }
  const json = await account.request("POST", `/v1/folders/${folderId}/invites`, {
    role,
    epoch,
    wrappedKey: toBase64Url(wrapped),
    ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
  });
  const inviteId = field(json, "inviteId", "invite", "string");
  return encodeInvite({
    relay: account.relay,
    folderId,
    inviteId,
    ...(secret === undefined ? { to } : { secret }),
  });
}

/**
 * Redeems an invite (text or parsed) for this account: joins the folder with the invite's
 * role and returns its key. @throws ProtocolError `not_found` (unknown, expired, revoked),
 * `conflict` (used already); WeftError INVALID_ARGUMENT for an invite made for another
 * device or another relay, INTEGRITY when its secret does not open the key
 */
export async function redeemInvite(
  account: InviteAccount,
  invite: string | RelayInvite,
): Promise<RedeemedInvite> {
  // Through the parser either way: a hand-made object gets the same checks as text.
  const parsed = parseInvite(typeof invite === "string" ? invite : encodeInvite(invite));
  if (new URL(parsed.relay).origin !== new URL(account.relay).origin)
    throw new WeftError("INVALID_ARGUMENT", `this invite is for the relay at ${parsed.relay}`);
  if (parsed.to !== undefined && parsed.to !== account.identity.deviceId)
    throw new WeftError(
      "INVALID_ARGUMENT",
      `this invite is for device ${parsed.to}; this device is ${account.identity.deviceId}`,
    );
  const json = await account.request("POST", `/v1/invites/${parsed.inviteId}/redeem`, {});
  const epoch = field(json, "epoch", "redeem", "number");
  const role = field(json, "role", "redeem", "string");
  if (role !== "owner" && role !== "editor" && role !== "viewer")
    throw new ProtocolError("bad_frame", "the redeem answer has an unknown role");
  if (json["folderId"] !== parsed.folderId)
    throw new ProtocolError("bad_frame", "the relay redeemed an invite to another folder");
  const wrapped = bytesField(json, "wrappedKey", "redeem");
  let key: Uint8Array;
  if (parsed.secret === undefined)
    key = openSealedKey(account.identity, wrapped, "the invite's key");
  else {
    try {
      key = unwrapKeyWithSecret(wrapped, parsed.secret, inviteContext(parsed.folderId, epoch));
    } catch (cause) {
      throw new WeftError(
        "INTEGRITY",
        "the invite's secret does not open the folder key (was it copied whole?)",
        { cause },
      );
    }
  }
  const keyring = new FolderKeyring(parsed.folderId);
  keyring.add(epoch, key);
  const keyStored = await account.storeFolderKey(parsed.folderId, epoch, key).then(
    () => true,
    () => false,
  );
  // Content written before the invite's epoch is sealed under earlier keys: those come from
  // the chain of announcements back from this key (best effort: the key is returned anyway).
  if (epoch > 0)
    await fetchFolderKeys(account, parsed.folderId, keyring).then(
      (all) => mergeKeyring(keyring, all),
      () => undefined,
    );
  return { folderId: parsed.folderId, role, keyring, keyStored };
}

/** Withdraws an invite not redeemed yet (owners only). */
export async function revokeInvite(
  account: InviteAccount,
  invite: string | RelayInvite,
): Promise<void> {
  const parsed = parseInvite(typeof invite === "string" ? invite : encodeInvite(invite));
  await account.request("DELETE", `/v1/folders/${parsed.folderId}/invites/${parsed.inviteId}`);
}

/** Opens a key sealed to `identity`'s device. @throws WeftError INTEGRITY when it does not open */
export function openSealedKey(
  identity: DeviceIdentity,
  wrapped: Uint8Array,
  what: string,
): Uint8Array {
  try {
    return unwrapKeyForDevice(wrapped, identity.boxPublicKey, identity.boxSecretKey);
  } catch (cause) {
    throw new WeftError("INTEGRITY", `${what} does not open with this device's key`, { cause });
  }
}
