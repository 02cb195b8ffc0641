/**
 * The relay's API for sharing a folder: invites, folder keys wrapped for member devices, and a
 * folder's counters (members, removal and key epochs are api-members.ts). Keys stay opaque: the
 * relay stores and hands back wrapped keys, never anything that unwraps them.
 */
import { createHash, randomBytes } from "node:crypto";
import { ProtocolError, WeftError } from "@weft/core";
import { type FolderId, MAX_EPOCH, fromBase64Url, isDeviceId, toBase64Url } from "@weft/crypto";
import type { MetaStore } from "../store/index.js";
import type uWS from "uWebSockets.js";
import type { Role } from "../store/index.js";
import {
  type AccessContext,
  JSON_LIMIT,
  atLeast,
  authorize,
  folderParam,
  requireRole,
  routes,
} from "./access.js";
import { type HttpRequest, field, json, jsonBody } from "./http.js";

/** A wrapped folder key is small: a 32-byte key plus a nonce and a tag. */
const WRAPPED_KEY_MAX_BYTES = 1024;
const WRAPPED_KEY_MAX_CHARS = Math.ceil((WRAPPED_KEY_MAX_BYTES * 4) / 3);
const TTL_MIN_SECONDS = 60;
const TTL_MAX_SECONDS = 30 * 24 * 3600;
const TTL_DEFAULT_SECONDS = 7 * 24 * 3600;
/** 16 random bytes, base64url without padding. */
const INVITE_ID = /^[A-Za-z0-9_-]{22}$/;

/** What the invite routes use of the API's context (`ApiContext` has all of it). */
export interface InviteApiContext extends AccessContext {
  audit: (event: string, fields: Record<string, unknown>) => void;
}

/** Registers the invite, wrapped-key and folder routes on `app`. */
export function registerInviteApi(app: uWS.TemplatedApp, ctx: InviteApiContext): void {
  const { meta } = ctx;
  const r = routes(app, ctx);
  /** The caller's claims and role in the route's folder, at least `least`. */
  const member = async (req: HttpRequest, least: Role) => {
    const who = await authorize(ctx, req);
    const folderId = folderParam(req);
    return { who, folderId, role: await requireRole(meta, folderId, who.sub, least) };
  };

  // ---- invites ----
  r("post", "/v1/folders/:folderId/invites", JSON_LIMIT, async (req) => {
    const { who, folderId } = await member(req, "owner");
    const body = jsonBody(req.body);
    const role = body["role"];
    if (role !== "editor" && role !== "viewer")
      throw new ProtocolError("bad_frame", 'role must be "editor" or "viewer"');
    const wrappedKey = wrappedKeyField(body);
    const epoch = epochField(body);
    const current = (await meta.folder(folderId))?.epoch ?? 0;
    await requireNoRotationDue(meta, folderId);
    if (epoch !== current)
      throw new ProtocolError("conflict", `the folder is at key epoch ${current}, not ${epoch}`);
    const ttl = body["ttlSeconds"] ?? TTL_DEFAULT_SECONDS;
    if (
      !Number.isSafeInteger(ttl) ||
      (ttl as number) < TTL_MIN_SECONDS ||
      (ttl as number) > TTL_MAX_SECONDS
    )
      throw new ProtocolError(
        "bad_frame",
        `ttlSeconds must be an integer from ${TTL_MIN_SECONDS} to ${TTL_MAX_SECONDS}`,
      );
    const inviteId = randomBytes(16).toString("base64url");
    const expires = Date.now() + (ttl as number) * 1000;
    await meta.createInvite({
      id: inviteId,
      folderId,
      role,
      createdBy: who.sub,
      expires,
      wrappedKey,
      epoch,
    });
    ctx.audit("invite.created", {
      by: who.sub,
      folder: folderId,
      invite: inviteRef(inviteId),
      role,
      epoch,
      expires,
    });
    return json(201, { inviteId });
  });

  r("del", "/v1/folders/:folderId/invites/:inviteId", 0, async (req) => {
    const { who, folderId } = await member(req, "owner");
    const inviteId = req.params[1] ?? "";
    const invite = INVITE_ID.test(inviteId) ? await meta.invite(inviteId) : undefined;
    if (!invite || invite.folderId !== folderId)
      throw new ProtocolError("not_found", "no such invite");
    await meta.revokeInvite(inviteId);
    ctx.audit("invite.revoked", { by: who.sub, folder: folderId, invite: inviteRef(inviteId) });
    return { status: 204 };
  });

  r("post", "/v1/invites/:inviteId/redeem", JSON_LIMIT, async (req) => {
    const who = await authorize(ctx, req);
    const inviteId = req.params[0] ?? "";
    const invite = INVITE_ID.test(inviteId) ? await meta.invite(inviteId) : undefined;
    // Unknown, revoked and expired answer alike, so invite ids cannot be probed.
    if (!invite || invite.revoked || invite.expires <= Date.now())
      throw new ProtocolError("not_found", "no such invite");
    if (invite.usedBy !== null) throw new ProtocolError("conflict", "the invite was used already");
    // An invite made before a member was removed carries a key the folder no longer writes
    // with; refusing it makes the owner invite again under the current epoch.
    const folder = await meta.folder(invite.folderId);
    if (invite.epoch < (folder?.epoch ?? 0) || folder?.rotationDue)
      throw new ProtocolError(
        "conflict",
        "the invite is for an earlier key epoch (a member or device was removed since); ask for a new one",
      );
    try {
      await meta.useInvite(inviteId, who.sub); // atomic: of two racing redeems, one wins
    } catch (error) {
      if (error instanceof WeftError && error.code === "ALREADY_EXISTS")
        throw new ProtocolError("conflict", "the invite was used already");
      if (error instanceof WeftError && error.code === "INVALID_ARGUMENT")
        throw new ProtocolError("not_found", "no such invite");
      throw error;
    }
    const current = await meta.role(invite.folderId, who.sub);
    const role = current && atLeast(current, invite.role) ? current : invite.role;
    if (role !== current) await meta.setMember(invite.folderId, who.sub, role);
    ctx.audit("invite.redeemed", {
      account: who.sub,
      folder: invite.folderId,
      invite: inviteRef(inviteId),
      role,
    });
    return json(200, {
      folderId: invite.folderId,
      role,
      epoch: invite.epoch,
      wrappedKey: toBase64Url(invite.wrappedKey),
    });
  });

  // ---- folder keys wrapped for member devices ----
  // Who writes key rows here: the owner's device for itself when it creates the folder, a device
  // (of any role) for itself when it redeems an invite, and an owner for a member device at the
  // current epoch. A new epoch's rows come only with its announcement (api-members.ts), from an
  // owner. Anyone else could plant a key the victim then seals new content with, so: an owner,
  // or the device itself; only the folder's current epoch (never one above it, which a device
  // would write with next); and never over an existing row.
  r("put", "/v1/folders/:folderId/keys/:deviceId", JSON_LIMIT, async (req) => {
    const { who, folderId, role } = await member(req, "viewer");
    const deviceId = req.params[1] ?? "";
    if (!isDeviceId(deviceId)) throw new ProtocolError("bad_frame", "malformed device id");
    const device = await meta.device(deviceId);
    if (!device || device.removed !== undefined || !(await meta.role(folderId, device.accountId)))
      throw new ProtocolError("not_found", "no such member device");
    if (role !== "owner" && who.dev !== deviceId)
      throw new ProtocolError(
        "forbidden",
        "only an owner stores a folder key for another device; a device may store its own",
      );
    const body = jsonBody(req.body);
    const epoch = epochField(body);
    const wrappedKey = wrappedKeyField(body);
    const current = (await meta.folder(folderId))?.epoch ?? 0;
    if (epoch !== current)
      throw new ProtocolError("conflict", `the folder is at key epoch ${current}, not ${epoch}`);
    try {
      await meta.putWrappedKey(folderId, deviceId, epoch, wrappedKey);
    } catch (error) {
      if (error instanceof WeftError && error.code === "ALREADY_EXISTS")
        throw new ProtocolError(
          "conflict",
          `that device already has a key for epoch ${epoch}; a stored key is never replaced`,
        );
      throw error;
    }
    ctx.audit("key.stored", { by: who.sub, folder: folderId, device: deviceId, epoch });
    return { status: 204 };
  });

  r("get", "/v1/folders/:folderId/keys", 0, async (req) => {
    const { who, folderId } = await member(req, "viewer");
    if (!who.dev || !isDeviceId(who.dev))
      throw new ProtocolError("bad_frame", "the token is not bound to a device; log in with one");
    const keys = (await meta.wrappedKeys(folderId, who.dev)).map(({ epoch, blob }) => ({
      epoch,
      wrappedKey: toBase64Url(blob),
    }));
    return json(200, { keys });
  });

  // ---- the folder ----
  r("get", "/v1/folders/:folderId", 0, async (req) => {
    const { folderId, role } = await member(req, "viewer");
    const folder = await meta.folder(folderId);
    if (!folder) throw new ProtocolError("forbidden", "not a member of this folder");
    return json(200, {
      folderId,
      epoch: folder.epoch,
      headSeq: folder.headSeq,
      role,
      rotationDue: folder.rotationDue === true,
      meta: folder.meta ?? null,
    });
  });
}

/**
 * Refuses while the folder owes a key rotation: a member or device was removed and the key
 * they hold is still the newest, so an invite made now would carry it.
 * @throws ProtocolError conflict
 */
async function requireNoRotationDue(meta: MetaStore, folderId: FolderId): Promise<void> {
  if ((await meta.folder(folderId))?.rotationDue)
    throw new ProtocolError(
      "conflict",
      "a member or device was removed and the folder's key must change first; an owner's weft folder invite, or weft sync, does it",
    );
}

/** `wrappedKey`: base64url of 1 to 1024 bytes, opaque to the relay. */
function wrappedKeyField(body: Record<string, unknown>): Uint8Array {
  const text = field(body, "wrappedKey", WRAPPED_KEY_MAX_CHARS);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch {
    throw new ProtocolError("bad_frame", "wrappedKey must be base64url");
  }
  if (bytes.length === 0 || bytes.length > WRAPPED_KEY_MAX_BYTES)
    throw new ProtocolError("bad_frame", `wrappedKey is 1 to ${WRAPPED_KEY_MAX_BYTES} bytes`);
  return bytes;
}

function epochField(body: Record<string, unknown>): number {
  const epoch = body["epoch"];
  if (!Number.isSafeInteger(epoch) || (epoch as number) < 0 || (epoch as number) > MAX_EPOCH)
    throw new ProtocolError("bad_frame", `epoch must be an integer from 0 to ${MAX_EPOCH}`);
  return epoch as number;
}

/**
 * How the audit stream names an invite: a hash of its id, never the id itself (whoever holds
 * the id and an account can redeem it, so it is as secret as a token).
 */
function inviteRef(inviteId: string): string {
  return createHash("sha256").update(inviteId).digest("hex").slice(0, 16);
}
