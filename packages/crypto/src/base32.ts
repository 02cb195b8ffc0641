import { CryptoError } from "./errors.js";

// RFC 4648 base32. libsodium has no base32 codec, and this is an encoding, not a cryptographic
// primitive; ids are public, so constant time does not matter here.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Unpadded upper-case RFC 4648 base32 of `bytes`. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Bytes of unpadded upper-case base32; rejects characters outside the alphabet, impossible
 * lengths and non-zero trailing bits, so the encoding of a byte string is unique.
 */
export function decodeBase32(text: string): Uint8Array {
  const rem = text.length % 8;
  if (rem === 1 || rem === 3 || rem === 6) {
    throw new CryptoError("BAD_INPUT", "base32 input has an impossible length");
  }
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (const char of text) {
    const value = ALPHABET.indexOf(char);
    if (value < 0)
      throw new CryptoError("BAD_INPUT", "base32 input has a character outside A-Z 2-7");
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 0xff;
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) {
    throw new CryptoError("BAD_INPUT", "base32 input has non-zero trailing bits");
  }
  return out;
}
