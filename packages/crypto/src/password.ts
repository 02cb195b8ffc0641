import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, xchachaOpen, xchachaSeal } from "./aead.js";
import { CryptoError, requireByteArray, requireUint } from "./errors.js";
import { utf8Encoder } from "./encoding.js";
import { randomBytes } from "./primitives.js";
import { sodium } from "./runtime.js";

/** Argon2id cost parameters, as libsodium's opslimit (passes) and memlimit (bytes). */
export interface PasswordHashLimits {
  /** Number of passes, 1 to 32. */
  opsLimit: number;
  /** Memory in bytes, a multiple of 1024 from 8 KiB to 1 GiB. */
  memLimit: number;
}

/**
 * Limits of {@link protectSecret}: 3 passes over 128 MiB, about 0.6 s in libsodium.js on one
 * core. Above RFC 9106's memory-constrained recommendation (3 passes, 64 MiB) because this runs
 * once per unlock on the user's own device, where the password is the only thing protecting
 * the device key if the disk is stolen; below libsodium's MODERATE (256 MiB, about 2 s in
 * WebAssembly) so that unlocking stays quick and fits the WebAssembly heap a phone's browser
 * grants.
 */
export const PROTECT_SECRET_LIMITS: Readonly<PasswordHashLimits> = Object.freeze({
  opsLimit: 3,
  memLimit: 128 * 1024 * 1024,
});

const MAX_PASSWORD = 4096;
const MAX_SECRET = 4096;
const MAX_OPS = 32;
const MAX_MEM = 1024 * 1024 * 1024;
const PROTECT_VERSION = 1;
const HEADER_BYTES = 1 + 1 + 4 + 4 + 16; // version, algorithm, opslimit, memlimit, salt
const AAD_LABEL = utf8Encoder.encode("weft-protected-secret");
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, as crypto_pwhash_str writes it.
const HASH_STRING =
  /^\$argon2id?\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=\d{1,3}\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/**
 * An Argon2id hash string of `password` (crypto_pwhash_str) for a server to store.
 *
 * Uses libsodium's INTERACTIVE limits (2 passes, 64 MiB): the relay verifies logins, and each
 * concurrent login holds its memory for the duration, so MODERATE (256 MiB) would let a handful
 * of simultaneous logins exhaust a small server. Passwords are NFC-normalised first so that the
 * same password typed on different systems hashes the same.
 */
export function hashPassword(password: string): string {
  const s = sodium();
  const pw = normalise(password);
  if (pw.length === 0) throw new CryptoError("BAD_INPUT", "password must not be empty");
  return s.crypto_pwhash_str(
    pw,
    s.crypto_pwhash_OPSLIMIT_INTERACTIVE,
    s.crypto_pwhash_MEMLIMIT_INTERACTIVE,
  );
}

/**
 * Whether `password` matches a {@link hashPassword} hash. A wrong password gives false.
 * @throws CryptoError BAD_INPUT when `hash` is not an Argon2 hash string, or asks for more than
 * 1 GiB (stored hashes are data; a tampered one must not make verification allocate at will)
 */
export function verifyPassword(hash: string, password: string): boolean {
  const s = sodium();
  checkHashString(hash);
  // hashPassword never accepts an over-long password, so none can match: a plain "no".
  if (typeof password === "string" && password.length > MAX_PASSWORD) return false;
  return s.crypto_pwhash_str_verify(hash, normalise(password));
}

/**
 * Whether a stored hash was made with other limits than {@link hashPassword} uses now; if so,
 * re-hash the password at the next successful login.
 * @throws CryptoError BAD_INPUT when `hash` is not an Argon2 hash string
 */
export function passwordNeedsRehash(hash: string): boolean {
  const s = sodium();
  checkHashString(hash);
  return s.crypto_pwhash_str_needs_rehash(
    hash,
    s.crypto_pwhash_OPSLIMIT_INTERACTIVE,
    s.crypto_pwhash_MEMLIMIT_INTERACTIVE,
  );
}

/**
 * Protects a device secret (1 to 4096 bytes) at rest under a password.
 *
 * A random 16-byte salt and Argon2id (crypto_pwhash, {@link PROTECT_SECRET_LIMITS} unless
 * `limits` says otherwise) give a key for XChaCha20-Poly1305. Self-describing layout, integers
 * big-endian: `version 1 (1) ‖ algorithm 2 = Argon2id v1.3 (1) ‖ opslimit (u32) ‖ memlimit in
 * bytes (u32) ‖ salt (16) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`. The first 26 bytes are also
 * associated data, so the stored limits cannot be lowered without the blob failing to open.
 *
 * @param limits - lower limits for tests; higher ones for secrets that deserve it
 */
export function protectSecret(
  secret: Uint8Array,
  password: string,
  limits: PasswordHashLimits = PROTECT_SECRET_LIMITS,
): Uint8Array {
  const s = sodium();
  requireByteArray(secret, "secret", MAX_SECRET);
  if (secret.length === 0) throw new CryptoError("BAD_INPUT", "secret must not be empty");
  const pw = normalise(password);
  if (pw.length === 0) throw new CryptoError("BAD_INPUT", "password must not be empty");
  checkLimits(limits.opsLimit, limits.memLimit);
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  header[0] = PROTECT_VERSION;
  header[1] = s.crypto_pwhash_ALG_ARGON2ID13;
  view.setUint32(2, limits.opsLimit, false);
  view.setUint32(6, limits.memLimit, false);
  header.set(randomBytes(s.crypto_pwhash_SALTBYTES), 10);
  const key = deriveKey(pw, header);
  try {
    const nonce = randomBytes(AEAD_NONCE_BYTES);
    const sealed = xchachaSeal(key, nonce, secret, associatedData(header));
    const out = new Uint8Array(HEADER_BYTES + AEAD_NONCE_BYTES + sealed.length);
    out.set(header, 0);
    out.set(nonce, HEADER_BYTES);
    out.set(sealed, HEADER_BYTES + AEAD_NONCE_BYTES);
    return out;
  } finally {
    s.memzero(key);
  }
}

/**
 * Recovers a secret protected by {@link protectSecret}.
 * @throws CryptoError WRONG_PASSWORD when the blob does not open (a wrong password and modified
 * bytes are indistinguishable); BAD_INPUT when the blob is malformed or its limits are out of
 * range
 */
export function unprotectSecret(blob: Uint8Array, password: string): Uint8Array {
  const s = sodium();
  if (!(blob instanceof Uint8Array)) throw new CryptoError("BAD_INPUT", "blob must be bytes");
  const min = HEADER_BYTES + AEAD_NONCE_BYTES + 1 + AEAD_TAG_BYTES;
  if (blob.length < min || blob.length > min - 1 + MAX_SECRET) {
    throw new CryptoError("BAD_INPUT", "protected secret has an impossible length");
  }
  if (blob[0] !== PROTECT_VERSION) {
    throw new CryptoError("BAD_INPUT", `unsupported protected secret version ${blob[0]}`);
  }
  if (blob[1] !== s.crypto_pwhash_ALG_ARGON2ID13) {
    throw new CryptoError("BAD_INPUT", `unsupported password hash algorithm ${blob[1]}`);
  }
  const header = blob.slice(0, HEADER_BYTES);
  const view = new DataView(header.buffer);
  checkLimits(view.getUint32(2, false), view.getUint32(6, false));
  if (typeof password === "string" && password.length > MAX_PASSWORD) {
    throw new CryptoError("WRONG_PASSWORD", "wrong password");
  }
  const key = deriveKey(normalise(password), header);
  try {
    return xchachaOpen(
      key,
      blob.subarray(HEADER_BYTES, HEADER_BYTES + AEAD_NONCE_BYTES),
      blob.subarray(HEADER_BYTES + AEAD_NONCE_BYTES),
      associatedData(header),
    );
  } catch (cause) {
    if (cause instanceof CryptoError && cause.code === "TAMPERED") {
      throw new CryptoError(
        "WRONG_PASSWORD",
        "wrong password (or the protected secret was modified)",
        {
          cause,
        },
      );
    }
    throw cause;
  } finally {
    s.memzero(key);
  }
}

function deriveKey(password: string, header: Uint8Array): Uint8Array {
  const s = sodium();
  const view = new DataView(header.buffer, header.byteOffset, header.length);
  return s.crypto_pwhash(
    32,
    password,
    header.subarray(10, HEADER_BYTES),
    view.getUint32(2, false),
    view.getUint32(6, false),
    s.crypto_pwhash_ALG_ARGON2ID13,
  );
}

function associatedData(header: Uint8Array): Uint8Array {
  const out = new Uint8Array(AAD_LABEL.length + header.length);
  out.set(AAD_LABEL, 0);
  out.set(header, AAD_LABEL.length);
  return out;
}

function checkLimits(opsLimit: number, memLimit: number): void {
  const s = sodium();
  requireUint(opsLimit, "opsLimit", MAX_OPS);
  requireUint(memLimit, "memLimit", MAX_MEM);
  if (opsLimit < s.crypto_pwhash_OPSLIMIT_MIN) {
    throw new CryptoError("BAD_INPUT", `opsLimit must be at least ${s.crypto_pwhash_OPSLIMIT_MIN}`);
  }
  if (memLimit < s.crypto_pwhash_MEMLIMIT_MIN || memLimit % 1024 !== 0) {
    throw new CryptoError(
      "BAD_INPUT",
      `memLimit must be a multiple of 1024 from ${s.crypto_pwhash_MEMLIMIT_MIN} to ${MAX_MEM}`,
    );
  }
}

function checkHashString(hash: string): void {
  const match = typeof hash === "string" ? HASH_STRING.exec(hash) : null;
  if (!match) throw new CryptoError("BAD_INPUT", "not an Argon2 password hash string");
  if (Number(match[1]) * 1024 > MAX_MEM || Number(match[2]) > MAX_OPS) {
    throw new CryptoError("BAD_INPUT", "password hash asks for limits beyond 1 GiB / 32 passes");
  }
}

function normalise(password: string): string {
  if (typeof password !== "string" || password.length > MAX_PASSWORD) {
    throw new CryptoError(
      "BAD_INPUT",
      `password must be a string of at most ${MAX_PASSWORD} characters`,
    );
  }
  return password.normalize("NFC");
}
