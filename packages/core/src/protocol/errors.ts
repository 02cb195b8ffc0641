/** The protocol's fixed error codes, their HTTP statuses, and the error class that carries them. */
import { WeftError } from "../errors.js";

/**
 * Every reason a peer can give for refusing something, on the wire and in the relay's JSON
 * errors. The set is closed: adding a code is a protocol change (see PROTOCOL.md, "Versioning").
 *
 * - `bad_frame`: the frame or a field in it is malformed (truncated, wrong type, invalid id…).
 * - `unsupported_version`: no common protocol version, or an unknown frame format.
 * - `unauthorized`: no valid access token (missing, expired, revoked).
 * - `forbidden`: authenticated, but not a member with the needed role.
 * - `not_found`: no such folder, snapshot or item.
 * - `conflict`: the request contradicts the relay's state (a replayed device sequence, say).
 * - `too_large`: a frame, field or batch exceeds its limit in {@link frameLimits}.
 * - `rate_limited`: too many requests; retry later.
 * - `bad_signature`: an envelope's signature does not verify for a member device.
 * - `unavailable`: the connection is closed or the relay is shutting down; reconnect later.
 * - `internal`: a failure on the sender's side, details withheld.
 * - `quota_exceeded`: storing this would take the folder over the relay's storage quota
 *   (HTTP only, 507: the relay never sends it over a WebSocket, whose messages store no chunks).
 */
export type ProtocolErrorCode =
  | "bad_frame"
  | "unsupported_version"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "too_large"
  | "rate_limited"
  | "bad_signature"
  | "unavailable"
  | "internal"
  | "quota_exceeded";

/**
 * The HTTP status the relay answers with for each code, so WebSocket and HTTP errors agree.
 *
 * `unsupported_version` is 400, not 426: RFC 9110 requires a 426 to name, in an `Upgrade`
 * header, a protocol to switch to on this connection, and the remedy here is newer software.
 * The JSON body's `code` already tells a client which it is. `bad_signature` is 400 because
 * the request itself is bad; it is not an authentication failure of the connection (401).
 */
export const PROTOCOL_ERROR_HTTP_STATUS: Readonly<Record<ProtocolErrorCode, number>> =
  Object.freeze({
    bad_frame: 400,
    unsupported_version: 400,
    unauthorized: 401,
    forbidden: 403,
    not_found: 404,
    conflict: 409,
    too_large: 413,
    rate_limited: 429,
    bad_signature: 400,
    unavailable: 503,
    internal: 500,
    quota_exceeded: 507,
  });

/** Every {@link ProtocolErrorCode}, in a fixed order (for tests and exhaustive tables). */
export const PROTOCOL_ERROR_CODES: readonly ProtocolErrorCode[] = Object.freeze(
  Object.keys(PROTOCOL_ERROR_HTTP_STATUS) as ProtocolErrorCode[],
);

/** Whether `value` is one of the fixed {@link ProtocolErrorCode}s. */
export function isProtocolErrorCode(value: unknown): value is ProtocolErrorCode {
  return typeof value === "string" && Object.hasOwn(PROTOCOL_ERROR_HTTP_STATUS, value);
}

/**
 * A protocol failure: a frame that does not decode, a limit exceeded, a failed negotiation, or
 * an `error` message received from the peer. `code` is always `"PROTOCOL"` (what callers of
 * @weft/core branch on); `wireCode` is the reason, as sent on the wire.
 */
export class ProtocolError extends WeftError {
  /** The reason, one of the fixed wire codes. */
  readonly wireCode: ProtocolErrorCode;

  /**
   * @param wireCode - the reason, see {@link ProtocolErrorCode}
   * @param message - for people; names the offending field, never contains a token or key
   * @param options - `cause`: the underlying error
   */
  constructor(wireCode: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super("PROTOCOL", message, options);
    this.wireCode = wireCode;
    // WeftError types `name` as the literal "WeftError", so a subclass cannot override the
    // field in TypeScript; define the own property instead so stack traces say ProtocolError.
    Object.defineProperty(this, "name", { value: "ProtocolError", configurable: true });
  }

  /** The HTTP status matching {@link wireCode}. */
  get httpStatus(): number {
    return PROTOCOL_ERROR_HTTP_STATUS[this.wireCode];
  }
}
