/** AuthError: why a request was refused authentication or authorisation, mapped to wire codes. */
import { ProtocolError } from "@weft/core";

/**
 * Why authentication failed. `expired` and `invalid` come from token verification; `revoked` is
 * a genuine, unexpired token of a sign-in that ended (logout, a reused refresh token); the
 * server uses `unauthorized` (no credentials, a wrong password) and `forbidden` (authenticated,
 * but not allowed).
 */
export type AuthFailure = "expired" | "invalid" | "revoked" | "unauthorized" | "forbidden";

/**
 * A refused authentication or authorisation. A {@link ProtocolError} so that the relay answers
 * it like any other protocol error: `wireCode` is `"forbidden"` (403) for `forbidden` and
 * `"unauthorized"` (401) otherwise. `reason` is the finer cause, for logs and metrics and so
 * the server can tell a client to refresh (`expired`) rather than sign in again (`invalid`).
 */
export class AuthError extends ProtocolError {
  /** The finer reason behind {@link ProtocolError.wireCode}. */
  readonly reason: AuthFailure;

  /**
   * @param reason - see {@link AuthFailure}
   * @param message - for people; never contains a token, a password or a secret
   */
  constructor(reason: AuthFailure, message: string) {
    super(reason === "forbidden" ? "forbidden" : "unauthorized", message);
    this.reason = reason;
    // Same reason as ProtocolError: `name` is typed as a literal upstream, so set the own property.
    Object.defineProperty(this, "name", { value: "AuthError", configurable: true });
  }
}
