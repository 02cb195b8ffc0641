/**
 * A folder's owner-signed metadata (issue 20): the small record its creating device makes when
 * it creates the folder, which the relay keeps with the folder and hands to every member. It
 * holds what every device must agree on and nobody may change later, the consistency mode first.
 *
 * Encrypt-then-sign, like an envelope: the body (`{"v": 1, "consistency"}`) is sealed with
 * XChaCha20-Poly1305 under epoch 0's metadata subkey (`deriveMetaKey`), with the public fields
 * as associated data; the public fields and the sealed body are signed by the creating device
 * (Ed25519, context `"folder/v1"`), whose id is the hash of the key that verifies. So the relay
 * can check who made it (and stores it only from the device that creates the folder), but
 * cannot read the mode, make a record that opens (it has no key), or alter one unnoticed.
 *
 * On the wire it is base64url of a JSON object; the signature covers a canonical byte string of
 * every field but itself.
 */
import {
  AEAD_NONCE_BYTES,
  type DeviceId,
  type FolderId,
  deriveMetaKey,
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
import type { Consistency } from "../replica/types.js";

/** The signature context of folder metadata (no other signed message can pass as one). */
export const FOLDER_META_CONTEXT = "folder/v1";
/** Largest encoded record, in characters (it is a few hundred). */
export const MAX_FOLDER_META_CHARS = 4096;
const LABEL = "weft-folder/v1";
/** The sealed body: nonce, at most 1 KiB of JSON, the tag. */
const MAX_SEALED_BYTES = AEAD_NONCE_BYTES + 1024 + 16;

/** A folder's metadata record as the relay stores it: public fields, the sealed body, the signature. */
export interface FolderMetaRecord {
  folderId: FolderId;
  /** The device that created the folder and signed this. */
  signer: DeviceId;
  /** The signer's Ed25519 public key (its id is the hash of this key). */
  signPublicKey: Uint8Array;
  /** When the folder was created, in ms since the epoch. */
  created: number;
  /** `nonce ‖ ciphertext` of the body, under epoch 0's metadata subkey. */
  sealed: Uint8Array;
  /** Ed25519 over the canonical bytes of every field above. */
  signature: Uint8Array;
}

/** What a device reads from a folder's metadata once it is verified and opened. */
export interface FolderMetadata {
  folderId: FolderId;
  /** The folder's consistency mode, chosen at creation. */
  consistency: Consistency;
  /** When the folder was created, in ms since the epoch. */
  created: number;
  /** The device that created the folder and signed the record. */
  creator: DeviceId;
  /** The body's format version (1). */
  version: 1;
}

function signedBytes(r: Omit<FolderMetaRecord, "signature">): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify([
      LABEL,
      r.folderId,
      r.signer,
      toBase64Url(r.signPublicKey),
      r.created,
      toBase64Url(r.sealed),
    ]),
  );
}

/** Associated data of the sealed body: every public field, so none can be swapped under it. */
function bodyAad(r: Pick<FolderMetaRecord, "folderId" | "signer" | "created">): Uint8Array {
  return new TextEncoder().encode(`${LABEL} ${r.folderId} ${r.signer} ${r.created}`);
}

/**
 * Makes and signs the metadata of a new folder whose epoch 0 key is `key0`, as its creating
 * device `signer`.
 */
export function makeFolderMeta(options: {
  folderId: FolderId;
  key0: Uint8Array;
  consistency: Consistency;
  signer: { deviceId: DeviceId; signPublicKey: Uint8Array; signSecretKey: Uint8Array };
  created?: number;
}): FolderMetaRecord {
  const { folderId, key0, consistency, signer } = options;
  if (consistency !== "eventual" && consistency !== "strong")
    throw new WeftError("INVALID_ARGUMENT", "consistency is eventual or strong");
  const created = options.created ?? Date.now();
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  // Padded with spaces to a multiple of 64 bytes: the sealed length must not tell the relay
  // the mode ("strong" and "eventual" differ in length).
  const json = JSON.stringify({ v: 1, consistency });
  const body = new TextEncoder().encode(json.padEnd(Math.ceil(json.length / 64) * 64, " "));
  const ciphertext = xchachaSeal(
    deriveMetaKey(key0),
    nonce,
    body,
    bodyAad({ folderId, signer: signer.deviceId, created }),
  );
  const sealed = new Uint8Array(AEAD_NONCE_BYTES + ciphertext.length);
  sealed.set(nonce, 0);
  sealed.set(ciphertext, AEAD_NONCE_BYTES);
  const unsigned = {
    folderId,
    signer: signer.deviceId,
    signPublicKey: signer.signPublicKey,
    created,
    sealed,
  };
  checkShape(unsigned);
  return {
    ...unsigned,
    signature: signDetached(FOLDER_META_CONTEXT, signedBytes(unsigned), signer.signSecretKey),
  };
}

/**
 * Whether the record is signed by the device it names (its id is the hash of the key that
 * verifies). Says nothing of whether that device may speak for the folder: the relay stores a
 * record only from the device creating the folder, and a device checks the signer against the
 * folder's owners ({@link openFolderMeta}'s caller) and the body against the folder's key.
 */
export function verifyFolderMeta(r: FolderMetaRecord): boolean {
  try {
    checkShape(r);
  } catch {
    return false;
  }
  if (deviceIdFromSignPublicKey(r.signPublicKey) !== r.signer) return false;
  return verifyDetached(FOLDER_META_CONTEXT, r.signature, signedBytes(r), r.signPublicKey);
}

/**
 * Verifies the record's signature and opens its body with the folder's epoch 0 key.
 * @throws WeftError INTEGRITY when the signature does not verify, the body does not open under
 * `key0` (another folder's key, changed bytes, a record made by someone without the key), or the
 * body is not a version this code reads
 */
export function openFolderMeta(r: FolderMetaRecord, key0: Uint8Array): FolderMetadata {
  const broken = (why: string, cause?: unknown) =>
    new WeftError(
      "INTEGRITY",
      `folder ${r.folderId}'s signed metadata ${why}`,
      cause === undefined ? undefined : { cause },
    );
  if (!verifyFolderMeta(r)) throw broken("does not verify: it was changed or forged");
  let body: unknown;
  try {
    const plain = xchachaOpen(
      deriveMetaKey(key0),
      r.sealed.subarray(0, AEAD_NONCE_BYTES),
      r.sealed.subarray(AEAD_NONCE_BYTES),
      bodyAad(r),
    );
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch (cause) {
    throw broken("does not open with the folder's key", cause);
  }
  const b = (body ?? {}) as Record<string, unknown>;
  if (b["v"] !== 1) throw broken("has a format this version of weft does not read");
  const consistency = b["consistency"];
  if (consistency !== "eventual" && consistency !== "strong")
    throw broken("names no consistency mode");
  return { folderId: r.folderId, consistency, created: r.created, creator: r.signer, version: 1 };
}

/** A record as text (base64url of its JSON), as the relay stores and serves it. */
export function encodeFolderMeta(r: FolderMetaRecord): string {
  const json = JSON.stringify({
    v: 1,
    folderId: r.folderId,
    signer: r.signer,
    signPublicKey: toBase64Url(r.signPublicKey),
    created: r.created,
    sealed: toBase64Url(r.sealed),
    signature: toBase64Url(r.signature),
  });
  return toBase64Url(new TextEncoder().encode(json));
}

/**
 * Reads {@link encodeFolderMeta} text, checking every field's shape (not the signature).
 * @throws WeftError INVALID_ARGUMENT when it is not a well-formed record
 */
export function decodeFolderMeta(text: string): FolderMetaRecord {
  const bad = (why: string) => new WeftError("INVALID_ARGUMENT", `not folder metadata: ${why}`);
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_FOLDER_META_CHARS)
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
    signer: v["signer"] as DeviceId,
    signPublicKey: bytes("signPublicKey"),
    created: v["created"] as number,
    sealed: bytes("sealed"),
    signature: bytes("signature"),
  };
  checkShape(record);
  if (record.signature.length !== 64) throw bad("the signature is not 64 bytes");
  return record;
}

function checkShape(r: Omit<FolderMetaRecord, "signature">): void {
  const bad = (why: string) => new WeftError("INVALID_ARGUMENT", `not folder metadata: ${why}`);
  if (!isFolderId(r.folderId)) throw bad("folderId");
  if (!isDeviceId(r.signer)) throw bad("signer");
  if (!(r.signPublicKey instanceof Uint8Array) || r.signPublicKey.length !== 32)
    throw bad("signPublicKey");
  if (!Number.isSafeInteger(r.created) || r.created < 0) throw bad("created");
  if (
    !(r.sealed instanceof Uint8Array) ||
    r.sealed.length <= AEAD_NONCE_BYTES + 16 ||
    r.sealed.length > MAX_SEALED_BYTES
  )
    throw bad("sealed");
}
