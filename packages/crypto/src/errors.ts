/**
 * What went wrong, as a fixed set that callers can branch on:
 * - `NOT_READY`: a function was called before {@link ready} resolved.
 * - `TAMPERED`: sealed bytes failed authentication (flipped bit, wrong key, wrong associated data).
 * - `BAD_KEY`: a key has the wrong type or length, or a keyring has no key for an epoch.
 * - `BAD_INPUT`: an argument or an encoding is malformed (wrong length, garbage, trailing bytes).
 * - `BAD_SIGNATURE`: an envelope's signature does not verify for the claimed device.
 * - `WRONG_PASSWORD`: a password-protected secret did not open with the given password.
 *
 * @see {@link ready}
 */
export type CryptoErrorCode =
  "NOT_READY" | "TAMPERED" | "BAD_KEY" | "BAD_INPUT" | "BAD_SIGNATURE" | "WRONG_PASSWORD";

/**
 * The one error type thrown by `@weft/crypto`.
 *
 * Messages name the parameter and what was expected, never key or plaintext bytes, so an error
 * can be logged or sent over the wire without leaking secrets.
 */
export class CryptoError extends Error {
  /** Machine-readable reason; branch on this, not on the message. */
  readonly code: CryptoErrorCode;

  /**
   * @param code - the reason, see {@link CryptoErrorCode}
   * @param message - human-readable detail, free of secret bytes
   * @param options - `cause`: the underlying error, kept for debugging
   */
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CryptoError";
    this.code = code;
  }
}

// Internal helpers below are not re-exported from the package index.

/** Throws unless `value` is a Uint8Array of exactly `length` bytes. */
export function requireBytes(
  value: unknown,
  length: number,
  name: string,
  code: "BAD_KEY" | "BAD_INPUT" = "BAD_INPUT",
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError(code, `${name} must be a Uint8Array of ${length} bytes`);
  }
  if (value.length !== length) {
    throw new CryptoError(code, `${name} must be ${length} bytes, got ${value.length}`);
  }
}

/** Throws unless `value` is a Uint8Array no longer than `max` bytes. */
export function requireByteArray(
  value: unknown,
  name: string,
  max: number,
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new CryptoError("BAD_INPUT", `${name} must be a Uint8Array`);
  }
  if (value.length > max) {
    throw new CryptoError("BAD_INPUT", `${name} must be at most ${max} bytes, got ${value.length}`);
  }
}

/** Throws unless `value` is an integer in [0, max]. */
export function requireUint(value: unknown, name: string, max: number): asserts value is number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw new CryptoError("BAD_INPUT", `${name} must be an integer from 0 to ${max}`);
  }
}
