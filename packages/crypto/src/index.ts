// @weft/crypto: all of Weft's cryptography (keys, AEAD, hashes, signatures, passwords) on libsodium, node:crypto for speed.
export { ready } from "./runtime.js";
export { CryptoError } from "./errors.js";
export type { CryptoErrorCode } from "./errors.js";
export { toHex, fromHex, toBase64Url, fromBase64Url } from "./encoding.js";
export {
  sha256,
  createSha256,
  randomBytes,
  constantTimeEqual,
  signDetached,
  verifyDetached,
} from "./primitives.js";
export type { Sha256 } from "./primitives.js";
export {
  generateDeviceIdentity,
  deviceIdentityFromSeeds,
  deviceIdFromSignPublicKey,
  parseDeviceId,
  isDeviceId,
  shortDeviceId,
} from "./identity.js";
export type { DeviceId, DeviceIdentity } from "./identity.js";
export {
  newFolderId,
  isFolderId,
  generateFolderKey,
  deriveFolderSubkeys,
  deriveEpochLinkKeys,
  deriveHeadKey,
  deriveMetaKey,
  headHandle,
  headToken,
  FolderKeyring,
  FOLDER_KEY_BYTES,
  MAX_EPOCH,
} from "./keys.js";
export type { FolderId, FolderSubkeys } from "./keys.js";
export {
  xchachaSeal,
  xchachaOpen,
  aeadImplementation,
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
} from "./aead.js";
export type { AeadImplementation } from "./aead.js";
export {
  chunkIdFromSha256,
  isChunkId,
  sealChunk,
  openChunk,
  sealedChunkEpoch,
  CHUNK_FORMAT_VERSION,
  CHUNK_OVERHEAD,
} from "./chunks.js";
export type { ChunkId, ChunkAad } from "./chunks.js";
export {
  sealEnvelope,
  verifyEnvelopeSignature,
  openEnvelope,
  decryptEnvelopeUnverified,
  encodeEnvelope,
  decodeEnvelope,
  ENVELOPE_FORMAT_VERSION,
  MAX_ENVELOPE_CIPHERTEXT,
  MAX_ENVELOPE_PAYLOAD,
} from "./envelope.js";
export type { EnvelopeHeader, Envelope } from "./envelope.js";
export {
  wrapKeyForDevice,
  unwrapKeyForDevice,
  generateInviteSecret,
  wrapKeyWithSecret,
  unwrapKeyWithSecret,
  WRAPPED_FOR_DEVICE_BYTES,
  WRAPPED_WITH_SECRET_BYTES,
} from "./wrap.js";
export {
  hashPassword,
  verifyPassword,
  passwordNeedsRehash,
  protectSecret,
  unprotectSecret,
  PROTECT_SECRET_LIMITS,
} from "./password.js";
export type { PasswordHashLimits } from "./password.js";
