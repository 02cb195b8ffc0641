import { AEAD_NONCE_BYTES, AEAD_TAG_BYTES, checkArgs, sealInto, xchachaOpen } from "./aead.js";
import { CryptoError, requireBytes, requireUint } from "./errors.js";
import { utf8Encoder } from "./encoding.js";
import type { FolderId } from "./keys.js";
import { FOLDER_KEY_BYTES, MAX_EPOCH, requireFolderIdShape } from "./keys.js";
import { randomBytes } from "./primitives.js";
import { sodium } from "./runtime.js";

/**
 * A chunk's name in the blob store: 64 lower-case hex characters of a keyed BLAKE2b-256 of the
 * chunk's SHA-256. See {@link chunkIdFromSha256}.
 */
export type ChunkId = string & { readonly __brand: "ChunkId" };

/** What a sealed chunk is bound to; any mismatch on opening is {@link CryptoError} TAMPERED. */
export interface ChunkAad {
  /** The chunk's id, so the store cannot answer one id with another chunk. */
  chunkId: ChunkId;
  /** The folder, so a chunk cannot be replayed into another folder. */
  folderId: FolderId;
  /** The key epoch the chunk was sealed under. */
  epoch: number;
}

/** Current sealed-chunk format version (first byte of every sealed chunk). */
export const CHUNK_FORMAT_VERSION = 1;
/** Bytes a sealed chunk adds to its plaintext: version 1 + epoch 4 + nonce 24 + tag 16 = 45. */
export const CHUNK_OVERHEAD = 1 + 4 + AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

const HEADER_BYTES = 1 + 4 + AEAD_NONCE_BYTES;
const AAD_LABEL = utf8Encoder.encode("weft-chunk");
const CHUNK_ID = /^[0-9a-f]{64}$/;

/**
 * The chunk id of a chunk with SHA-256 `chunkSha256`: crypto_generichash (BLAKE2b-256) keyed
 * with the folder's chunk-id subkey, as hex. Keyed so that equal chunks dedupe inside a folder
 * while the relay, lacking the key, cannot test a guess of a file's content against the ids.
 */
export function chunkIdFromSha256(chunkIdKey: Uint8Array, chunkSha256: Uint8Array): ChunkId {
  const s = sodium();
  requireBytes(chunkIdKey, FOLDER_KEY_BYTES, "chunkIdKey", "BAD_KEY");
  requireBytes(chunkSha256, 32, "chunkSha256");
  return s.to_hex(s.crypto_generichash(32, chunkSha256, chunkIdKey)) as ChunkId;
}

/** Whether `value` is a chunk id in canonical form (64 lower-case hex characters). */
export function isChunkId(value: unknown): value is ChunkId {
  return typeof value === "string" && CHUNK_ID.test(value);
}

/**
 * Seals one chunk under the folder's chunk subkey.
 *
 * Layout: `version (1) ‖ epoch (u32 BE) ‖ nonce (24, random) ‖ ciphertext ‖ tag (16)`.
 * The associated data is `"weft-chunk" ‖ version ‖ u8 len ‖ folderId ‖ u8 len ‖ chunkId ‖
 * epoch (u32 BE)` (strings UTF-8), so the chunk only opens under the same id, folder and epoch.
 */
export function sealChunk(chunkKey: Uint8Array, aad: ChunkAad, plaintext: Uint8Array): Uint8Array {
  const ad = chunkAssociatedData(aad);
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const length = checkArgs(chunkKey, nonce, plaintext, ad, "plaintext");
  const out = new Uint8Array(HEADER_BYTES + length + AEAD_TAG_BYTES);
  out[0] = CHUNK_FORMAT_VERSION;
  new DataView(out.buffer).setUint32(1, aad.epoch, false);
  out.set(nonce, 5);
  sealInto(out, HEADER_BYTES, chunkKey, nonce, plaintext, ad);
  return out;
}

/**
 * Opens a chunk sealed by {@link sealChunk}.
 * @throws CryptoError TAMPERED on any change to the sealed bytes (including truncation and the
 * version and epoch bytes) and on a wrong key, chunk id, folder id or epoch; BAD_KEY / BAD_INPUT
 * for malformed arguments
 */
export function openChunk(chunkKey: Uint8Array, aad: ChunkAad, sealed: Uint8Array): Uint8Array {
  const ad = chunkAssociatedData(aad);
  requireBytes(chunkKey, FOLDER_KEY_BYTES, "chunkKey", "BAD_KEY");
  if (!(sealed instanceof Uint8Array))
    throw new CryptoError("BAD_INPUT", "sealed must be a Uint8Array");
  // The blob store is untrusted: whatever is wrong with the bytes, the caller learns only that
  // they are not this chunk.
  if (sealed.length < CHUNK_OVERHEAD) {
    throw new CryptoError("TAMPERED", `sealed chunk is shorter than ${CHUNK_OVERHEAD} bytes`);
  }
  if (sealed[0] !== CHUNK_FORMAT_VERSION) {
    throw new CryptoError("TAMPERED", `unsupported sealed chunk version ${sealed[0]}`);
  }
  const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.length);
  if (view.getUint32(1, false) !== aad.epoch) {
    throw new CryptoError("TAMPERED", `sealed chunk is not from epoch ${aad.epoch}`);
  }
  return xchachaOpen(chunkKey, sealed.subarray(5, HEADER_BYTES), sealed.subarray(HEADER_BYTES), ad);
}

/** The epoch a sealed chunk claims (unauthenticated until it opens); TAMPERED if too short. */
export function sealedChunkEpoch(sealed: Uint8Array): number {
  sodium();
  if (!(sealed instanceof Uint8Array) || sealed.length < CHUNK_OVERHEAD) {
    throw new CryptoError("TAMPERED", `sealed chunk is shorter than ${CHUNK_OVERHEAD} bytes`);
  }
  return new DataView(sealed.buffer, sealed.byteOffset, sealed.length).getUint32(1, false);
}

function chunkAssociatedData(aad: ChunkAad): Uint8Array {
  sodium();
  if (typeof aad !== "object" || aad === null) {
    throw new CryptoError("BAD_INPUT", "aad must be { chunkId, folderId, epoch }");
  }
  const folder = requireFolderIdShape(aad.folderId, "aad.folderId");
  if (!isChunkId(aad.chunkId)) {
    throw new CryptoError("BAD_INPUT", "aad.chunkId must be 64 lower-case hex characters");
  }
  requireUint(aad.epoch, "aad.epoch", MAX_EPOCH);
  const chunk = utf8Encoder.encode(aad.chunkId);
  const out = new Uint8Array(AAD_LABEL.length + 1 + 1 + folder.length + 1 + chunk.length + 4);
  let at = 0;
  out.set(AAD_LABEL, at);
  at += AAD_LABEL.length;
  out[at++] = CHUNK_FORMAT_VERSION;
  out[at++] = folder.length;
  out.set(folder, at);
  at += folder.length;
  out[at++] = chunk.length;
  out.set(chunk, at);
  at += chunk.length;
  new DataView(out.buffer).setUint32(at, aad.epoch, false);
  return out;
}
