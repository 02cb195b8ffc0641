import { CryptoError, requireByteArray, requireBytes } from "./errors.js";
import { nodeAeadAvailable, nodeCryptoModule, sodium } from "./runtime.js";
import type { NodeCrypto } from "./runtime.js";

/** Which XChaCha20-Poly1305 implementation to use. */
export type AeadImplementation = "node" | "sodium";

/** XChaCha20-Poly1305 key length in bytes. */
export const AEAD_KEY_BYTES = 32;
/** XChaCha20-Poly1305 nonce length in bytes: long enough to pick at random for every message. */
export const AEAD_NONCE_BYTES = 24;
/** Poly1305 tag length in bytes, appended to every ciphertext. */
export const AEAD_TAG_BYTES = 16;

// Plaintext and associated data are capped well below 2^31 so lengths always fit the u32
// fields of the sealed formats and the node:crypto and libsodium.js buffer limits.
const MAX_MESSAGE = 0x40000000;

/**
 * The implementation {@link xchachaSeal} and {@link xchachaOpen} use by default: `"node"` when
 * node:crypto's chacha20-poly1305 is present and passed the start-up self-test, else `"sodium"`.
 */
export function aeadImplementation(): AeadImplementation {
  return nodeAeadAvailable() ? "node" : "sodium";
}

/**
 * XChaCha20-Poly1305 (IETF) encryption: returns ciphertext ‖ 16-byte tag, byte-identical to
 * libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt whichever implementation runs.
 *
 * The `"node"` path derives the ChaCha20 subkey with libsodium's crypto_core_hchacha20 and runs
 * the bulk cipher on node:crypto's chacha20-poly1305 (about 3× faster in Node); nothing is
 * implemented by hand. Never reuse a nonce with the same key: pick it with {@link randomBytes}.
 *
 * @param impl - force an implementation (tests, benchmarks); default {@link aeadImplementation}
 */
export function xchachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  impl?: AeadImplementation,
): Uint8Array {
  const out = new Uint8Array(checkArgs(key, nonce, plaintext, aad, "plaintext") + AEAD_TAG_BYTES);
  sealInto(out, 0, key, nonce, plaintext, aad, impl);
  return out;
}

/**
 * Opens what {@link xchachaSeal} produced.
 * @throws CryptoError TAMPERED when authentication fails (any change to key, nonce, ciphertext,
 * tag or associated data) or `sealed` is shorter than a tag; no unverified plaintext escapes
 */
export function xchachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  impl?: AeadImplementation,
): Uint8Array {
  checkArgs(key, nonce, sealed, aad, "sealed");
  if (sealed.length < AEAD_TAG_BYTES) {
    throw new CryptoError("TAMPERED", `sealed data is shorter than the ${AEAD_TAG_BYTES}-byte tag`);
  }
  const nc = pick(impl);
  return nc ? nodeOpen(nc, key, nonce, sealed, aad) : sodiumOpen(key, nonce, sealed, aad);
}

/**
 * Seals into `out` at `offset` (which must have room for plaintext + tag), so the sealed
 * formats can put their header and the ciphertext in one buffer without another copy.
 * Arguments must already have been checked.
 */
export function sealInto(
  out: Uint8Array,
  offset: number,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  impl?: AeadImplementation,
): void {
  const nc = pick(impl);
  if (!nc) {
    out.set(
      sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, key),
      offset,
    );
    return;
  }
  const subkey = hchacha(key, nonce);
  try {
    const cipher = nc.createCipheriv("chacha20-poly1305", subkey, ietfNonce(nonce), {
      authTagLength: AEAD_TAG_BYTES,
    });
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    out.set(body, offset);
    const rest = cipher.final();
    out.set(rest, offset + body.length);
    out.set(cipher.getAuthTag(), offset + plaintext.length);
  } finally {
    // OpenSSL holds its own copy of the key schedule; ours need not outlive this call.
    sodium().memzero(subkey);
  }
}

/** Validates AEAD arguments and returns the message length. */
export function checkArgs(
  key: Uint8Array,
  nonce: Uint8Array,
  message: Uint8Array,
  aad: Uint8Array,
  messageName: string,
): number {
  sodium();
  requireBytes(key, AEAD_KEY_BYTES, "key", "BAD_KEY");
  requireBytes(nonce, AEAD_NONCE_BYTES, "nonce");
  requireByteArray(message, messageName, MAX_MESSAGE);
  requireByteArray(aad, "aad", MAX_MESSAGE);
  return message.length;
}

function pick(impl: AeadImplementation | undefined): NodeCrypto | undefined {
  const chosen = impl ?? aeadImplementation();
  if (chosen === "sodium") return undefined;
  if (chosen !== "node") {
    throw new CryptoError("BAD_INPUT", 'impl must be "node" or "sodium"');
  }
  const nc = nodeCryptoModule();
  if (!nc || !nodeAeadAvailable()) {
    throw new CryptoError("BAD_INPUT", "the node:crypto AEAD is not available in this runtime");
  }
  return nc;
}

function hchacha(key: Uint8Array, nonce: Uint8Array): Uint8Array {
  return sodium().crypto_core_hchacha20(nonce.subarray(0, 16), key, null);
}

// XChaCha20 = ChaCha20-IETF under the HChaCha20 subkey, with nonce 0x00000000 ‖ nonce[16..24].
function ietfNonce(nonce: Uint8Array): Uint8Array {
  const iv = new Uint8Array(12);
  iv.set(nonce.subarray(16, 24), 4);
  return iv;
}

function nodeOpen(
  nc: NodeCrypto,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const length = sealed.length - AEAD_TAG_BYTES;
  const out = new Uint8Array(length);
  const subkey = hchacha(key, nonce);
  try {
    const decipher = nc.createDecipheriv("chacha20-poly1305", subkey, ietfNonce(nonce), {
      authTagLength: AEAD_TAG_BYTES,
    });
    decipher.setAuthTag(sealed.subarray(length));
    decipher.setAAD(aad, { plaintextLength: length });
    const body = decipher.update(sealed.subarray(0, length));
    out.set(body, 0);
    body.fill(0);
    decipher.final(); // throws when the tag does not verify
    return out;
  } catch (cause) {
    // node:crypto hands out plaintext before the tag is checked; wipe it so it cannot leak.
    out.fill(0);
    throw new CryptoError("TAMPERED", "decryption failed: wrong key or data was modified", {
      cause,
    });
  } finally {
    sodium().memzero(subkey);
  }
}

function sodiumOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, aad, nonce, key);
  } catch (cause) {
    throw new CryptoError("TAMPERED", "decryption failed: wrong key or data was modified", {
      cause,
    });
  }
}
