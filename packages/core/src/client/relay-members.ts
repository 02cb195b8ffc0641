/**
 * The member and device calls of RelayAccount: who holds a folder, roles, removing a member or
 * a lost device, and the key rotation that follows (the next epoch's key made on this device,
 * wrapped to every remaining member device, announced in a record this device signs), and the
 * adoption of keys from the relay through those announcements (key-chain.ts).
 */
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  deviceIdFromSignPublicKey,
  generateFolderKey,
  isDeviceId,
  isFolderId,
  toBase64Url,
  unwrapKeyForDevice,
  wrapKeyForDevice,
} from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import {
  type EpochRecord,
  decodeEpochRecord,
  encodeEpochRecord,
  makeEpochRecord,
} from "./epoch-record.js";
import { extendKeyring } from "./key-chain.js";
import { bytesField, field } from "./relay-http.js";

/** A member's role in a folder. */
export type FolderRole = "owner" | "editor" | "viewer";

/** What these calls use of a RelayAccount: its device and its authorized requests. */
interface RelayAccount {
  readonly identity: DeviceIdentity;
  request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
}

/** A folder as the relay reports it to a member. */
export interface FolderState {
  folderId: FolderId;
  /** The current key epoch. */
  epoch: number;
  headSeq: number;
  /** This account's role. */
  role: FolderRole;
  /** A member or member device was removed and no owner has made the next epoch's key yet. */
  rotationDue: boolean;
  /**
   * The folder's owner-signed metadata as the relay keeps it (folder-meta.ts), unverified; null
   * for a folder created before metadata existed. {@link RelayAccount.folderMetadata} checks it.
   */
  meta: string | null;
}

/** A device of a member that holds the folder's key. */
export interface FolderMemberDevice {
  deviceId: DeviceId;
  /** Its human name (`weft device name`), or null. */
  name: string | null;
  /** The newest epoch it holds a key for. */
  keyEpoch: number;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

/** A member of a folder. */
export interface FolderMemberInfo {
  user: string;
  role: FolderRole;
  devices: FolderMemberDevice[];
}

/** A folder's members, from {@link RelayAccount.members}. */
export interface FolderMembers {
  epoch: number;
  rotationDue: boolean;
  members: FolderMemberInfo[];
}

/** One of this account's devices, from {@link RelayAccount.devices}. */
export interface AccountDevice {
  deviceId: DeviceId;
  name: string | null;
  /** When it was registered (ms since the epoch). */
  created: number;
  /** When it was removed, or null. */
  removed: number | null;
  /** Whether it is the device asking. */
  current: boolean;
}

/** What a key rotation did, from {@link RelayAccount.rotateFolderKey}. */
export interface RotationResult {
  /** The folder's epoch now (this device holds its key). */
  epoch: number;
  /** Whether this device made it (false: it was not due, or another owner made it first). */
  rotated: boolean;
  /** The devices the new key was wrapped to (when this device made it). */
  devices: DeviceId[];
}

/** A folder key this device was offered but did not adopt, and why. */
export interface RefusedKey {
  epoch: number;
  reason: string;
}

const ROLES: readonly string[] = ["owner", "editor", "viewer"];

function role(value: unknown, answer: string): FolderRole {
  if (typeof value !== "string" || !ROLES.includes(value))
    throw new ProtocolError("bad_frame", `the ${answer} answer has an unknown role`);
  return value as FolderRole;
}

function checkFolderId(folderId: FolderId): void {
  if (!isFolderId(folderId)) throw new WeftError("INVALID_ARGUMENT", "not a folder id");
}

/** RelayAccount.folder. */
export async function folderState(account: RelayAccount, folderId: FolderId): Promise<FolderState> {
  checkFolderId(folderId);
  const json = await account.request("GET", `/v1/folders/${folderId}`);
  return {
    folderId,
    epoch: field(json, "epoch", "folder", "number"),
    headSeq: field(json, "headSeq", "folder", "number"),
    role: role(json["role"], "folder"),
    rotationDue: json["rotationDue"] === true,
    meta: typeof json["meta"] === "string" ? json["meta"] : null,
  };
}

/** RelayAccount.members. */
export async function listMembers(
  account: RelayAccount,
  folderId: FolderId,
): Promise<FolderMembers> {
  checkFolderId(folderId);
  const json = await account.request("GET", `/v1/folders/${folderId}/members`);
  const list = json["members"];
  if (!Array.isArray(list)) throw new ProtocolError("bad_frame", "the members answer has no list");
  const members = (list as unknown[]).map((entry): FolderMemberInfo => {
    const m = (entry ?? {}) as Record<string, unknown>;
    const devices = Array.isArray(m["devices"]) ? (m["devices"] as unknown[]) : [];
    return {
      user: field(m, "user", "members", "string"),
      role: role(m["role"], "members"),
      devices: devices.map((value): FolderMemberDevice => {
        const d = (value ?? {}) as Record<string, unknown>;
        const deviceId = field(d, "deviceId", "members", "string");
        const signPublicKey = bytesField(d, "signPublicKey", "members", 32);
        // A device id is the hash of its signing key: the relay cannot swap that key unnoticed.
        if (!isDeviceId(deviceId) || deviceIdFromSignPublicKey(signPublicKey) !== deviceId)
          throw new ProtocolError("bad_frame", "the members answer has keys of another device");
        return {
          deviceId,
          name: typeof d["name"] === "string" ? d["name"] : null,
          keyEpoch: field(d, "keyEpoch", "members", "number"),
          signPublicKey,
          boxPublicKey: bytesField(d, "boxPublicKey", "members", 32),
        };
      }),
    };
  });
  return {
    epoch: field(json, "epoch", "members", "number"),
    rotationDue: json["rotationDue"] === true,
    members,
  };
}

/** The folder's announcements above `after`, by epoch; malformed ones left out. */
async function announcements(
  account: RelayAccount,
  folderId: FolderId,
  after = 0,
): Promise<Map<number, EpochRecord>> {
  const json = await account.request("GET", `/v1/folders/${folderId}/epochs?after=${after}`);
  const list = Array.isArray(json["epochs"]) ? (json["epochs"] as unknown[]) : [];
  const out = new Map<number, EpochRecord>();
  for (const entry of list) {
    const e = (entry ?? {}) as Record<string, unknown>;
    try {
      const record = decodeEpochRecord(e["record"] as string);
      if (record.folderId === folderId && record.epoch === e["epoch"])
        out.set(record.epoch, record);
    } catch {
      // a record that does not parse proves nothing: the keys it would bring are not adopted
    }
  }
  return out;
}

/**
 * RelayAccount.folderKeys: the keys the relay holds for this device (up to the folder's current
 * epoch), adopted only as key-chain.ts allows, added to a copy of `held`.
 */
export async function fetchFolderKeys(
  account: RelayAccount,
  folderId: FolderId,
  held: FolderKeyring | undefined,
  onRefused?: (refused: RefusedKey) => void,
): Promise<FolderKeyring> {
  checkFolderId(folderId);
  const { epoch: current } = await folderState(account, folderId);
  const json = await account.request("GET", `/v1/folders/${folderId}/keys`);
  const keys = json["keys"];
  if (!Array.isArray(keys)) throw new ProtocolError("bad_frame", "the keys answer has no list");
  const keyring = new FolderKeyring(folderId);
  for (const epoch of held?.epochs ?? []) keyring.add(epoch, held!.folderKey(epoch));
  const rows = new Map<number, Uint8Array>();
  for (const entry of keys as unknown[]) {
    const k = (entry ?? {}) as Record<string, unknown>;
    const epoch = field(k, "epoch", "keys", "number");
    // A device writes with its newest key: a row above the folder's epoch would be that.
    if (epoch > current) continue;
    const wrapped = bytesField(k, "wrappedKey", "keys");
    try {
      rows.set(epoch, unwrap(account, wrapped));
    } catch {
      onRefused?.({ epoch, reason: "it does not open with this device's key" });
    }
  }
  const newest = keyring.epochs.length > 0 ? keyring.latestEpoch : -1;
  const needRecords = current > 0 && (newest < current || keyring.epochs[0] !== 0);
  const records = needRecords ? await announcements(account, folderId) : new Map();
  let owners: Set<DeviceId> | undefined;
  if ([...rows.keys()].some((e) => e > Math.max(newest, 0))) {
    const { members } = await listMembers(account, folderId);
    owners = new Set(
      members.filter((m) => m.role === "owner").flatMap((m) => m.devices.map((d) => d.deviceId)),
    );
  }
  const result = extendKeyring({
    keyring,
    deviceId: account.identity.deviceId,
    rows,
    records,
    isOwnerDevice: (d) => owners?.has(d) === true,
  });
  for (const r of result.refused) onRefused?.(r);
  return keyring;
}

function unwrap(account: RelayAccount, wrapped: Uint8Array): Uint8Array {
  const { boxPublicKey, boxSecretKey } = account.identity;
  return unwrapKeyForDevice(wrapped, boxPublicKey, boxSecretKey);
}

/** Adds every key of `from` that `to` lacks (the same folder's keyrings). */
export function mergeKeyring(to: FolderKeyring, from: FolderKeyring): number[] {
  const added: number[] = [];
  for (const epoch of from.epochs)
    if (!to.has(epoch)) {
      to.add(epoch, from.folderKey(epoch));
      added.push(epoch);
    }
  return added;
}

/**
 * RelayAccount.rotateFolderKey: starts the folder's next epoch from this device (an owner's),
 * or, with `onlyIfDue`, only when a removal left one owed. The new key is added to `keyring`
 * (so a Replica holding it seals new content under it at once). When another owner started the
 * epoch first, their key is adopted instead.
 */
export async function rotate(
  account: RelayAccount,
  keyring: FolderKeyring,
  options: { onlyIfDue?: boolean } = {},
): Promise<RotationResult> {
  const folderId = keyring.folderId;
  const state = await folderState(account, folderId);
  const adopt = async (): Promise<RotationResult> => {
    mergeKeyring(keyring, await fetchFolderKeys(account, folderId, keyring));
    return { epoch: (await folderState(account, folderId)).epoch, rotated: false, devices: [] };
  };
  if (options.onlyIfDue && !state.rotationDue) {
    if (!keyring.has(state.epoch)) return adopt();
    return { epoch: state.epoch, rotated: false, devices: [] };
  }
  if (state.role !== "owner")
    throw new ProtocolError("forbidden", "only an owner can change the folder's key");
  if (!keyring.has(state.epoch))
    mergeKeyring(keyring, await fetchFolderKeys(account, folderId, keyring));
  if (keyring.epochs.length === 0)
    throw new WeftError("INVALID_ARGUMENT", `this device holds no key of folder ${folderId}`);
  const previousEpoch = keyring.latestEpoch;
  if (previousEpoch > state.epoch)
    throw new WeftError("INVALID_ARGUMENT", "the keyring holds a key above the folder's epoch");
  const { members } = await listMembers(account, folderId);
  const me = account.identity;
  const boxes = new Map<DeviceId, Uint8Array>([[me.deviceId, me.boxPublicKey]]);
  for (const m of members) for (const d of m.devices) boxes.set(d.deviceId, d.boxPublicKey);
  const epoch = state.epoch + 1;
  const key = generateFolderKey();
  const record = makeEpochRecord({
    folderId,
    epoch,
    key,
    previousEpoch,
    previousKey: keyring.folderKey(previousEpoch),
    devices: [...boxes.keys()],
    signer: me,
  });
  const wrapped: Record<string, string> = {};
  for (const [deviceId, box] of boxes) wrapped[deviceId] = toBase64Url(wrapKeyForDevice(key, box));
  try {
    await account.request("PUT", `/v1/folders/${folderId}/epochs/${epoch}`, {
      record: encodeEpochRecord(record),
      keys: wrapped,
    });
  } catch (error) {
    // Another owner started this epoch first: theirs is the key.
    if (error instanceof ProtocolError && error.wireCode === "conflict") return adopt();
    throw error;
  }
  keyring.add(epoch, key);
  return { epoch, rotated: true, devices: record.devices };
}

/** RelayAccount.devices. */
export async function listDevices(account: RelayAccount): Promise<AccountDevice[]> {
  const json = await account.request("GET", "/v1/devices");
  const list = Array.isArray(json["devices"]) ? (json["devices"] as unknown[]) : [];
  return list.map((value) => {
    const d = (value ?? {}) as Record<string, unknown>;
    const deviceId = field(d, "deviceId", "devices", "string");
    if (!isDeviceId(deviceId))
      throw new ProtocolError("bad_frame", "the devices answer has a bad id");
    return {
      deviceId,
      name: typeof d["name"] === "string" ? d["name"] : null,
      created: field(d, "created", "devices", "number"),
      removed: typeof d["removed"] === "number" ? d["removed"] : null,
      current: d["current"] === true,
    };
  });
}

/** RelayAccount.removeDevice. */
export async function removeDevice(
  account: RelayAccount,
  deviceId: DeviceId,
): Promise<{ folders: { folderId: FolderId; role: FolderRole | null }[] }> {
  if (!isDeviceId(deviceId)) throw new WeftError("INVALID_ARGUMENT", "not a device id");
  const json = await account.request("DELETE", `/v1/devices/${deviceId}`);
  const list = Array.isArray(json["folders"]) ? (json["folders"] as unknown[]) : [];
  return {
    folders: list.map((value) => {
      const f = (value ?? {}) as Record<string, unknown>;
      const folderId = field(f, "folderId", "remove device", "string");
      if (!isFolderId(folderId)) throw new ProtocolError("bad_frame", "a folder id is malformed");
      return { folderId, role: f["role"] === null ? null : role(f["role"], "remove device") };
    }),
  };
}
