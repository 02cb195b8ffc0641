/** Folders and their keys: create a folder, invite someone to it, join it, and keep its keys at rest sealed to this device. */
import { mkdir, realpath, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  fromBase64Url,
  toBase64Url,
  unwrapKeyForDevice,
  wrapKeyForDevice,
} from "@weft/crypto";
import {
  type Consistency,
  ProtocolError,
  type RefusedKey,
  type RelayInvite,
  encodeInvite,
  parseInvite as parseInviteText,
} from "@weft/core";
import { type AccountLogin, agentError, relayCall } from "../account/index.js";
import {
  AgentError,
  type FolderRecord,
  type Home,
  normalizeRelayUrl,
  readJson,
  withLock,
  writeJsonPrivate,
} from "../home/index.js";

/** A folder key as stored under WEFT_HOME: sealed to this device's box key. */
interface StoredKey {
  epoch: number;
  wrapped: string;
}

/**
 * What an invite carries (core's format, `weft1:…`). The secret unwraps the folder key and the
 * relay never sees it; an invite made `--to` one device has no secret: the key is sealed to that
 * device's public key.
 */
export type Invite = RelayInvite;

/** A folder's settings as this device keeps them (`settings.json` beside its keys). */
export interface FolderSettings {
  /**
   * Chosen when the folder was created; taken from its owner-signed metadata when this device
   * joined (or, for a folder made before metadata existed, from the invite).
   */
  consistency: Consistency;
  /**
   * The folder's signed metadata as this device checked it (core's folder-meta.ts), absent for
   * a folder made before it existed: the relay must keep serving exactly this record.
   */
  meta?: string;
}

function settingsPath(home: Home, folderId: FolderId): string {
  return join(home.folderDir(folderId), "settings.json");
}

/** The folder's settings (eventual consistency when none were kept: folders made before them). */
export async function folderSettings(home: Home, folderId: FolderId): Promise<FolderSettings> {
  const stored = await readJson<Partial<FolderSettings>>(settingsPath(home, folderId));
  return {
    consistency: stored?.consistency === "strong" ? "strong" : "eventual",
    ...(typeof stored?.meta === "string" ? { meta: stored.meta } : {}),
  };
}

/**
 * The folder's consistency mode, checked against its owner-signed metadata on the relay: the
 * record must be the one this device checked before (or, kept by none yet, verify now, and is
 * then kept), and its mode must be the one this device has been using. A folder with no record
 * (made before records existed) keeps its settings' mode.
 * @throws AgentError AUTH when the record is forged, changed or gone, or names another mode
 */
export async function checkedConsistency(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  keyring: FolderKeyring,
): Promise<Consistency> {
  const folderId = keyring.folderId;
  const settings = await folderSettings(home, folderId);
  const verified = await relayCall(() =>
    session
      .account(identity)
      .folderMetadata(keyring, settings.meta !== undefined ? { known: settings.meta } : {}),
  );
  if (!verified) return settings.consistency;
  const mode = verified.metadata.consistency;
  if (mode !== settings.consistency)
    throw new AgentError(
      "AUTH",
      `folder ${folderId}'s signed metadata says ${mode} consistency, but this device has used ` +
        `it as ${settings.consistency}; refusing to go on (WEFT_HOME/folders/${folderId}/` +
        `settings.json was changed, or the folder's record was)`,
    );
  if (settings.meta === undefined)
    await storeFolderSettings(home, folderId, { consistency: mode, meta: verified.record });
  return mode;
}

async function storeFolderSettings(
  home: Home,
  folderId: FolderId,
  settings: FolderSettings,
): Promise<void> {
  await mkdir(home.folderDir(folderId), { recursive: true, mode: 0o700 });
  await writeJsonPrivate(settingsPath(home, folderId), settings);
}

function keysPath(home: Home, folderId: FolderId): string {
  return join(home.folderDir(folderId), "keys.json");
}

/**
 * Stores a folder key sealed to this device, unless it already holds one for that epoch: a key
 * once held is never replaced (a replacement is how a planted key would get in).
 */
export async function storeFolderKey(
  home: Home,
  identity: DeviceIdentity,
  folderId: FolderId,
  epoch: number,
  key: Uint8Array,
): Promise<void> {
  const path = keysPath(home, folderId);
  // Under a lock: the daemon (a new epoch at reconnect) and a command (a rotation it made) may
  // both add a key at once.
  await mkdir(home.folderDir(folderId), { recursive: true, mode: 0o700 });
  await withLock(home.lockPath(`keys-${folderId}`), async () => {
    const stored = (await readJson<StoredKey[]>(path)) ?? [];
    if (stored.some((k) => k.epoch === epoch)) return;
    stored.push({ epoch, wrapped: toBase64Url(wrapKeyForDevice(key, identity.boxPublicKey)) });
    stored.sort((a, b) => a.epoch - b.epoch);
    await writeJsonPrivate(path, stored);
  });
}

/** Stores every key of `keyring` not stored yet (see {@link storeFolderKey}). */
export async function storeKeyring(
  home: Home,
  identity: DeviceIdentity,
  keyring: FolderKeyring,
): Promise<void> {
  const stored = new Set(
    ((await readJson<StoredKey[]>(keysPath(home, keyring.folderId))) ?? []).map((k) => k.epoch),
  );
  for (const epoch of keyring.epochs)
    if (!stored.has(epoch))
      await storeFolderKey(home, identity, keyring.folderId, epoch, keyring.folderKey(epoch));
}

/**
 * The folder's keyring: the keys stored here, plus, when a session is given, those the relay
 * holds for this device that it can prove (`RelayAccount.folderKeys`): a newer epoch's key only
 * through its owner-signed announcement chaining back to a key held here, older ones (content
 * from before this device joined) down the chain. A stored key always wins. Keys offered but
 * not adopted go to `onRefused`. Keys adopted from the relay are stored here too, unless
 * `options.store` is false (a command that leaves no state behind).
 * @throws AgentError NOT_READY when this device has no key of the folder; RELAY (403) when the
 * relay refuses this device the folder
 */
export async function loadKeyring(
  home: Home,
  identity: DeviceIdentity,
  folderId: FolderId,
  session?: AccountLogin,
  onRefused?: (refused: RefusedKey) => void,
  options: { store?: boolean } = {},
): Promise<FolderKeyring> {
  const keyring = new FolderKeyring(folderId);
  for (const k of (await readJson<StoredKey[]>(keysPath(home, folderId))) ?? [])
    keyring.add(
      k.epoch,
      unwrapKeyForDevice(fromBase64Url(k.wrapped), identity.boxPublicKey, identity.boxSecretKey),
    );
  if (session) {
    let held: FolderKeyring | undefined;
    try {
      held = await session.account(identity).folderKeys(folderId, keyring, onRefused);
    } catch (error) {
      // Offline, or the relay is down: the stored keys are enough to sync later.
      if (!(error instanceof ProtocolError) || error.wireCode === "forbidden")
        throw agentError(error);
    }
    for (const epoch of held?.epochs ?? []) {
      if (keyring.has(epoch) || !held) continue;
      const key = held.folderKey(epoch);
      keyring.add(epoch, key);
      if (options.store ?? true) await storeFolderKey(home, identity, folderId, epoch, key);
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
  return (await preparedFolderPath(path)).path;
}

/**
 * Like folderPath, and says which directory it created (the topmost one), so that a step that
 * fails later can take it away again. @throws AgentError USAGE when `path` is not a directory
 */
async function preparedFolderPath(path: string): Promise<{ path: string; made?: string }> {
  const abs = resolve(path);
  const made = await mkdir(abs, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "EEXIST" || error.code === "ENOTDIR")
      throw new AgentError("USAGE", `${path} is not a directory`);
    throw error;
  });
  const info = await stat(abs);
  if (!info.isDirectory()) throw new AgentError("USAGE", `${path} is not a directory`);
  return { path: await realpath(abs), ...(made ? { made } : {}) };
}

/** Removes the empty directories from `path` up to `made` (those folderPath created). */
async function unmake(path: string, made: string): Promise<void> {
  for (let dir = resolve(path); dir.startsWith(made); dir = dirname(dir)) {
    // rmdir refuses a directory that is not empty: anything someone put there meanwhile stays.
    if (
      !(await rmdir(dir).then(
        () => true,
        () => false,
      ))
    )
      return;
    if (dir === made) return;
  }
}

/**
 * Creates a folder on the relay with a fresh key and starts syncing `path` into it. Everything
 * that can be checked here is checked before the relay is asked (the path, an overlap with a
 * synced folder); when a step fails, what this call made is taken away again: the directory it
 * created, the key it stored under WEFT_HOME. (The relay has no call to delete a folder: one
 * created just before a local failure stays there, empty, unused.)
 */
export async function createFolder(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  path: string,
  consistency: Consistency = "eventual",
): Promise<FolderRecord> {
  const { path: abs, made } = await preparedFolderPath(path);
  let folderId: FolderId | undefined;
  try {
    home.checkNewFolder(await home.folders(), abs);
    // The relay also keeps the key sealed to this device: only this device can open it, and it
    // lets a device that lost WEFT_HOME's keys file (but not its identity) recover the folder.
    // The mode goes into the folder's owner-signed metadata, kept by the relay with the folder:
    // every device that joins takes it from there, not from its invite.
    const created = await relayCall(() =>
      session.account(identity).createFolder(undefined, { consistency }),
    );
    folderId = created.folderId;
    await storeFolderKey(home, identity, folderId, 0, created.keyring.folderKey(0));
    await storeFolderSettings(home, folderId, { consistency, meta: created.meta });
    const record: FolderRecord = { folderId, path: abs, relay: session.relay, role: "owner" };
    await home.addFolder(record);
    return record;
  } catch (error) {
    if (folderId !== undefined)
      await rm(home.folderDir(folderId), { recursive: true, force: true });
    if (made) await unmake(abs, made);
    throw error;
  }
}

/**
 * An invite to `folderId`: the relay stores the folder key wrapped with a one-time secret that
 * only the invite string holds. Redeemable once, by any account, within `ttlSeconds`.
 */
export async function createInvite(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
  role: "editor" | "viewer",
  ttlSeconds?: number,
  to?: DeviceId,
): Promise<string> {
  const keyring = await loadKeyring(home, identity, folderId, session);
  // A member or device removed since the last key change: the key must change before anyone
  // is given it (this device makes the next one, as an owner's).
  await relayCall(() => session.account(identity).completeRotation(keyring));
  await storeKeyring(home, identity, keyring);
  const invite = await relayCall(() =>
    session.account(identity).createInvite(keyring, {
      role,
      ...(ttlSeconds ? { ttlSeconds } : {}),
      ...(to ? { to } : {}),
    }),
  );
  const { consistency } = await folderSettings(home, folderId);
  return consistency === "strong"
    ? encodeInvite({ ...parseInviteText(invite), consistency })
    : invite;
}

/** Reads an invite string. @throws AgentError USAGE when it is not one */
export function parseInvite(text: string): Invite {
  let invite: Invite;
  try {
    invite = parseInviteText(text);
  } catch {
    throw new AgentError("USAGE", "that is not a weft invite (it starts with weft1:)");
  }
  return { ...invite, relay: normalizeRelayUrl(invite.relay) };
}

/** Redeems an invite for this device's account and starts syncing `path` into the folder. */
export async function joinFolder(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  invite: Invite,
  path: string,
): Promise<FolderRecord> {
  checkInviteDevice(invite, identity);
  const abs = await folderPath(path);
  const role = await redeem(home, session, identity, invite);
  const record: FolderRecord = { folderId: invite.folderId, path: abs, relay: invite.relay, role };
  await home.addFolder(record);
  return record;
}

/**
 * Redeems an invite for this device's account and keeps the folder key here, without syncing
 * the folder anywhere: for `weft ls|get|put|rm|mv`. Returns the role the invite gave.
 */
export async function joinAsMember(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  invite: Invite,
): Promise<FolderRecord["role"]> {
  checkInviteDevice(invite, identity);
  const role = await redeem(home, session, identity, invite);
  await home.recordMember({ folderId: invite.folderId, relay: invite.relay, role });
  return role;
}

/** @throws AgentError AUTH when the invite is sealed to another device */
function checkInviteDevice(invite: Invite, identity: DeviceIdentity): void {
  if (invite.to !== undefined && invite.to !== identity.deviceId)
    throw new AgentError(
      "AUTH",
      `this invite is for device ${invite.to}; this device is ${identity.deviceId}`,
    );
}

/** Redeems the invite and stores its key sealed to this device; returns the role. */
async function redeem(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  invite: Invite,
): Promise<FolderRecord["role"]> {
  // Also stores the key sealed to this device on the relay (not for viewers), for recovery.
  const held = await stat(home.folderDir(invite.folderId)).then(
    () => true,
    () => false,
  );
  const { keyring, role } = await relayCall(() => session.account(identity).redeemInvite(invite));
  try {
    const settings = await joinedSettings(session, identity, keyring, invite);
    const epoch = keyring.latestEpoch;
    await storeFolderKey(home, identity, invite.folderId, epoch, keyring.folderKey(epoch));
    await storeFolderSettings(home, invite.folderId, settings);
  } catch (error) {
    // Nothing of a folder whose mode cannot be vouched for stays on this device.
    if (!held) await rm(home.folderDir(invite.folderId), { recursive: true, force: true });
    throw error;
  }
  return role;
}

/**
 * A joined folder's settings: the mode from its owner-signed metadata, which the relay keeps
 * and cannot forge (an invite is text anyone passing it on could edit). An invite naming
 * another mode than the record is refused, as is one naming strong for a folder with no record
 * (a relay hiding it); with neither, the folder predates records and is eventual.
 * @throws AgentError AUTH
 */
async function joinedSettings(
  session: AccountLogin,
  identity: DeviceIdentity,
  keyring: FolderKeyring,
  invite: Invite,
): Promise<FolderSettings> {
  const verified = await relayCall(() => session.account(identity).folderMetadata(keyring));
  const said = invite.consistency === "strong" ? "strong" : undefined;
  if (!verified) {
    if (said)
      throw new AgentError(
        "AUTH",
        `the invite says folder ${invite.folderId} has strong consistency, but the relay holds ` +
          "no signed metadata for it; not joining (ask the folder's owner)",
      );
    return { consistency: "eventual" };
  }
  const mode = verified.metadata.consistency;
  if (said && said !== mode)
    throw new AgentError(
      "AUTH",
      `the invite says folder ${invite.folderId} has ${said} consistency, but its signed ` +
        `metadata says ${mode}; not joining (the invite was changed)`,
    );
  return { consistency: mode, meta: verified.record };
}
