import { CryptoError, requireByteArray } from "./errors.js";
import { sodium } from "./runtime.js";

// libsodium's codecs run in constant time with respect to the bytes, which matters because these
// helpers also encode keys and invite secrets. Error messages never echo the input for the same
// reason.

const MAX_ENCODE = 0x7fffffff;

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  const s = sodium();
  requireByteArray(bytes, "bytes", MAX_ENCODE);
  return s.to_hex(bytes);
}

/**
 * Bytes of a hex string (either case, even length, nothing else).
 * @throws CryptoError BAD_INPUT on anything else
 */
export function fromHex(hex: string): Uint8Array {
  const s = sodium();
  if (typeof hex !== "string" || hex.length % 2 !== 0) {
    throw new CryptoError("BAD_INPUT", "hex must be a string of even length");
  }
  try {
    return s.from_hex(hex);
  } catch (cause) {
    throw new CryptoError("BAD_INPUT", "hex contains characters other than 0-9, a-f", { cause });
  }
}

/** Unpadded base64url (RFC 4648 §5) of `bytes`: safe in URLs, file names and JSON. */
export function toBase64Url(bytes: Uint8Array): string {
  const s = sodium();
  requireByteArray(bytes, "bytes", MAX_ENCODE);
  return s.to_base64(bytes, s.base64_variants.URLSAFE_NO_PADDING);
}

/**
 * Bytes of an unpadded base64url string. Strict: padding, `+`, `/`, whitespace and non-canonical
 * trailing bits are all rejected, so each byte string has exactly one accepted encoding.
 * @throws CryptoError BAD_INPUT on anything else
 */
export function fromBase64Url(text: string): Uint8Array {
  const s = sodium();
  if (typeof text !== "string") {
    throw new CryptoError("BAD_INPUT", "base64url input must be a string");
  }
  try {
    return s.from_base64(text, s.base64_variants.URLSAFE_NO_PADDING);
  } catch (cause) {
    throw new CryptoError("BAD_INPUT", "base64url input is malformed (unpadded A-Z a-z 0-9 - _)", {
      cause,
    });
  }
}

/** Shared UTF-8 codec; the decoder is fatal so invalid UTF-8 is rejected, not replaced. */
export const utf8Encoder = new TextEncoder();
/** Fatal UTF-8 decoder for untrusted input. */
export const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
