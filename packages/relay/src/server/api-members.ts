/**
 * The relay's API for who holds a folder: its members and their roles (at least one owner
 * always), the member devices that hold its key, removing a member, the owner-signed
 * announcements that start each key epoch, and an account's devices (name one, remove a lost
 * one). Keys stay opaque: the relay checks who may announce an epoch and for whom keys are
 * wrapped, never anything that unwraps them.
 */
import { ProtocolError, decodeEpochRecord, verifyEpochRecord, MAX_EPOCH_DEVICES } from "@weft/core";
import {
  type DeviceId,
  type FolderId,
  MAX_EPOCH,
  constantTimeEqual,
  fromBase64Url,
  isDeviceId,
  toBase64Url,
} from "@weft/crypto";
import type uWS from "uWebSockets.js";
import type { MetaStore, Role } from "../store/index.js";
import {
  type AccessContext,
  JSON_LIMIT,
  authorize,
  folderParam,
  requireRole,
  routes,
} from "./access.js";
import { type HttpRequest, field, json, jsonBody } from "./http.js";

/** An epoch's announcement and its keys: about 250 bytes per device, for up to 4096 devices. */
const EPOCH_LIMIT = 2 * 1024 * 1024;
const WRAPPED_KEY_MAX_BYTES = 1024;
const NAME_MAX_CHARS = 64;
const USER = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** What the member routes use of the API's context (`ApiContext` has all of it). */
export interface MemberApiContext extends AccessContext {
  audit: (event: string, fields: Record<string, unknown>) => void;
  /** A member was removed: their open sessions on the folder end at once. */
  memberRemoved?: (folderId: FolderId, accountId: string) => void;
  /** A device was removed from its account: its open sessions end at once. */
  deviceRemoved?: (accountId: string, deviceId: DeviceId) => void;
  /** The folder owes a key rotation: its owners' open sessions are told (they reconnect and make it). */
  rotationDue?: (folderId: FolderId) => void;
  /** The folder moved to a new key epoch: every open session on it reconnects for the new key. */
  epochChanged?: (folderId: FolderId) => void;
}

/** Registers the member, epoch and device-management routes on `app`. */
export function registerMemberApi(app: uWS.TemplatedApp, ctx: MemberApiContext): void {
  const { meta } = ctx;
  const r = routes(app, ctx);
  const member = async (req: HttpRequest, least: Role) => {
    const who = await authorize(ctx, req);
    const folderId = folderParam(req);
    return { who, folderId, role: await requireRole(meta, folderId, who.sub, least) };
  };

  // ---- members ----
  // Every member sees who else holds the folder: user names, roles, and the devices that hold
  // its key (with their public keys, which an owner wraps the next epoch's key to).
  r("get", "/v1/folders/:folderId/members", 0, async (req) => {
    const { folderId } = await member(req, "viewer");
    const folder = await meta.folder(folderId);
    return json(200, {
      epoch: folder?.epoch ?? 0,
      rotationDue: folder?.rotationDue === true,
      members: (await meta.memberDevices(folderId)).map((m) => ({
        user: m.user,
        role: m.role,
        devices: m.devices.map((d) => ({
          deviceId: d.deviceId,
          name: d.name ?? null,
          keyEpoch: d.keyEpoch,
          signPublicKey: toBase64Url(d.signPublicKey),
          boxPublicKey: toBase64Url(d.boxPublicKey),
        })),
      })),
    });
  });

  // Adds a member or changes a member's role. A folder always keeps an owner.
  r("post", "/v1/folders/:folderId/members", JSON_LIMIT, async (req) => {
    const { who, folderId } = await member(req, "owner");
    const body = jsonBody(req.body);
    const account = await meta.accountByUser(userName(body));
    if (!account) throw new ProtocolError("not_found", "no such user");
    const role = body["role"];
    if (role !== "owner" && role !== "editor" && role !== "viewer")
      throw new ProtocolError("bad_frame", 'role must be "owner", "editor" or "viewer"');
    const current = await meta.role(folderId, account.id);
    if (current === "owner" && role !== "owner")
      await requireAnotherOwner(meta, folderId, account.id);
    await meta.setMember(folderId, account.id, role);
    ctx.audit(current ? "member.role" : "member.added", {
      by: who.sub,
      folder: folderId,
      account: account.id,
      role,
    });
    return { status: 204 };
  });

  // Removes a member: their sessions end at once, and the folder owes a new key epoch (the
  // removed member holds the current key), which an owner's device makes and announces.
  r("del", "/v1/folders/:folderId/members/:user", 0, async (req) => {
    const { who, folderId } = await member(req, "owner");
    const user = (req.params[1] ?? "").toLowerCase(); // a-z 0-9 . _ -: nothing to decode
    const account = user.length <= 63 && user !== "" ? await meta.accountByUser(user) : undefined;
    const role = account ? await meta.role(folderId, account.id) : undefined;
    if (!account || !role) throw new ProtocolError("not_found", "no such member");
    if (account.id === who.sub)
      throw new ProtocolError(
        "conflict",
        "an owner cannot remove themself; make another member owner, who can remove you",
      );
    if (role === "owner") await requireAnotherOwner(meta, folderId, account.id);
    await meta.removeMember(folderId, account.id);
    const epoch = (await meta.folder(folderId))?.epoch ?? 0;
    ctx.audit("member.removed", { by: who.sub, folder: folderId, account: account.id, epoch });
    ctx.memberRemoved?.(folderId, account.id);
    ctx.rotationDue?.(folderId);
    return json(200, { epoch, rotationDue: true });
  });

  // ---- key epochs ----
  r("get", "/v1/folders/:folderId/epochs", 0, async (req) => {
    const { folderId } = await member(req, "viewer");
    const after = new URLSearchParams(req.query).get("after");
    const afterEpoch = after === null ? 0 : Number(after);
    if (!Number.isSafeInteger(afterEpoch) || afterEpoch < 0 || afterEpoch > MAX_EPOCH)
      throw new ProtocolError("bad_frame", "after must be an epoch");
    return json(200, {
      epochs: (await meta.epochAnnouncements(folderId, afterEpoch)).map(({ epoch, record }) => ({
        epoch,
        record,
      })),
    });
  });

  // Starts the next key epoch: an owner's device announces it (signed by that device) with the
  // new key wrapped for every member device it lists, all stored at once. Only owners, only the
  // epoch after the current one, and only to devices of members: an editor or a former member
  // cannot plant the key everyone would write with next.
  r("put", "/v1/folders/:folderId/epochs/:epoch", EPOCH_LIMIT, async (req) => {
    const { who, folderId } = await member(req, "owner");
    const epoch = Number(req.params[1]);
    if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH)
      throw new ProtocolError("bad_frame", "the epoch must be an integer from 1");
    if (!who.dev || !isDeviceId(who.dev))
      throw new ProtocolError("bad_frame", "the token is not bound to a device; log in with one");
    const body = jsonBody(req.body);
    const text = field(body, "record", 512 * 1024);
    let record;
    try {
      record = decodeEpochRecord(text);
    } catch (error) {
      throw new ProtocolError("bad_frame", (error as Error).message);
    }
    if (record.folderId !== folderId || record.epoch !== epoch)
      throw new ProtocolError("bad_frame", "the record is for another folder or epoch");
    const signer = await meta.device(who.dev);
    if (
      record.signer !== who.dev ||
      !signer ||
      !constantTimeEqual(signer.signPublicKey, record.signPublicKey) ||
      !verifyEpochRecord(record)
    )
      throw new ProtocolError(
        "bad_signature",
        "the record must be signed by the device that sends it",
      );
    const folder = await meta.folder(folderId);
    const current = folder?.epoch ?? 0;
    if (epoch === current && (await storedRecord(meta, folderId, epoch)) === text)
      return json(200, { epoch }); // a retry whose answer was lost
    if (epoch !== current + 1)
      throw new ProtocolError(
        "conflict",
        `the folder is at key epoch ${current}; the next one is ${current + 1}, not ${epoch}`,
      );
    const keys = wrappedKeys(body, record.devices);
    if (!keys.has(record.signer))
      throw new ProtocolError("bad_frame", "the signer must wrap the new key for itself too");
    for (const deviceId of keys.keys()) {
      const device = await meta.device(deviceId);
      if (!device || device.removed !== undefined || !(await meta.role(folderId, device.accountId)))
        throw new ProtocolError("not_found", `${deviceId} is not a device of a member`);
    }
    try {
      await meta.publishEpoch(folderId, epoch, record.signer, text, keys);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "ALREADY_EXISTS" || code === "INVALID_ARGUMENT")
        throw new ProtocolError("conflict", `epoch ${epoch} was started already`);
      throw error;
    }
    ctx.audit("epoch.started", {
      by: who.sub,
      device: who.dev,
      folder: folderId,
      epoch,
      devices: keys.size,
    });
    ctx.epochChanged?.(folderId);
    return json(201, { epoch });
  });

  // ---- this account's devices ----
  r("get", "/v1/devices", 0, async (req) => {
    const who = await authorize(ctx, req);
    return json(200, {
      devices: (await meta.devicesOf(who.sub)).map((d) => ({
        deviceId: d.deviceId,
        name: d.name ?? null,
        created: d.created,
        removed: d.removed ?? null,
        current: d.deviceId === who.dev,
      })),
    });
  });

  r("put", "/v1/devices/:deviceId", JSON_LIMIT, async (req) => {
    const who = await authorize(ctx, req);
    const device = await ownDevice(meta, who.sub, req.params[0] ?? "");
    const value = jsonBody(req.body)["name"];
    let name: string | null = null;
    if (value !== null) {
      if (typeof value !== "string")
        throw new ProtocolError("bad_frame", "name must be a string or null");
      name = value.trim();
      // eslint-disable-next-line no-control-regex
      if (name.length === 0 || name.length > NAME_MAX_CHARS || /[\u0000-\u001f\u007f]/.test(name))
        throw new ProtocolError(
          "bad_frame",
          `name is 1 to ${NAME_MAX_CHARS} characters, without control characters`,
        );
    }
    await meta.setDeviceName(device.deviceId, name);
    return json(200, { deviceId: device.deviceId, name });
  });

  // A lost or retired device: cut off from the relay at once (tokens, sessions, appends), and
  // every folder it held a key of owes a new key epoch. The account stays.
  r("del", "/v1/devices/:deviceId", 0, async (req) => {
    const who = await authorize(ctx, req);
    const device = await ownDevice(meta, who.sub, req.params[0] ?? "");
    if (device.deviceId === who.dev)
      throw new ProtocolError(
        "conflict",
        "this is the device making the request; remove it from another device",
      );
    const folders = await meta.removeDevice(device.deviceId, Date.now());
    ctx.audit("device.removed", { by: who.sub, device: device.deviceId, folders: folders.length });
    ctx.deviceRemoved?.(who.sub, device.deviceId);
    for (const folderId of folders) ctx.rotationDue?.(folderId);
    return json(200, {
      deviceId: device.deviceId,
      folders: await Promise.all(
        folders.map(async (folderId) => ({
          folderId,
          role: (await meta.role(folderId, who.sub)) ?? null,
        })),
      ),
    });
  });
}

/** @throws ProtocolError conflict when `accountId` is the folder's only owner */
async function requireAnotherOwner(
  meta: MetaStore,
  folderId: FolderId,
  accountId: string,
): Promise<void> {
  if (!(await meta.members(folderId)).some((m) => m.role === "owner" && m.accountId !== accountId))
    throw new ProtocolError(
      "conflict",
      "a folder needs at least one owner: make another member owner first",
    );
}

/** The stored announcement text of `epoch`, if any. */
async function storedRecord(
  meta: MetaStore,
  folderId: FolderId,
  epoch: number,
): Promise<string | undefined> {
  return (await meta.epochAnnouncements(folderId, epoch - 1)).find((a) => a.epoch === epoch)
    ?.record;
}

/** `keys`: exactly the record's devices, each with a wrapped key of 1 to 1024 bytes. */
function wrappedKeys(
  body: Record<string, unknown>,
  devices: readonly DeviceId[],
): Map<DeviceId, Uint8Array> {
  const keys = body["keys"];
  if (typeof keys !== "object" || keys === null || Array.isArray(keys))
    throw new ProtocolError("bad_frame", "keys must be an object of device id to wrapped key");
  const entries = Object.entries(keys as Record<string, unknown>);
  if (entries.length !== devices.length || entries.length > MAX_EPOCH_DEVICES)
    throw new ProtocolError("bad_frame", "keys must name exactly the record's devices");
  const out = new Map<DeviceId, Uint8Array>();
  for (const [deviceId, value] of entries) {
    if (!isDeviceId(deviceId) || !devices.includes(deviceId))
      throw new ProtocolError("bad_frame", "keys must name exactly the record's devices");
    let bytes: Uint8Array | undefined;
    try {
      bytes = typeof value === "string" ? fromBase64Url(value) : undefined;
    } catch {
      bytes = undefined;
    }
    if (!bytes || bytes.length === 0 || bytes.length > WRAPPED_KEY_MAX_BYTES)
      throw new ProtocolError(
        "bad_frame",
        `each wrapped key is base64url of 1 to ${WRAPPED_KEY_MAX_BYTES} bytes`,
      );
    out.set(deviceId, bytes);
  }
  return out;
}

/** A device of the account, not removed. @throws ProtocolError not_found */
async function ownDevice(meta: MetaStore, accountId: string, id: string) {
  const device = isDeviceId(id) ? await meta.device(id) : undefined;
  if (!device || device.accountId !== accountId || device.removed !== undefined)
    throw new ProtocolError("not_found", "no such device of this account");
  return device;
}

function userName(body: Record<string, unknown>): string {
  const user = field(body, "user", 63).toLowerCase();
  if (!USER.test(user))
    throw new ProtocolError("bad_frame", "user is 1 to 63 characters: a-z, 0-9, '.', '_', '-'");
  return user;
}
