/** When a relay access token expires, read from the token, so a session can re-authenticate before then. */
import { fromBase64Url } from "@weft/crypto";

/**
 * The `exp` of a JWT access token in milliseconds since the epoch, or undefined when `token` is
 * not a JWT with a numeric `exp` (an app's own token scheme: then nothing is scheduled). The
 * signature is not checked: the relay does that; this only schedules the next `auth`.
 */
export function tokenExpiry(token: string): number | undefined {
  const body = token.split(".")[1];
  if (body === undefined || body.length > 4096) return undefined;
  try {
    const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(body))) as unknown;
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before authenticating again with a fresh token: 50 s before expiry (inside
 * the last minute, when `RelaySession.token` refreshes, so the token asked for then is a new
 * one), or halfway there for a short-lived token; never less than a second (no busy loop when
 * the token source keeps handing back the same, nearly expired token).
 */
export function reauthDelay(expires: number, now: number): number {
  const left = expires - now;
  return Math.max(1000, left > 120_000 ? left - 50_000 : left / 2);
}
