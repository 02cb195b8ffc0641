/**
 * Epoch announcements: the signed record with which an owner's device starts a folder's next
 * key epoch (after a member or a device was removed). The relay stores it beside the new key's
 * rows; devices adopt a key of a new epoch only through one (see key-chain.ts).
 *
 * A record names the folder and the epoch, commits to the new key (`keyCheck`, from which the
 * key cannot be recovered), lists the member devices the key was wrapped to, and carries the
 * key of the epoch before, sealed under the new one (`previousKey`): whoever holds epoch N's key
 * can walk back to every earlier one, and nobody can walk forward. It is signed by the device
 * that made it (context `"epoch/v1"`); the signer's id is a hash of the key that signed it.
 *
 * On the wire and in the relay's database it is base64url of a JSON object; the signature
 * covers a canonical byte string of every field but itself, so the JSON's spelling does not
 * matter.
 */
import {
  AEAD_NONCE_BYTES,
  type DeviceId,
  type FolderId,
  FOLDER_KEY_BYTES,
  MAX_EPOCH,
  constantTimeEqual,
  deriveEpochLinkKeys,
  deviceIdFromSignPublicKey,
  fromBase64Url,
  isDeviceId,
  isFolderId,
  randomBytes,
  signDetached,
  toBase64Url,
  verifyDetached,
  xchachaOpen,
  xchachaSeal,
} from "@weft/crypto";
import { WeftError } from "../errors.js";

/** The signature context of epoch records (no other signed message can pass as one). */
export const EPOCH_RECORD_CONTEXT = "epoch/v1";
/** Most devices one epoch's key may be wrapped to. */
export const MAX_EPOCH_DEVICES = 4096;
/** Largest encoded record, in characters (4096 devices of 42 characters, and the rest). */
export const MAX_EPOCH_RECORD_CHARS = 256 * 1024;
/** Bytes of `previousKey`: nonce, the 32-byte key, the tag. */
const LINK_BYTES = AEAD_NONCE_BYTES + FOLDER_KEY_BYTES + 16;
const LABEL = "weft-epoch/v1";

/**
 * A signed announcement of a folder's key epoch, made by an owner's device: it commits to the
 * new key, lists the devices it was wrapped to and carries the previous key sealed under it, so
 * a device adopts the key only when it chains back to one it holds and an owner signed it.
 */
export interface EpochRecord {
  folderId: FolderId;
  /** The epoch it starts (at least 1: epoch 0's key is the folder's first, made at creation). */
  epoch: number;
  /** The epoch whose key `previousKey` holds: the newest the signer held, below `epoch`. */
  previousEpoch: number;
  /** The public commitment to the new key ({@link deriveEpochLinkKeys} `check`). */
  keyCheck: Uint8Array;
  /** The key of `previousEpoch`, sealed under the new key's link subkey. */
  previousKey: Uint8Array;
  /** The devices the new key was wrapped to, sorted, each once. */
  devices: DeviceId[];
  /** The device that made and signed it. */
  signer: DeviceId;
  /** The signer's Ed25519 public key (its id is the hash of this key). */
  signPublicKey: Uint8Array;
  /** When it was made, in ms since the epoch (informative). */
  created: number;
  /** Ed25519 over `signedBytes`. */
  signature: Uint8Array;
}

/** The canonical bytes a record's signature covers. */
function signedBytes(r: Omit<EpochRecord, "signature">): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify([
      LABEL,
      r.folderId,
      r.epoch,
      r.previousEpoch,
      toBase64Url(r.keyCheck),
      toBase64Url(r.previousKey),
      r.devices,
      r.signer,
      toBase64Url(r.signPublicKey),
      r.created,
    ]),
  );
}

/** The associated data binding a sealed previous key to its folder and both epochs. */
function linkAad(folderId: FolderId, epoch: number, previousEpoch: number): Uint8Array {
  return new TextEncoder().encode(`${LABEL} link ${folderId} ${epoch} ${previousEpoch}`);
}

/** The commitment to `key` as the key of `epoch`. */
export function epochKeyCheck(key: Uint8Array, epoch: number): Uint8Array {
  return deriveEpochLinkKeys(key, epoch).check;
}

/**
 * Makes and signs the record that starts `epoch` with `key`, carrying `previousKey` (the key of
 * `previousEpoch`), for `devices`.
 */
export function makeEpochRecord(options: {
  folderId: FolderId;
  epoch: number;
  key: Uint8Array;
  previousEpoch: number;
  previousKey: Uint8Array;
  devices: readonly DeviceId[];
  signer: { deviceId: DeviceId; signPublicKey: Uint8Array; signSecretKey: Uint8Array };
  created?: number;
}): EpochRecord {
  const { folderId, epoch, key, previousEpoch, signer } = options;
  if (!Number.isSafeInteger(epoch) || epoch < 1 || epoch > MAX_EPOCH)
    throw new WeftError("INVALID_ARGUMENT", "an announced epoch is 1 or more");
  if (!Number.isSafeInteger(previousEpoch) || previousEpoch < 0 || previousEpoch >= epoch)
    throw new WeftError("INVALID_ARGUMENT", "the previous epoch must be below the new one");
  const { link, check } = deriveEpochLinkKeys(key, epoch);
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const sealed = xchachaSeal(
    link,
    nonce,
    options.previousKey,
    linkAad(folderId, epoch, previousEpoch),
  );
  const previousKey = new Uint8Array(LINK_BYTES);
  previousKey.set(nonce, 0);
  previousKey.set(sealed, AEAD_NONCE_BYTES);
  const unsigned = {
    folderId,
    epoch,
    previousEpoch,
    keyCheck: check,
    previousKey,
    devices: [...new Set(options.devices)].sort(),
    signer: signer.deviceId,
    signPublicKey: signer.signPublicKey,
    created: options.created ?? Date.now(),
  };
  checkShape(unsigned);
  return {
    ...unsigned,
    signature: signDetached(EPOCH_RECORD_CONTEXT, signedBytes(unsigned), signer.signSecretKey),
  };
}

/**
 * Whether the record is signed by the device it names (the signer's id is the hash of the key
 * that verifies). Says nothing of whether that device may announce epochs: the relay checks
 * that it is an owner's when it stores one, and a device checks the key itself.
 */
export function verifyEpochRecord(r: EpochRecord): boolean {
  try {
    checkShape(r);
  } catch {
    return false;
  }
  if (deviceIdFromSignPublicKey(r.signPublicKey) !== r.signer) return false;
  return verifyDetached(EPOCH_RECORD_CONTEXT, r.signature, signedBytes(r), r.signPublicKey);
}

/** Whether `key` is the key the record announces. */
export function epochKeyMatches(r: EpochRecord, key: Uint8Array): boolean {
  return constantTimeEqual(epochKeyCheck(key, r.epoch), r.keyCheck);
}

/**
 * The key of `r.previousEpoch`, opened with `key` (the key of `r.epoch`).
 * @throws WeftError INTEGRITY when it does not open (another key, or changed bytes)
 */
export function openPreviousKey(r: EpochRecord, key: Uint8Array): Uint8Array {
  try {
    return xchachaOpen(
      deriveEpochLinkKeys(key, r.epoch).link,
      r.previousKey.subarray(0, AEAD_NONCE_BYTES),
      r.previousKey.subarray(AEAD_NONCE_BYTES),
      linkAad(r.folderId, r.epoch, r.previousEpoch),
    );
  } catch (cause) {
    throw new WeftError(
      "INTEGRITY",
      `the announcement of epoch ${r.epoch} does not open with that epoch's key`,
      { cause },
    );
  }
}

/** A record as text (base64url of its JSON), as the relay stores and serves it. */
export function encodeEpochRecord(r: EpochRecord): string {
  const json = JSON.stringify({
    v: 1,
    folderId: r.folderId,
    epoch: r.epoch,
    previousEpoch: r.previousEpoch,
    keyCheck: toBase64Url(r.keyCheck),
    previousKey: toBase64Url(r.previousKey),
    devices: r.devices,
    signer: r.signer,
    signPublicKey: toBase64Url(r.signPublicKey),
    created: r.created,
    signature: toBase64Url(r.signature),
  });
  return toBase64Url(new TextEncoder().encode(json));
}

/**
 * Reads {@link encodeEpochRecord} text, checking every field's shape (not the signature).
 * @throws WeftError INVALID_ARGUMENT when it is not a well-formed record
 */
export function decodeEpochRecord(text: string): EpochRecord {
  const bad = (why: string) => new WeftError("INVALID_ARGUMENT", `not an epoch record: ${why}`);
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_EPOCH_RECORD_CHARS)
    throw bad("empty or too long");
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(fromBase64Url(text))) as Record<
      string,
      unknown
    >;
  } catch {
    throw bad("not base64url of JSON");
  }
  if (typeof v !== "object" || v === null || v["v"] !== 1) throw bad("unknown version");
  const bytes = (name: string): Uint8Array => {
    const t = v[name];
    if (typeof t !== "string") throw bad(`${name} is missing`);
    try {
      return fromBase64Url(t);
    } catch {
      throw bad(`${name} is not base64url`);
    }
  };
  const record = {
    folderId: v["folderId"] as FolderId,
    epoch: v["epoch"] as number,
    previousEpoch: v["previousEpoch"] as number,
    keyCheck: bytes("keyCheck"),
    previousKey: bytes("previousKey"),
    devices: v["devices"] as DeviceId[],
    signer: v["signer"] as DeviceId,
    signPublicKey: bytes("signPublicKey"),
    created: v["created"] as number,
    signature: bytes("signature"),
  };
  checkShape(record);
  if (record.signature.length !== 64) throw bad("the signature is not 64 bytes");
  return record;
}

function checkShape(r: Omit<EpochRecord, "signature">): void {
  const bad = (why: string) => new WeftError("INVALID_ARGUMENT", `not an epoch record: ${why}`);
  if (!isFolderId(r.folderId)) throw bad("folderId");
  if (!Number.isSafeInteger(r.epoch) || r.epoch < 1 || r.epoch > MAX_EPOCH) throw bad("epoch");
  if (!Number.isSafeInteger(r.previousEpoch) || r.previousEpoch < 0 || r.previousEpoch >= r.epoch)
    throw bad("previousEpoch");
  if (!(r.keyCheck instanceof Uint8Array) || r.keyCheck.length !== FOLDER_KEY_BYTES)
    throw bad("keyCheck");
  if (!(r.previousKey instanceof Uint8Array) || r.previousKey.length !== LINK_BYTES)
    throw bad("previousKey");
  if (!Array.isArray(r.devices) || r.devices.length === 0 || r.devices.length > MAX_EPOCH_DEVICES)
    throw bad("devices");
  for (let i = 0; i < r.devices.length; i++) {
    if (!isDeviceId(r.devices[i])) throw bad("devices");
    if (i > 0 && !(r.devices[i - 1]! < r.devices[i]!)) throw bad("devices are not sorted once");
  }
  if (!isDeviceId(r.signer)) throw bad("signer");
  if (!(r.signPublicKey instanceof Uint8Array) || r.signPublicKey.length !== 32)
    throw bad("signPublicKey");
  if (!Number.isSafeInteger(r.created) || r.created < 0) throw bad("created");
}
