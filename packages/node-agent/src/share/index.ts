/** Folders and their keys: create a folder, invite someone to it, join it, and keep its keys at rest sealed to this device. */
import { mkdir, realpath, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  fromBase64Url,
  generateFolderKey,
  generateInviteSecret,
  isFolderId,
  newFolderId,
  toBase64Url,
  unwrapKeyForDevice,
  unwrapKeyWithSecret,
  wrapKeyForDevice,
  wrapKeyWithSecret,
} from "@weft/crypto";
import { type Session, relayStatus } from "../account/index.js";
import {
  AgentError,
  type FolderRecord,
  type Home,
  normalizeRelayUrl,
  readJson,
  writeJsonPrivate,
} from "../home/index.js";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** A folder key as stored under WEFT_HOME: sealed to this device's box key. */
interface StoredKey {
  epoch: number;
  wrapped: string;
}

const INVITE_PREFIX = "weft1:";

/**
 * What an invite carries. The secret unwraps the folder key and the relay never sees it; an
 * invite made `--to` one device has no secret: the key is sealed to that device's public key.
 */
export interface Invite {
  relay: string;
  folderId: FolderId;
  inviteId: string;
  secret?: string;
  to?: string;
}

function keysPath(home: Home, folderId: FolderId): string {
  return join(home.folderDir(folderId), "keys.json");
}

/** The context an invite's wrapping is bound to, so a secret cannot unwrap another folder's key. */
function inviteContext(folderId: FolderId, epoch: number): Uint8Array {
  return utf8Encoder.encode(`weft invite ${folderId} ${epoch}`);
}

/** Stores a folder key sealed to this device (merging with the epochs already stored). */
export async function storeFolderKey(
  home: Home,
  identity: DeviceIdentity,
  folderId: FolderId,
  epoch: number,
  key: Uint8Array,
): Promise<void> {
  const path = keysPath(home, folderId);
  const stored = ((await readJson<StoredKey[]>(path)) ?? []).filter((k) => k.epoch !== epoch);
  stored.push({ epoch, wrapped: toBase64Url(wrapKeyForDevice(key, identity.boxPublicKey)) });
  stored.sort((a, b) => a.epoch - b.epoch);
  await writeJsonPrivate(path, stored);
}

/**
 * The folder's keyring: the keys stored here, plus any the relay holds wrapped for this device
 * (another member re-keyed the folder after removing someone) when a session is given.
 * @throws AgentError NOT_READY when this device has no key of the folder
 */
export async function loadKeyring(
  home: Home,
  identity: DeviceIdentity,
  folderId: FolderId,
  session?: Session,
): Promise<FolderKeyring> {
  const keyring = new FolderKeyring(folderId);
  for (const k of (await readJson<StoredKey[]>(keysPath(home, folderId))) ?? [])
    keyring.add(
      k.epoch,
      unwrapKeyForDevice(fromBase64Url(k.wrapped), identity.boxPublicKey, identity.boxSecretKey),
    );
  if (session) {
    try {
      const { json } = await session.request("GET", `/v1/folders/${folderId}/keys`);
      for (const k of (json["keys"] as { epoch: number; wrappedKey: string }[]) ?? []) {
        if (keyring.has(k.epoch)) continue;
        const key = unwrapKeyForDevice(
          fromBase64Url(k.wrappedKey),
          identity.boxPublicKey,
          identity.boxSecretKey,
        );
        keyring.add(k.epoch, key);
        await storeFolderKey(home, identity, folderId, k.epoch, key);
      }
    } catch (error) {
      // Offline, or the relay is down: the stored keys are enough to sync later.
      if (!(error instanceof AgentError) || relayStatus(error) === 403) throw error;
    }
  }
  if (keyring.epochs.length === 0)
    throw new AgentError(
      "NOT_READY",
      `this device has no key for folder ${folderId}; join it with an invite`,
    );
  return keyring;
}

/** A usable local directory for a folder: created if missing, resolved through symlinks. */
async function folderPath(path: string): Promise<string> {
  const abs = resolve(path);
  await mkdir(abs, { recursive: true });
  const info = await stat(abs);
  if (!info.isDirectory()) throw new AgentError("USAGE", `${path} is not a directory`);
  return realpath(abs);
}

/** Creates a folder on the relay with a fresh key and starts syncing `path` into it. */
export async function createFolder(
  home: Home,
  session: Session,
  identity: DeviceIdentity,
  path: string,
): Promise<FolderRecord> {
  const abs = await folderPath(path);
  const folderId = newFolderId();
  const key = generateFolderKey();
  await session.request("POST", "/v1/folders", { folderId });
  // The relay keeps a copy sealed to this device: only this device can open it, and it lets a
  // device that lost WEFT_HOME's keys file (but not its identity) recover the folder.
  await session.request("PUT", `/v1/folders/${folderId}/keys/${identity.deviceId}`, {
    epoch: 0,
    wrappedKey: toBase64Url(wrapKeyForDevice(key, identity.boxPublicKey)),
  });
  await storeFolderKey(home, identity, folderId, 0, key);
  const record: FolderRecord = { folderId, path: abs, relay: session.relay, role: "owner" };
  await home.addFolder(record);
  return record;
}

/**
 * An invite to `folderId`: the relay stores the folder key wrapped with a one-time secret that
 * only the invite string holds. Redeemable once, by any account, within `ttlSeconds`.
 */
export async function createInvite(
  home: Home,
  session: Session,
  identity: DeviceIdentity,
  folderId: FolderId,
  role: "editor" | "viewer",
  ttlSeconds?: number,
  to?: DeviceId,
): Promise<string> {
  const keyring = await loadKeyring(home, identity, folderId, session);
  const epoch = keyring.latestEpoch;
  const key = keyring.folderKey(epoch);
  let wrapped: Uint8Array;
  let secret: string | undefined;
  if (to) {
    const { json: device } = await session.request("GET", `/v1/devices/${to}`);
    wrapped = wrapKeyForDevice(key, fromBase64Url(device["boxPublicKey"] as string));
  } else {
    secret = generateInviteSecret();
    wrapped = wrapKeyWithSecret(key, secret, inviteContext(folderId, epoch));
  }
  const { json } = await session.request("POST", `/v1/folders/${folderId}/invites`, {
    role,
    epoch,
    wrappedKey: toBase64Url(wrapped),
    ...(ttlSeconds ? { ttlSeconds } : {}),
  });
  const invite: Invite = {
    relay: session.relay,
    folderId,
    inviteId: json["inviteId"] as string,
    ...(secret ? { secret } : { to }),
  };
  return INVITE_PREFIX + toBase64Url(utf8Encoder.encode(JSON.stringify(invite)));
}

/** Reads an invite string. @throws AgentError USAGE when it is not one */
export function parseInvite(text: string): Invite {
  const bad = () => new AgentError("USAGE", "that is not a weft invite (it starts with weft1:)");
  if (!text.startsWith(INVITE_PREFIX)) throw bad();
  let invite: Invite;
  try {
    invite = JSON.parse(
      utf8Decoder.decode(fromBase64Url(text.slice(INVITE_PREFIX.length))),
    ) as Invite;
  } catch {
    throw bad();
  }
  if (
    typeof invite?.relay !== "string" ||
    !isFolderId(invite.folderId) ||
    typeof invite.inviteId !== "string" ||
    (typeof invite.secret !== "string" && typeof invite.to !== "string")
  )
    throw bad();
  return { ...invite, relay: normalizeRelayUrl(invite.relay) };
}

/** Redeems an invite for this device's account and starts syncing `path` into the folder. */
export async function joinFolder(
  home: Home,
  session: Session,
  identity: DeviceIdentity,
  invite: Invite,
  path: string,
): Promise<FolderRecord> {
  if (invite.to !== undefined && invite.to !== identity.deviceId)
    throw new AgentError(
      "AUTH",
      `this invite is for device ${invite.to}; this device is ${identity.deviceId}`,
    );
  const abs = await folderPath(path);
  const { json } = await session.request("POST", `/v1/invites/${invite.inviteId}/redeem`, {});
  const epoch = json["epoch"] as number;
  const wrapped = fromBase64Url(json["wrappedKey"] as string);
  let key: Uint8Array;
  try {
    key = invite.secret
      ? unwrapKeyWithSecret(wrapped, invite.secret, inviteContext(invite.folderId, epoch))
      : unwrapKeyForDevice(wrapped, identity.boxPublicKey, identity.boxSecretKey);
  } catch (error) {
    throw new AgentError(
      "AUTH",
      "the invite's secret does not open the folder key (was it copied whole?)",
      {
        cause: error,
      },
    );
  }
  await storeFolderKey(home, identity, invite.folderId, epoch, key);
  const role = json["role"] as FolderRecord["role"];
  if (role !== "viewer")
    await session
      .request("PUT", `/v1/folders/${invite.folderId}/keys/${identity.deviceId}`, {
        epoch,
        wrappedKey: toBase64Url(wrapKeyForDevice(key, identity.boxPublicKey)),
      })
      .catch(() => undefined); // a convenience for recovery, not needed to sync
  const record: FolderRecord = { folderId: invite.folderId, path: abs, relay: invite.relay, role };
  await home.addFolder(record);
  return record;
}
