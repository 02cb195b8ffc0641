import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, xchachaOpen, xchachaSeal } from "./aead.js";
import { CryptoError, requireByteArray, requireBytes } from "./errors.js";
import { fromBase64Url, toBase64Url, utf8Encoder } from "./encoding.js";
import { FOLDER_KEY_BYTES } from "./keys.js";
import { randomBytes } from "./primitives.js";
import { sodium } from "./runtime.js";

/** Length of a key sealed to a device: 32-byte key + crypto_box_SEALBYTES (48). */
export const WRAPPED_FOR_DEVICE_BYTES = FOLDER_KEY_BYTES + 48;
/** Length of a key wrapped with an invite secret: version 1 + nonce 24 + key 32 + tag 16. */
export const WRAPPED_WITH_SECRET_BYTES = 1 + AEAD_NONCE_BYTES + FOLDER_KEY_BYTES + AEAD_TAG_BYTES;

const SECRET_BYTES = 32;
const SECRET_WRAP_VERSION = 1;
const SECRET_KDF_CONTEXT = "weftinvt"; // crypto_kdf contexts are exactly 8 bytes.
const SECRET_KDF_ID = 1n;
const AAD_LABEL = utf8Encoder.encode("weft-invite-wrap");
const MAX_CONTEXT = 4096;

/**
 * Seals a 32-byte key (a folder key) to a device's X25519 public key with crypto_box_seal.
 *
 * A sealed box is anonymous: anyone, the relay included, can seal a key of their choosing to a
 * device. A device must therefore only accept a wrapped key that arrives inside something a
 * member signed (an envelope, or a {@link signDetached} statement naming folder and epoch).
 */
export function wrapKeyForDevice(key: Uint8Array, boxPublicKey: Uint8Array): Uint8Array {
  const s = sodium();
  requireBytes(key, FOLDER_KEY_BYTES, "key", "BAD_KEY");
  requireBytes(boxPublicKey, s.crypto_box_PUBLICKEYBYTES, "boxPublicKey", "BAD_KEY");
  return s.crypto_box_seal(key, boxPublicKey);
}

/**
 * Opens {@link wrapKeyForDevice} output with the device's X25519 key pair.
 * @throws CryptoError TAMPERED when the bytes were changed, truncated or sealed to another key
 */
export function unwrapKeyForDevice(
  wrapped: Uint8Array,
  boxPublicKey: Uint8Array,
  boxSecretKey: Uint8Array,
): Uint8Array {
  const s = sodium();
  requireBytes(boxPublicKey, s.crypto_box_PUBLICKEYBYTES, "boxPublicKey", "BAD_KEY");
  requireBytes(boxSecretKey, s.crypto_box_SECRETKEYBYTES, "boxSecretKey", "BAD_KEY");
  if (!(wrapped instanceof Uint8Array)) throw new CryptoError("BAD_INPUT", "wrapped must be bytes");
  if (wrapped.length !== WRAPPED_FOR_DEVICE_BYTES) {
    throw new CryptoError("TAMPERED", `wrapped key must be ${WRAPPED_FOR_DEVICE_BYTES} bytes`);
  }
  try {
    return s.crypto_box_seal_open(wrapped, boxPublicKey, boxSecretKey);
  } catch (cause) {
    throw new CryptoError("TAMPERED", "wrapped key does not open with this device key", {
      cause,
    });
  }
}

/**
 * A fresh invite secret: 32 random bytes as unpadded base64url (43 characters). It travels out
 * of band (a link, a QR code) and never to the relay. At 256 bits it needs no password hashing.
 */
export function generateInviteSecret(): string {
  sodium();
  return toBase64Url(randomBytes(SECRET_BYTES));
}

/**
 * Wraps a 32-byte key with an invite secret, bound to `context` (e.g. folder id ‖ epoch).
 *
 * The wrapping key is crypto_kdf_derive_from_key(secret, id 1, context `"weftinvt"`), so the
 * raw secret is never used as a cipher key. Layout: `version (1) ‖ nonce (24) ‖ ciphertext (32)
 * ‖ tag (16)`; associated data `"weft-invite-wrap" ‖ version ‖ context`.
 *
 * @throws CryptoError BAD_INPUT when `secret` is not 32 bytes of base64url or `context` is empty
 */
export function wrapKeyWithSecret(
  key: Uint8Array,
  secret: string,
  context: Uint8Array,
): Uint8Array {
  sodium();
  requireBytes(key, FOLDER_KEY_BYTES, "key", "BAD_KEY");
  const ad = secretAad(context);
  const wrappingKey = wrappingKeyFrom(secret);
  try {
    const nonce = randomBytes(AEAD_NONCE_BYTES);
    const out = new Uint8Array(WRAPPED_WITH_SECRET_BYTES);
    out[0] = SECRET_WRAP_VERSION;
    out.set(nonce, 1);
    out.set(xchachaSeal(wrappingKey, nonce, key, ad), 1 + AEAD_NONCE_BYTES);
    return out;
  } finally {
    sodium().memzero(wrappingKey);
  }
}

/**
 * Opens {@link wrapKeyWithSecret} output.
 * @throws CryptoError TAMPERED for a wrong secret or context or modified bytes; BAD_INPUT when
 * `secret` or `context` is malformed
 */
export function unwrapKeyWithSecret(
  wrapped: Uint8Array,
  secret: string,
  context: Uint8Array,
): Uint8Array {
  sodium();
  const ad = secretAad(context);
  const wrappingKey = wrappingKeyFrom(secret);
  try {
    if (!(wrapped instanceof Uint8Array)) {
      throw new CryptoError("BAD_INPUT", "wrapped must be bytes");
    }
    if (wrapped.length !== WRAPPED_WITH_SECRET_BYTES || wrapped[0] !== SECRET_WRAP_VERSION) {
      throw new CryptoError("TAMPERED", "wrapped key is not a version 1 invite wrap");
    }
    return xchachaOpen(
      wrappingKey,
      wrapped.subarray(1, 1 + AEAD_NONCE_BYTES),
      wrapped.subarray(1 + AEAD_NONCE_BYTES),
      ad,
    );
  } finally {
    sodium().memzero(wrappingKey);
  }
}

function wrappingKeyFrom(secret: string): Uint8Array {
  const s = sodium();
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(secret);
  } catch (cause) {
    throw new CryptoError("BAD_INPUT", "invite secret is not base64url", { cause });
  }
  try {
    requireBytes(bytes, SECRET_BYTES, "invite secret");
    return s.crypto_kdf_derive_from_key(FOLDER_KEY_BYTES, SECRET_KDF_ID, SECRET_KDF_CONTEXT, bytes);
  } finally {
    s.memzero(bytes);
  }
}

function secretAad(context: Uint8Array): Uint8Array {
  requireByteArray(context, "context", MAX_CONTEXT);
  if (context.length === 0) {
    throw new CryptoError("BAD_INPUT", "context must not be empty: it binds the wrap to a folder");
  }
  const out = new Uint8Array(AAD_LABEL.length + 1 + context.length);
  out.set(AAD_LABEL, 0);
  out[AAD_LABEL.length] = SECRET_WRAP_VERSION;
  out.set(context, AAD_LABEL.length + 1);
  return out;
}
