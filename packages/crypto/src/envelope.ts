// Index updates as envelopes: encrypted with the folder index subkey, signed by the writing device.
import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, checkArgs, sealInto, xchachaOpen } from "./aead.js";
import { CryptoError, requireByteArray, requireBytes, requireUint } from "./errors.js";
import { utf8Decoder, utf8Encoder } from "./encoding.js";
import type { DeviceId } from "./identity.js";
import { deviceIdFromSignPublicKey, isDeviceId } from "./identity.js";
import type { FolderId } from "./keys.js";
import { FOLDER_KEY_BYTES, MAX_EPOCH, requireFolderIdShape } from "./keys.js";
import { randomBytes, signDetached, verifyDetached } from "./primitives.js";
import { sodium } from "./runtime.js";

/** The public part of an envelope: readable by the relay, authenticated by signature and AEAD. */
export interface EnvelopeHeader {
  /** The folder the update belongs to. */
  folderId: FolderId;
  /** The device that wrote it; must be the device of the signing key. */
  deviceId: DeviceId;
  /** The device's own counter, increasing by one per envelope, so gaps and replays show. */
  deviceSeq: number;
  /** The key epoch of the index subkey used. */
  epoch: number;
}

/** A sealed, signed index update. */
export interface Envelope extends EnvelopeHeader {
  /** 24-byte random XChaCha20-Poly1305 nonce. */
  nonce: Uint8Array;
  /** Encrypted payload ‖ 16-byte tag. */
  ciphertext: Uint8Array;
  /** 64-byte Ed25519 signature over header, nonce and ciphertext. */
  signature: Uint8Array;
}

/** Envelope binary format version. */
export const ENVELOPE_FORMAT_VERSION = 1;
/** Largest ciphertext (payload + tag) an envelope may carry: 16 MiB. */
export const MAX_ENVELOPE_CIPHERTEXT = 16 * 1024 * 1024;
/** Largest payload {@link sealEnvelope} accepts. */
export const MAX_ENVELOPE_PAYLOAD = MAX_ENVELOPE_CIPHERTEXT - AEAD_TAG_BYTES;

const SIGNATURE_CONTEXT = "envelope/v1";
const AAD_LABEL = utf8Encoder.encode("weft-envelope");
const SIGNATURE_BYTES = 64;

/**
 * Seals an index update as an envelope: **encrypt, then sign**.
 *
 * The relay must check which member device wrote an envelope (to accept, order and fan it out)
 * without holding any folder key. So the signature covers exactly what the relay sees: the
 * public header, the nonce and the ciphertext. Signing the plaintext instead would leave the
 * relay unable to check anything, and would let anyone who saw a signature test guesses of
 * the plaintext against it.
 *
 * Encrypt-then-sign has a known weakness: anyone can strip the signature and re-sign the same
 * ciphertext as another device. That fails here because the header (folder, device id, device
 * sequence number, epoch) is also the AEAD associated data: a ciphertext re-signed under another
 * device id, or replayed with another sequence number or into another folder, no longer
 * decrypts. And since the device id is a hash of the signing key, a signature only verifies for
 * the device the header names.
 *
 * Concretely: `payload` is encrypted with XChaCha20-Poly1305 under the folder's index subkey
 * with the header as associated data, then header, nonce and ciphertext are signed with the
 * device's Ed25519 key (context `"envelope/v1"`, see {@link signDetached}).
 *
 * @throws CryptoError BAD_KEY if `signSecretKey` is not the key of `header.deviceId`
 */
export function sealEnvelope(
  header: EnvelopeHeader,
  indexKey: Uint8Array,
  signSecretKey: Uint8Array,
  payload: Uint8Array,
): Envelope {
  const s = sodium();
  const headerBytes = encodeHeader(header);
  requireBytes(indexKey, FOLDER_KEY_BYTES, "indexKey", "BAD_KEY");
  requireBytes(signSecretKey, s.crypto_sign_SECRETKEYBYTES, "signSecretKey", "BAD_KEY");
  requireByteArray(payload, "payload", MAX_ENVELOPE_PAYLOAD);
  const signer = deviceIdFromSignPublicKey(s.crypto_sign_ed25519_sk_to_pk(signSecretKey));
  if (signer !== header.deviceId) {
    throw new CryptoError("BAD_KEY", "signSecretKey does not belong to header.deviceId");
  }
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const ad = associatedData(headerBytes);
  checkArgs(indexKey, nonce, payload, ad, "payload");
  const ciphertext = new Uint8Array(payload.length + AEAD_TAG_BYTES);
  sealInto(ciphertext, 0, indexKey, nonce, payload, ad);
  const unsigned = {
    folderId: header.folderId,
    deviceId: header.deviceId,
    deviceSeq: header.deviceSeq,
    epoch: header.epoch,
    nonce,
    ciphertext,
  };
  const signature = signDetached(
    SIGNATURE_CONTEXT,
    encodeBody(unsigned, headerBytes),
    signSecretKey,
  );
  return { ...unsigned, signature };
}

/**
 * Whether `env` was signed by the device whose public key is `signPublicKey` and names that
 * device. Needs no folder key: this is what the relay runs. Malformed envelopes give false.
 * @throws CryptoError BAD_KEY only when `signPublicKey` itself is malformed
 */
export function verifyEnvelopeSignature(env: Envelope, signPublicKey: Uint8Array): boolean {
  const s = sodium();
  requireBytes(signPublicKey, s.crypto_sign_PUBLICKEYBYTES, "signPublicKey", "BAD_KEY");
  let body: Uint8Array;
  try {
    body = encodeBody(env, encodeHeader(env));
  } catch (error) {
    if (error instanceof CryptoError && error.code === "BAD_INPUT") return false;
    throw error;
  }
  if (env.deviceId !== deviceIdFromSignPublicKey(signPublicKey)) return false;
  return verifyDetached(SIGNATURE_CONTEXT, env.signature, body, signPublicKey);
}

/**
 * Verifies, then decrypts, an envelope.
 * @throws CryptoError BAD_SIGNATURE when the signature does not verify for `signPublicKey` (or
 * the envelope names another device); TAMPERED when it verifies but does not decrypt
 */
export function openEnvelope(
  env: Envelope,
  indexKey: Uint8Array,
  signPublicKey: Uint8Array,
): Uint8Array {
  requireBytes(indexKey, FOLDER_KEY_BYTES, "indexKey", "BAD_KEY");
  if (!verifyEnvelopeSignature(env, signPublicKey)) {
    throw new CryptoError("BAD_SIGNATURE", "envelope signature does not verify for this device");
  }
  return xchachaOpen(indexKey, env.nonce, env.ciphertext, associatedData(encodeHeader(env)));
}

/**
 * Decrypts an envelope **without** checking its signature, for readers that learn the
 * writer's public key from the payload itself (a device id is the hash of its key, so the key
 * proves itself). Success shows only that a holder of the folder key sealed it under this
 * header; call {@link verifyEnvelopeSignature} with the key before trusting who wrote it.
 * @throws CryptoError TAMPERED when it does not decrypt under `indexKey`
 */
export function decryptEnvelopeUnverified(env: Envelope, indexKey: Uint8Array): Uint8Array {
  requireBytes(indexKey, FOLDER_KEY_BYTES, "indexKey", "BAD_KEY");
  return xchachaOpen(indexKey, env.nonce, env.ciphertext, associatedData(encodeHeader(env)));
}

/**
 * The binary form of an envelope (all integers big-endian, strings UTF-8):
 * `version u8 ‖ u8 len ‖ folderId ‖ u8 len ‖ deviceId ‖ deviceSeq u64 ‖ epoch u32 ‖ nonce (24)
 * ‖ u32 len ‖ ciphertext ‖ signature (64)`. The signature covers every byte before it.
 */
export function encodeEnvelope(env: Envelope): Uint8Array {
  const body = encodeBody(env, encodeHeader(env));
  if (!(env.signature instanceof Uint8Array) || env.signature.length !== SIGNATURE_BYTES) {
    throw new CryptoError("BAD_INPUT", `signature must be ${SIGNATURE_BYTES} bytes`);
  }
  const out = new Uint8Array(body.length + SIGNATURE_BYTES);
  out.set(body, 0);
  out.set(env.signature, body.length);
  return out;
}

/**
 * Parses {@link encodeEnvelope} output. Does not verify the signature.
 * @throws CryptoError BAD_INPUT on an unknown version, a truncated or over-long input, a bad
 * folder or device id, a sequence number beyond 2^53 − 1 or a ciphertext over 16 MiB
 */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  sodium();
  if (!(bytes instanceof Uint8Array)) throw new CryptoError("BAD_INPUT", "envelope must be bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  const take = (n: number, what: string): Uint8Array => {
    if (at + n > bytes.length) throw new CryptoError("BAD_INPUT", `envelope truncated in ${what}`);
    const part = bytes.slice(at, at + n);
    at += n;
    return part;
  };
  const u8 = (what: string): number => take(1, what)[0] ?? 0;
  const version = u8("version");
  if (version !== ENVELOPE_FORMAT_VERSION) {
    throw new CryptoError("BAD_INPUT", `unsupported envelope version ${version}`);
  }
  const folderId = text(take(u8("folderId length"), "folderId"), "folderId");
  requireFolderIdShape(folderId);
  const deviceId = text(take(u8("deviceId length"), "deviceId"), "deviceId");
  if (!isDeviceId(deviceId)) throw new CryptoError("BAD_INPUT", "envelope deviceId is malformed");
  take(12, "deviceSeq and epoch");
  const seq = view.getBigUint64(at - 12, false);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CryptoError("BAD_INPUT", "envelope deviceSeq is beyond 2^53 - 1");
  }
  const epoch = view.getUint32(at - 4, false);
  const nonce = take(AEAD_NONCE_BYTES, "nonce");
  take(4, "ciphertext length");
  const length = view.getUint32(at - 4, false);
  if (length < AEAD_TAG_BYTES || length > MAX_ENVELOPE_CIPHERTEXT) {
    throw new CryptoError(
      "BAD_INPUT",
      `envelope ciphertext must be ${AEAD_TAG_BYTES} to ${MAX_ENVELOPE_CIPHERTEXT} bytes`,
    );
  }
  const ciphertext = take(length, "ciphertext");
  const signature = take(SIGNATURE_BYTES, "signature");
  if (at !== bytes.length) {
    throw new CryptoError("BAD_INPUT", `envelope has ${bytes.length - at} trailing bytes`);
  }
  return {
    folderId: folderId as FolderId,
    deviceId,
    deviceSeq: Number(seq),
    epoch,
    nonce,
    ciphertext,
    signature,
  };
}

function text(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch (cause) {
    throw new CryptoError("BAD_INPUT", `envelope ${what} is not valid UTF-8`, { cause });
  }
}

function associatedData(headerBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(AAD_LABEL.length + headerBytes.length);
  out.set(AAD_LABEL, 0);
  out.set(headerBytes, AAD_LABEL.length);
  return out;
}

// version ‖ u8 len ‖ folderId ‖ u8 len ‖ deviceId ‖ deviceSeq u64 ‖ epoch u32
function encodeHeader(header: EnvelopeHeader): Uint8Array {
  sodium();
  if (typeof header !== "object" || header === null) {
    throw new CryptoError("BAD_INPUT", "envelope header must be an object");
  }
  const folder = requireFolderIdShape(header.folderId);
  if (!isDeviceId(header.deviceId)) {
    throw new CryptoError("BAD_INPUT", "deviceId must be a canonical device id");
  }
  requireUint(header.deviceSeq, "deviceSeq", Number.MAX_SAFE_INTEGER);
  requireUint(header.epoch, "epoch", MAX_EPOCH);
  const device = utf8Encoder.encode(header.deviceId);
  const out = new Uint8Array(1 + 1 + folder.length + 1 + device.length + 8 + 4);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = ENVELOPE_FORMAT_VERSION;
  out[at++] = folder.length;
  out.set(folder, at);
  at += folder.length;
  out[at++] = device.length;
  out.set(device, at);
  at += device.length;
  view.setBigUint64(at, BigInt(header.deviceSeq), false);
  view.setUint32(at + 8, header.epoch, false);
  return out;
}

// header ‖ nonce ‖ u32 len ‖ ciphertext: everything the signature covers.
function encodeBody(env: Omit<Envelope, "signature">, headerBytes: Uint8Array): Uint8Array {
  requireBytes(env.nonce, AEAD_NONCE_BYTES, "nonce");
  requireByteArray(env.ciphertext, "ciphertext", MAX_ENVELOPE_CIPHERTEXT);
  if (env.ciphertext.length < AEAD_TAG_BYTES) {
    throw new CryptoError("BAD_INPUT", `ciphertext must be at least ${AEAD_TAG_BYTES} bytes`);
  }
  const out = new Uint8Array(headerBytes.length + AEAD_NONCE_BYTES + 4 + env.ciphertext.length);
  let at = 0;
  out.set(headerBytes, at);
  at += headerBytes.length;
  out.set(env.nonce, at);
  at += AEAD_NONCE_BYTES;
  new DataView(out.buffer).setUint32(at, env.ciphertext.length, false);
  at += 4;
  out.set(env.ciphertext, at);
  return out;
}
