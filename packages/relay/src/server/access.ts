/** What every API route checks first: the rate limits, the access token, the folder id and the caller's role in it. */
import type { FolderId } from "@weft/crypto";
import { isDeviceId, isFolderId } from "@weft/crypto";
import { ProtocolError } from "@weft/core";
import type uWS from "uWebSockets.js";
import {
  type AccessClaims,
  AuthError,
  type RevokedFamilies,
  type TokenBucket,
  verifyAccessToken,
} from "../auth/index.js";
import type { MetaStore, Role } from "../store/index.js";
import type { ByteBudget } from "./byte-budget.js";
import { type HttpRequest, type Reply, type RequestObserver, route } from "./http.js";

/** Largest JSON body of an API request. */
export const JSON_LIMIT = 64 * 1024;

const RANK: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

/** Whether `role` grants at least what `least` does (owner > editor > viewer). */
export function atLeast(role: Role, least: Role): boolean {
  return RANK[role] >= RANK[least];
}

/** What checking an access token needs: the secrets, and the sign-ins revoked lately. */
export interface TokenContext {
  /** The secret new tokens are signed with. */
  jwtSecret: Uint8Array;
  /** Secrets of before a rotation, still accepted until their tokens expire. */
  jwtPreviousSecrets?: readonly Uint8Array[];
  /** Refresh families revoked within an access token's lifetime (logout, a reused token). */
  revoked: RevokedFamilies;
}

/** The part of the API's context the checks need. */
export interface AccessContext extends TokenContext {
  meta: MetaStore;
  limits: { address: TokenBucket; account: TokenBucket };
  observe: RequestObserver;
  /** Bytes held for clients: large bodies reserve theirs here while they are read and handled. */
  budget?: ByteBudget;
}

/** Takes one token from `bucket` for `key`. @throws ProtocolError rate_limited with retryAfterSeconds */
export function takeToken(bucket: TokenBucket, key: string): void {
  const taken = bucket.take(key);
  if (!taken.ok) {
    const error = new ProtocolError("rate_limited", "too many requests; retry later");
    (error as ProtocolError & { retryAfterSeconds: number }).retryAfterSeconds =
      taken.retryAfterSeconds;
    throw error;
  }
}

/** What a token of a revoked sign-in is told, on HTTP and on WebSocket `auth` alike. */
export const SIGN_IN_ENDED =
  "this sign-in ended (signed out, or its refresh token was used twice); sign in again";

/**
 * The claims of a genuine, unexpired access token whose sign-in was not revoked. A token from
 * before access tokens named their family (no `fam`) cannot be matched: it is accepted until it
 * expires, at most an access-token lifetime after the relay was upgraded.
 * @throws AuthError `expired`, `invalid`, or `revoked` (401, {@link SIGN_IN_ENDED})
 */
export function verifiedClaims(ctx: TokenContext, token: string): AccessClaims {
  const claims = verifyAccessToken([ctx.jwtSecret, ...(ctx.jwtPreviousSecrets ?? [])], token);
  if (claims.fam !== undefined && ctx.revoked.has(claims.fam))
    throw new AuthError("revoked", SIGN_IN_ENDED);
  return claims;
}

/** What a removed device is told, whatever it asks. */
export const DEVICE_REMOVED =
  "this device was removed from its account; set it up again as a new device (weft init in a new WEFT_HOME) and ask for an invite";

/**
 * The access token's claims, after the account's rate limit. A token of a revoked sign-in
 * ({@link verifiedClaims}) or of a device removed from its account stops working at once, not
 * when it expires.
 * @throws ProtocolError unauthorized (a revoked sign-in too); forbidden for a removed device
 */
export async function authorize(ctx: AccessContext, req: HttpRequest): Promise<AccessClaims> {
  const header = req.headers.authorization;
  if (!header.startsWith("Bearer "))
    throw new ProtocolError("unauthorized", "an access token is required");
  const claims = verifiedClaims(ctx, header.slice(7));
  takeToken(ctx.limits.account, claims.sub);
  if (
    claims.dev &&
    isDeviceId(claims.dev) &&
    (await ctx.meta.device(claims.dev))?.removed !== undefined
  )
    throw new ProtocolError("forbidden", DEVICE_REMOVED);
  return claims;
}

/** The caller's role, at least `least`. @throws ProtocolError forbidden */
export async function requireRole(
  meta: MetaStore,
  folderId: FolderId,
  accountId: string,
  least: Role,
): Promise<Role> {
  const role = await meta.role(folderId, accountId);
  // Not a member and no such folder answer alike, so folder ids cannot be probed.
  if (!role) throw new ProtocolError("forbidden", "not a member of this folder");
  if (!atLeast(role, least)) throw new ProtocolError("forbidden", `this needs the ${least} role`);
  return role;
}

/** The route's first parameter as a folder id. @throws ProtocolError bad_frame */
export function folderParam(req: HttpRequest): FolderId {
  const id = req.params[0] ?? "";
  if (!isFolderId(id)) throw new ProtocolError("bad_frame", "malformed folder id");
  return id;
}

/** A route registrar that applies the per-address rate limit before the handler. */
export function routes(
  app: uWS.TemplatedApp,
  ctx: AccessContext,
): (
  method: "get" | "post" | "put" | "del",
  pattern: string,
  limit: number,
  handler: (req: HttpRequest) => Promise<Reply> | Reply,
) => void {
  return (method, pattern, limit, handler) =>
    route(
      app,
      method,
      pattern,
      limit,
      (req) => {
        takeToken(ctx.limits.address, req.address);
        return handler(req);
      },
      ctx.observe,
      ctx.budget,
    );
}
