import { encodeBase32 } from "./base32.js";
import { CryptoError, requireBytes } from "./errors.js";
import { sha256 } from "./primitives.js";
import { sodium } from "./runtime.js";

/**
 * A device's public name: base32 of a hash of its Ed25519 public key, in eight dash-separated
 * groups of four, e.g. `"MFRG-GZDF-MZTW-Q2LK-NNWG-23TP-OBYX-E4ZT"`. Obtain one from
 * {@link deviceIdFromSignPublicKey} or {@link parseDeviceId}.
 */
export type DeviceId = string & { readonly __brand: "DeviceId" };

/**
 * A device's long-term keys. The secret keys never leave the device except protected by
 * {@link protectSecret}.
 */
export interface DeviceIdentity {
  /** Derived from `signPublicKey`; what other devices and the relay call this device. */
  deviceId: DeviceId;
  /** Ed25519 public key, 32 bytes. */
  signPublicKey: Uint8Array;
  /** Ed25519 secret key in libsodium's 64-byte form (seed ‖ public key). */
  signSecretKey: Uint8Array;
  /** X25519 public key, 32 bytes: folder keys are sealed to it. */
  boxPublicKey: Uint8Array;
  /** X25519 secret key, 32 bytes. */
  boxSecretKey: Uint8Array;
}

const ID_BYTES = 20; // 160 bits: collision-free for any realistic number of devices.
const ID_CHARS = 32; // 20 bytes are exactly 32 base32 characters, with no padding bits.
const CANONICAL = /^(?:[A-Z2-7]{4}-){7}[A-Z2-7]{4}$/;

/**
 * A fresh device identity: an Ed25519 signing key pair and a separate X25519 key pair.
 *
 * The X25519 pair is generated on its own rather than converted from the Ed25519 key
 * (crypto_sign_ed25519_sk_to_curve25519): using one secret in two algorithms needs a joint
 * security argument we do not want to depend on, and a separate box key can be rotated without
 * changing the device id. The cost is one more public key, which the device publishes signed.
 */
export function generateDeviceIdentity(): DeviceIdentity {
  const s = sodium();
  return identityFrom(s.crypto_sign_keypair(), s.crypto_box_keypair());
}

/**
 * The identity generated deterministically from two 32-byte seeds, for tests and seeded
 * simulations. The seeds are as secret as the keys they produce.
 */
export function deviceIdentityFromSeeds(signSeed: Uint8Array, boxSeed: Uint8Array): DeviceIdentity {
  const s = sodium();
  requireBytes(signSeed, s.crypto_sign_SEEDBYTES, "signSeed", "BAD_KEY");
  requireBytes(boxSeed, s.crypto_box_SEEDBYTES, "boxSeed", "BAD_KEY");
  return identityFrom(s.crypto_sign_seed_keypair(signSeed), s.crypto_box_seed_keypair(boxSeed));
}

function identityFrom(
  sign: { publicKey: Uint8Array; privateKey: Uint8Array },
  box: { publicKey: Uint8Array; privateKey: Uint8Array },
): DeviceIdentity {
  return {
    deviceId: deviceIdFromSignPublicKey(sign.publicKey),
    signPublicKey: sign.publicKey,
    signSecretKey: sign.privateKey,
    boxPublicKey: box.publicKey,
    boxSecretKey: box.privateKey,
  };
}

/**
 * The device id of an Ed25519 public key: RFC 4648 base32 (A–Z, 2–7, no padding) of the first
 * 20 bytes of SHA-256(pk), 32 characters grouped by four. Base32 because it survives being read
 * aloud and typed: one case, no 0/O or 1/I pairs.
 */
export function deviceIdFromSignPublicKey(signPublicKey: Uint8Array): DeviceId {
  const s = sodium();
  requireBytes(signPublicKey, s.crypto_sign_PUBLICKEYBYTES, "signPublicKey", "BAD_KEY");
  return group(encodeBase32(sha256(signPublicKey).subarray(0, ID_BYTES)));
}

function group(chars: string): DeviceId {
  return (chars.match(/.{4}/g) ?? []).join("-") as DeviceId;
}

/**
 * The canonical device id for what a person typed. Accepts lower case, spaces and dashes
 * anywhere, and the digits people type for look-alike letters (0→O, 1→I, 8→B), none of which
 * occur in base32.
 *
 * There is no checksum: a mistyped letter gives another well-formed id, which then matches no
 * device. Callers show the id back to the user rather than trusting a typed one blindly.
 *
 * @throws CryptoError BAD_INPUT when the input is not 32 base32 characters after clean-up
 */
export function parseDeviceId(typed: string): DeviceId {
  sodium();
  if (typeof typed !== "string" || typed.length > 256) {
    throw new CryptoError("BAD_INPUT", "device id must be a string of 32 characters (A-Z, 2-7)");
  }
  const cleaned = typed
    .replace(/[\s-]+/g, "")
    .toUpperCase()
    .replace(/0/g, "O")
    .replace(/1/g, "I")
    .replace(/8/g, "B");
  const bad = /[^A-Z2-7]/.exec(cleaned);
  if (bad) {
    throw new CryptoError(
      "BAD_INPUT",
      `device id contains "${bad[0]}"; only letters A-Z and digits 2-7 are allowed`,
    );
  }
  if (cleaned.length !== ID_CHARS) {
    throw new CryptoError(
      "BAD_INPUT",
      `device id must have ${ID_CHARS} characters (A-Z, 2-7), got ${cleaned.length}`,
    );
  }
  return group(cleaned);
}

/** Whether `value` is a device id in canonical form (as produced here); for wire validation. */
export function isDeviceId(value: unknown): value is DeviceId {
  return typeof value === "string" && CANONICAL.test(value);
}

/** The first 7 characters of a device id without dashes, as used in conflict file names. */
export function shortDeviceId(id: DeviceId): string {
  sodium();
  if (!isDeviceId(id)) {
    throw new CryptoError("BAD_INPUT", "shortDeviceId needs a canonical device id");
  }
  return id.replace(/-/g, "").slice(0, 7);
}
