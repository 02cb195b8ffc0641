/** HS256 JSON Web Tokens for short-lived access tokens, on `jsonwebtoken` with the algorithm pinned. */
import { type KeyObject, createSecretKey } from "node:crypto";
import { WeftError } from "@weft/core";
import jwt from "jsonwebtoken";
import { AuthError } from "./errors.js";

/** The claims of an access token. Times are whole seconds since the epoch, as RFC 7519 says. */
export interface AccessClaims {
  /** Account id. */
  sub: string;
  /** Device id, when the token is bound to a device. */
  dev?: string;
  /**
   * The refresh-token family (the sign-in) the token was issued in, so that the relay can refuse
   * it once that sign-in is revoked (logout, a reused refresh token) rather than at `exp`.
   * Tokens issued before this claim existed have none: they stay valid until they expire.
   */
  fam?: string;
  /** Issued at. */
  iat: number;
  /** Expires at: the token is refused from this second on. */
  exp: number;
  /** Always `"access"`, so no other kind of token we might sign passes for one. */
  typ: "access";
}

/** Options of {@link signAccessToken}. */
export interface SignAccessTokenOptions {
  /** Current time in milliseconds; `Date.now()` by default. */
  now?: number;
  /** Lifetime in seconds, default 900 (15 minutes), at most one day. */
  ttlSeconds?: number;
}

/** Longest token {@link verifyAccessToken} looks at; ours are a few hundred bytes. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

const DEFAULT_TTL_SECONDS = 900;
const MAX_TTL_SECONDS = 24 * 60 * 60;
// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
const MIN_SECRET_BYTES = 32;
const MAX_ID_LENGTH = 256;
// The only header we issue, so the only one we accept: comparing its encoded form refuses
// alg "none", other algorithms, and extra fields such as `kid`/`jku` without parsing anything.
const HEADER = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Each secret's KeyObject, made once (the relay keeps its secrets for its lifetime). */
const keyObjects = new WeakMap<Uint8Array, KeyObject>();

/**
 * The secret as an HMAC KeyObject. Given bytes, jsonwebtoken first tries to parse them as a PEM
 * or DER public (verify) or private (sign) key, which throws, and only then makes a secret key:
 * a CPU profile of bench:relay had that failed parse at 17% of the relay's CPU (more than every
 * SQLite statement of the connects), on every `auth`, upgrade and API request.
 */
function keyOf(secret: Uint8Array): KeyObject {
  let key = keyObjects.get(secret);
  if (!key) keyObjects.set(secret, (key = createSecretKey(Buffer.from(secret))));
  return key;
}

/**
 * Signs an access token: `base64url(header).base64url(claims).base64url(HMAC-SHA256)`, unpadded.
 * @param secret - the relay's signing key, at least 32 bytes
 * @throws WeftError INVALID_ARGUMENT on a short secret, an empty or over-long id, or a bad ttl
 */
export function signAccessToken(
  secret: Uint8Array,
  claims: Omit<AccessClaims, "iat" | "exp" | "typ">,
  options: SignAccessTokenOptions = {},
): string {
  checkSecret(secret);
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}`,
    );
  }
  if (!isId(claims.sub)) throw new WeftError("INVALID_ARGUMENT", "sub must be a non-empty id");
  if (claims.dev !== undefined && !isId(claims.dev)) {
    throw new WeftError("INVALID_ARGUMENT", "dev must be a non-empty id");
  }
  if (claims.fam !== undefined && !isId(claims.fam)) {
    throw new WeftError("INVALID_ARGUMENT", "fam must be a non-empty id");
  }
  const iat = epochSeconds(options.now);
  // Fixed field order and only known fields, whatever else the caller's object carries.
  const payload: AccessClaims = { sub: claims.sub, iat, exp: iat + ttl, typ: "access" };
  if (claims.dev !== undefined) payload.dev = claims.dev;
  if (claims.fam !== undefined) payload.fam = claims.fam;
  // `iat` is given, so the library keeps it; the header is exactly HEADER.
  return jwt.sign(payload, keyOf(secret), { algorithm: "HS256" });
}

/**
 * Verifies an access token from {@link signAccessToken} and returns its claims.
 *
 * `secrets` is the current signing secret, then any previous ones still accepted (a secret
 * rotation: tokens signed before it stay valid until they expire, so nobody is logged out).
 * The header must be exactly the one we issue, and the library is told HS256 only, so `alg:
 * none`, RS256 (the RS/HS confusion) and other algorithms are refused twice over. The library
 * parses the payload before it checks the signature (in constant time); the 8 KiB bound keeps
 * that parse cheap, and no claim is trusted before the signature verified. Error messages never
 * contain the token.
 * @param now - current time in milliseconds; `Date.now()` by default
 * @throws AuthError `expired` when a genuine token's `exp` has passed; `invalid` for anything
 * else: not a string, over {@link MAX_TOKEN_LENGTH}, malformed, another header or algorithm, a
 * bad signature, a wrong `typ` or malformed claims
 * @throws WeftError INVALID_ARGUMENT when a secret is shorter than 32 bytes (a server bug)
 */
export function verifyAccessToken(
  secrets: Uint8Array | readonly Uint8Array[],
  token: string,
  now?: number,
): AccessClaims {
  const keys = secrets instanceof Uint8Array ? [secrets] : secrets;
  if (keys.length === 0) throw new WeftError("INVALID_ARGUMENT", "no JWT secret to verify with");
  for (const key of keys) checkSecret(key);
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
    throw invalid("malformed token");
  }
  const parts = token.split(".");
  if (parts.length !== 3) throw invalid("malformed token");
  const [header, body, signature] = parts as [string, string, string];
  if (header !== HEADER) throw invalid("unsupported token header");
  if (!SEGMENT.test(body) || !SEGMENT.test(signature)) throw invalid("malformed token");
  const clockTimestamp = epochSeconds(now);
  for (const key of keys) {
    let payload: unknown;
    try {
      payload = jwt.verify(token, keyOf(key), { algorithms: ["HS256"], clockTimestamp });
    } catch (error) {
      // Signed with this secret but past its time: expired, whatever the other secrets say.
      if (error instanceof jwt.TokenExpiredError) {
        parseClaims(jwt.decode(token));
        throw new AuthError("expired", "access token expired");
      }
      if (error instanceof jwt.JsonWebTokenError && error.message === "invalid signature") continue; // perhaps a previous secret signed it
      throw invalid("malformed token claims");
    }
    return parseClaims(payload);
  }
  throw invalid("bad token signature");
}

function parseClaims(value: unknown): AccessClaims {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("malformed token claims");
  }
  const c = value as Record<string, unknown>;
  if (c.typ !== "access") throw invalid("not an access token");
  const { sub, dev, fam, iat, exp } = c;
  if (
    !isId(sub) ||
    (dev !== undefined && !isId(dev)) ||
    (fam !== undefined && !isId(fam)) ||
    !Number.isSafeInteger(iat) ||
    !Number.isSafeInteger(exp) ||
    (exp as number) <= (iat as number)
  ) {
    throw invalid("malformed token claims");
  }
  const claims: AccessClaims = { sub, iat: iat as number, exp: exp as number, typ: "access" };
  if (dev !== undefined) claims.dev = dev;
  if (fam !== undefined) claims.fam = fam;
  return claims;
}

function epochSeconds(nowMs: number | undefined): number {
  const ms = nowMs ?? Date.now();
  // A NaN clock would make every token look unexpired; refuse it loudly instead.
  if (!Number.isFinite(ms)) throw new WeftError("INVALID_ARGUMENT", "now must be a finite time");
  return Math.floor(ms / 1000);
}

function base64url(text: string): string {
  // Node's base64url encoding never pads, as RFC 7515 requires.
  return Buffer.from(text, "utf8").toString("base64url");
}

function isId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `the JWT secret must be at least ${MIN_SECRET_BYTES} bytes`,
    );
  }
}

function invalid(message: string): AuthError {
  return new AuthError("invalid", message);
}
