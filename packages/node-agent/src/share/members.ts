/**
 * Members and devices from the agent: who holds a folder, roles, removing a member or a lost
 * device, and the key rotation that follows, made here when this account owns the folder and
 * its new key kept under WEFT_HOME at once (a running daemon is told by the relay, reconnects
 * and adopts it).
 */
import type { DeviceId, DeviceIdentity, FolderId, FolderKeyring } from "@weft/crypto";
import type { AccountDevice, FolderMembers, FolderRole, RotationResult } from "@weft/core";
import { type AccountLogin, agentError, relayCall } from "../account/index.js";
import { AgentError, type Home } from "../home/index.js";
import { loadKeyring, storeKeyring } from "./index.js";

/** The folder's keyring for a rotation: this device's own when it syncs it, else the relay's. */
async function keyringFor(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
): Promise<FolderKeyring> {
  const synced = (await home.folders()).some((f) => f.folderId === folderId);
  if (synced) return loadKeyring(home, identity, folderId, session);
  return relayCall(() => session.account(identity).folderKeys(folderId));
}

/** Stores the keyring's keys here when the folder syncs here. */
async function keep(home: Home, identity: DeviceIdentity, keyring: FolderKeyring): Promise<void> {
  if ((await home.folders()).some((f) => f.folderId === keyring.folderId))
    await storeKeyring(home, identity, keyring);
}

/** The folder's members, roles and key-holding devices. */
export function folderMembers(
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
): Promise<FolderMembers> {
  return relayCall(() => session.account(identity).members(folderId));
}

/** Gives `user` another role in the folder (owners only; the last owner cannot step down). */
export async function setMemberRole(
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
  user: string,
  role: FolderRole,
): Promise<void> {
  await relayCall(() => session.account(identity).setRole(folderId, user, role));
}

/**
 * Removes `user` from the folder and changes its key from this device: the relay cuts them off,
 * this device makes the next epoch's key, wraps it to every remaining member device and
 * announces it. If this is interrupted after the removal, the relay keeps the rotation due and
 * the next owner start (`weft sync`, `weft folder invite`, or this command again) finishes it.
 */
export async function removeMember(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
  user: string,
): Promise<RotationResult> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(user))
    throw new AgentError("USAGE", `not a user name: ${user}`);
  const keyring = await keyringFor(home, session, identity, folderId);
  const account = session.account(identity);
  try {
    await account.request("DELETE", `/v1/folders/${folderId}/members/${user.toLowerCase()}`);
  } catch (error) {
    // Removed already by an earlier run that could not change the key: finish that.
    const due =
      (error as { wireCode?: string }).wireCode === "not_found" &&
      (await account.folder(folderId).then(
        (f) => f.rotationDue,
        () => false,
      ));
    if (!due) throw agentError(error);
  }
  let result: RotationResult;
  try {
    result = await account.completeRotation(keyring);
  } catch (error) {
    const mapped = agentError(error) as Error;
    throw new AgentError(
      mapped instanceof AgentError ? mapped.code : "RELAY",
      `${user} was removed, but changing the folder's key failed (${mapped.message}); the change stays due: run this command again, or weft sync, to finish it`,
      { cause: error },
    );
  }
  await keep(home, identity, keyring);
  return result;
}

/** Finishes a key rotation the folder owes, when this account owns it; adopts a newer key otherwise. */
export async function completeRotation(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
): Promise<RotationResult> {
  const keyring = await keyringFor(home, session, identity, folderId);
  const result = await relayCall(() => session.account(identity).completeRotation(keyring));
  await keep(home, identity, keyring);
  return result;
}

/** This account's devices on the session's relay. */
export function listDevices(
  session: AccountLogin,
  identity: DeviceIdentity,
): Promise<AccountDevice[]> {
  return relayCall(() => session.account(identity).devices());
}

/** Names this device for people (shown in device lists and member lists). */
export async function nameDevice(
  session: AccountLogin,
  identity: DeviceIdentity,
  name: string | null,
): Promise<void> {
  await relayCall(() => session.account(identity).nameDevice(name));
}

/** What happened to each folder a removed device held. */
export interface RemovedDeviceFolder {
  folderId: FolderId;
  /** This account's role there (null: no longer a member). */
  role: FolderRole | null;
  /** The folder's key epoch after this command. */
  epoch: number | null;
  /** Whether this device changed the key. */
  rotated: boolean;
  /** Why the key could not be changed here (another owner's device will), if it was not. */
  pending: string | null;
}

/**
 * Removes another device of this account (a lost laptop): the relay cuts it off at once, and
 * this device changes the key of every folder it held that this account owns. Folders owned by
 * others owe a rotation their owners' devices complete.
 */
export async function removeDevice(
  home: Home,
  session: AccountLogin,
  identity: DeviceIdentity,
  deviceId: DeviceId,
): Promise<RemovedDeviceFolder[]> {
  const { folders } = await relayCall(() => session.account(identity).removeDevice(deviceId));
  const out: RemovedDeviceFolder[] = [];
  for (const { folderId, role } of folders) {
    if (role !== "owner") {
      out.push({ folderId, role, epoch: null, rotated: false, pending: "an owner's device" });
      continue;
    }
    try {
      const result = await completeRotation(home, session, identity, folderId);
      out.push({ folderId, role, epoch: result.epoch, rotated: result.rotated, pending: null });
    } catch (error) {
      out.push({ folderId, role, epoch: null, rotated: false, pending: (error as Error).message });
    }
  }
  return out;
}
