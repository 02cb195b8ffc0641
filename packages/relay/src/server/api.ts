/**
 * The relay's HTTP API under /v1: accounts and tokens, devices, folders and members, and the
 * encrypted chunks (the routes PROTOCOL.md "HTTP: blobs" defines). Every handler checks the
 * token, the role and the input before it touches the store.
 */
import type { DeviceId, FolderId } from "@weft/crypto";
import {
  constantTimeEqual,
  deviceIdFromSignPublicKey,
  fromBase64Url,
  isDeviceId,
  isFolderId,
  toBase64Url,
} from "@weft/crypto";
import {
  MAX_FOLDER_META_CHARS,
  ProtocolError,
  decodeFolderMeta,
  verifyFolderMeta,
} from "@weft/core";
import type uWS from "uWebSockets.js";
import {
  type LoginGate,
  type RevokedFamilies,
  type TokenBucket,
  hashRefreshToken,
  newFamilyId,
  newRefreshToken,
  signAccessToken,
} from "../auth/index.js";
import type { MetaStore } from "../store/index.js";
import { DEVICE_REMOVED, JSON_LIMIT, authorize, routes, takeToken } from "./access.js";
import { registerBlobApi } from "./api-blobs.js";
import { registerInviteApi } from "./api-invites.js";
import { registerMemberApi } from "./api-members.js";
import type { ByteBudget } from "./byte-budget.js";
import type { FolderBlobs } from "./folder-blobs.js";
import type { Quotas } from "./quotas.js";
import { type RequestObserver, field, json, jsonBody } from "./http.js";

/** Access tokens live 15 minutes (unless configured); refresh tokens 30 days, rotating. */
export const ACCESS_TTL_SECONDS = 15 * 60;
const REFRESH_TTL_MS = 30 * 24 * 3600 * 1000;
const USER = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** What the API needs. */
export interface ApiContext {
  meta: MetaStore;
  blobs: FolderBlobs;
  jwtSecret: Uint8Array;
  /** Secrets of before a rotation, still accepted until their tokens expire. */
  jwtPreviousSecrets?: readonly Uint8Array[];
  /**
   * Refresh families revoked within an access token's lifetime: a logout or a reused refresh
   * token adds its family here (before answering), and every request and `auth` with an access
   * token of the family is refused from then on.
   */
  revoked: RevokedFamilies;
  /** Password hashing and checks, admitted per address and queued with known accounts first. */
  logins: LoginGate;
  /** A hash of a random password, verified against when a user does not exist. */
  dummyHash: string;
  /** Rate limits per client address and per account. */
  limits: { address: TokenBucket; account: TokenBucket; login: TokenBucket };
  observe: RequestObserver;
  /** Bytes held for clients: large bodies (chunk uploads) reserve theirs while read and handled. */
  budget?: ByteBudget;
  /** Security events for the audit stream (never a password or a token). */
  audit: (event: string, fields: Record<string, unknown>) => void;
  /** Access token lifetime in seconds (default 15 minutes). */
  accessTtlSeconds?: number;
  /**
   * A refresh family was revoked (logout, a reused token): the open WebSocket sessions of its
   * account and device end at once, not when their access token runs out, and every relay
   * refuses the family's access tokens from then on.
   */
  sessionsEnded?: (
    accountId: string,
    deviceId: DeviceId | null,
    reason: string,
    family: string,
  ) => void;
  /** A member was removed: their open sessions on the folder end at once. */
  memberRemoved?: (folderId: FolderId, accountId: string) => void;
  /** Most folders one account may own (0 or absent: no limit). */
  accountFolders?: number;
  /** The account quotas and the folder log limits (absent: none). */
  quotas?: Quotas;
  /** A device was removed from its account: its open sessions end at once. */
  deviceRemoved?: (accountId: string, deviceId: DeviceId) => void;
  /** The folder owes a key rotation: its owners' open sessions are told. */
  rotationDue?: (folderId: FolderId) => void;
  /** The folder moved to a new key epoch: every open session on it reconnects for the new key. */
  epochChanged?: (folderId: FolderId) => void;
}

/** Registers every route of the API on `app`. */
export function registerApi(app: uWS.TemplatedApp, ctx: ApiContext): void {
  const { meta } = ctx;
  const r = routes(app, ctx);

  // ---- accounts and tokens ----
  r("post", "/v1/auth/register", JSON_LIMIT, async (req) => {
    const body = jsonBody(req.body);
    const user = userName(body);
    const password = field(body, "password", 1024);
    if (password.length < 8)
      throw new ProtocolError("bad_frame", "password must be at least 8 characters");
    if (await meta.accountByUser(user))
      throw new ProtocolError("conflict", "that user name is taken");
    const hash = await ctx.logins.hash(req.address, password);
    try {
      const account = await meta.createAccount(user, hash);
      ctx.audit("account.registered", { account: account.id });
      return json(201, { accountId: account.id });
    } catch (error) {
      if ((error as { code?: string }).code === "ALREADY_EXISTS")
        throw new ProtocolError("conflict", "that user name is taken");
      throw error;
    }
  });

  r("post", "/v1/auth/login", JSON_LIMIT, async (req) => {
    const body = jsonBody(req.body);
    const user = userName(body);
    const password = field(body, "password", 1024);
    takeToken(ctx.limits.login, `${req.address} ${user}`);
    const account = await meta.accountByUser(user);
    // Verify even for an unknown user, so timing does not tell which user names exist.
    const ok = await ctx.logins.verify(
      req.address,
      account !== undefined,
      account?.passwordHash ?? ctx.dummyHash,
      password,
    );
    if (!account || !ok) {
      ctx.audit("login.failed", { address: req.address });
      throw new ProtocolError("unauthorized", "wrong user name or password");
    }
    const device =
      body["device"] === undefined
        ? undefined
        : await registerDevice(meta, account.id, body["device"]);
    ctx.audit("login.ok", { account: account.id, device: device ?? null });
    return json(200, await issueTokens(ctx, account.id, device, newFamilyId()));
  });

  r("post", "/v1/auth/refresh", JSON_LIMIT, async (req) => {
    const token = field(jsonBody(req.body), "refreshToken", 256);
    const record = await meta.refreshToken(hashRefreshToken(token));
    const now = Date.now();
    if (record?.deviceId && (await meta.device(record.deviceId))?.removed !== undefined)
      throw new ProtocolError("forbidden", DEVICE_REMOVED);
    if (!record || record.revoked || record.expires < now)
      throw new ProtocolError("unauthorized", "the refresh token is not valid");
    // Marked used atomically: of two requests racing with one token (on this relay or another),
    // only the first use wins; the other counts as a replay.
    if (record.usedAt !== null || !(await meta.markRefreshTokenUsed(record.tokenHash, now))) {
      // A used token presented again: someone has a copy. End every session of the family.
      await meta.revokeRefreshFamily(record.family);
      ctx.revoked.add(record.family);
      ctx.audit("refresh.reused", { account: record.accountId });
      const reason = "the session ended: sign in again";
      ctx.sessionsEnded?.(record.accountId, record.deviceId, reason, record.family);
      throw new ProtocolError("unauthorized", "the refresh token was already used; sign in again");
    }
    const device = (await meta.devicesOf(record.accountId)).find(
      (d) => d.deviceId === record.deviceId,
    )?.deviceId;
    return json(200, await issueTokens(ctx, record.accountId, device, record.family));
  });

  r("post", "/v1/auth/logout", JSON_LIMIT, async (req) => {
    const token = field(jsonBody(req.body), "refreshToken", 256);
    const record = await meta.refreshToken(hashRefreshToken(token));
    if (record) {
      await meta.revokeRefreshFamily(record.family);
      ctx.revoked.add(record.family);
      const reason = "the session ended: signed out";
      ctx.sessionsEnded?.(record.accountId, record.deviceId, reason, record.family);
    }
    return { status: 204 };
  });

  // ---- devices ----
  r("post", "/v1/devices", JSON_LIMIT, async (req) => {
    const who = await authorize(ctx, req);
    const deviceId = await registerDevice(meta, who.sub, jsonBody(req.body));
    return json(201, { deviceId });
  });

  // Public keys of a device, so that a member can wrap a folder key for it (an invite `--to`
  // one device). Public by nature; any signed-in account may ask.
  r("get", "/v1/devices/:deviceId", 0, async (req) => {
    await authorize(ctx, req);
    const deviceId = req.params[0] ?? "";
    const device = isDeviceId(deviceId) ? await meta.device(deviceId) : undefined;
    if (!device || device.removed !== undefined)
      throw new ProtocolError("not_found", "no such device");
    return json(200, {
      deviceId: device.deviceId,
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    });
  });

  // ---- folders and members ----
  r("get", "/v1/folders", 0, async (req) => {
    const who = await authorize(ctx, req);
    return json(200, { folders: await meta.foldersOf(who.sub) });
  });

  r("post", "/v1/folders", JSON_LIMIT, async (req) => {
    const who = await authorize(ctx, req);
    const body = jsonBody(req.body);
    const folderId = field(body, "folderId", 64);
    if (!isFolderId(folderId)) throw new ProtocolError("bad_frame", "folderId is not a folder id");
    const signed =
      body["meta"] === undefined ? undefined : await folderMeta(ctx, body, who.dev, folderId);
    // One answer for every caller, member or not: it says the id is taken, nothing more. An id
    // is 128 random bits, so this confirms only ids the caller knows already, and knowing one
    // opens nothing (every folder route answers a non-member as if the folder did not exist).
    if (await meta.folder(folderId))
      throw new ProtocolError("conflict", "that folder id is taken; make a new one");
    // Each folder has its own chunk quota: without a count, folders would multiply it. Counted
    // and created one at a time per account: a burst of requests cannot all pass the count.
    const create = async (): Promise<void> => {
      const most = ctx.accountFolders ?? 0;
      const owned =
        most > 0 ? (await meta.foldersOf(who.sub)).filter((f) => f.role === "owner").length : 0;
      if (most > 0 && owned >= most)
        throw new ProtocolError(
          "quota_exceeded",
          `the relay's quota for folders per account is full: this account owns ${owned} of ` +
            `${most}; leave or hand over a folder, or ask the relay's operator for more`,
        );
      try {
        await meta.createFolder(folderId, who.sub, signed);
      } catch (error) {
        // Taken since the check above (another request, or another relay).
        if ((error as { code?: string }).code === "ALREADY_EXISTS")
          throw new ProtocolError("conflict", "that folder id is taken; make a new one");
        throw error;
      }
    };
    await (ctx.quotas ? ctx.quotas.serializeCreation(who.sub, create) : create());
    ctx.audit("folder.created", { account: who.sub, folder: folderId });
    return json(201, { folderId });
  });

  registerBlobApi(app, ctx);
  registerInviteApi(app, ctx);
  registerMemberApi(app, ctx);
}

/**
 * The signed metadata a folder is created with (core's folder-meta.ts), checked as far as the
 * relay can without the folder's key: well formed, for this folder, and signed by the device
 * that creates it (its registered key). Devices check the rest (that it opens under the key).
 * @throws ProtocolError bad_frame, bad_signature
 */
async function folderMeta(
  ctx: ApiContext,
  body: Record<string, unknown>,
  device: string | undefined,
  folderId: FolderId,
): Promise<string> {
  const text = field(body, "meta", MAX_FOLDER_META_CHARS);
  let record;
  try {
    record = decodeFolderMeta(text);
  } catch (error) {
    throw new ProtocolError("bad_frame", (error as Error).message);
  }
  if (record.folderId !== folderId)
    throw new ProtocolError("bad_frame", "the metadata is for another folder");
  const signer = device && isDeviceId(device) ? await ctx.meta.device(device) : undefined;
  if (
    record.signer !== device ||
    !signer ||
    !constantTimeEqual(signer.signPublicKey, record.signPublicKey) ||
    !verifyFolderMeta(record)
  )
    throw new ProtocolError(
      "bad_signature",
      "the folder's metadata must be signed by the device that creates it",
    );
  return text;
}

async function issueTokens(
  ctx: ApiContext,
  accountId: string,
  device: DeviceId | undefined,
  family: string,
) {
  const refresh = newRefreshToken();
  await ctx.meta.saveRefreshToken({
    tokenHash: refresh.hash,
    family,
    accountId,
    expires: Date.now() + REFRESH_TTL_MS,
    ...(device ? { deviceId: device } : {}),
  });
  return {
    // `fam`: the sign-in the token belongs to, so revoking it refuses the token at once.
    accessToken: signAccessToken(
      ctx.jwtSecret,
      device ? { sub: accountId, dev: device, fam: family } : { sub: accountId, fam: family },
      { ttlSeconds: ctx.accessTtlSeconds ?? ACCESS_TTL_SECONDS },
    ),
    refreshToken: refresh.token,
    expiresIn: ctx.accessTtlSeconds ?? ACCESS_TTL_SECONDS,
    accountId,
  };
}

async function registerDevice(
  meta: MetaStore,
  accountId: string,
  value: unknown,
): Promise<DeviceId> {
  if (typeof value !== "object" || value === null)
    throw new ProtocolError("bad_frame", "device must be an object");
  const d = value as Record<string, unknown>;
  let sign: Uint8Array;
  let box: Uint8Array;
  try {
    sign = fromBase64Url(field(d, "signPublicKey", 64));
    box = fromBase64Url(field(d, "boxPublicKey", 64));
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError("bad_frame", "device keys must be base64url");
  }
  if (sign.length !== 32 || box.length !== 32)
    throw new ProtocolError("bad_frame", "device keys are 32 bytes each");
  const deviceId = deviceIdFromSignPublicKey(sign);
  if (d["deviceId"] !== undefined && d["deviceId"] !== deviceId)
    throw new ProtocolError("bad_frame", "deviceId does not match signPublicKey");
  try {
    // A removed device stays removed: signing in again does not bring it back.
    if ((await meta.addDevice(accountId, deviceId, sign, box)).removed !== undefined)
      throw new ProtocolError("forbidden", DEVICE_REMOVED);
  } catch (error) {
    if ((error as { code?: string }).code === "ALREADY_EXISTS")
      throw new ProtocolError("conflict", "that device is registered to another account");
    throw error;
  }
  return deviceId;
}

function userName(body: Record<string, unknown>): string {
  const user = field(body, "user", 63).toLowerCase();
  if (!USER.test(user))
    throw new ProtocolError("bad_frame", "user is 1 to 63 characters: a-z, 0-9, '.', '_', '-'");
  return user;
}
