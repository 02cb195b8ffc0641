// @weft/crypto in ten minutes: a device identity, a folder key and its subkeys, a chunk sealed
// so that a store holding it learns nothing and cannot swap or alter it, and a secret kept
// under a password.
import {
  CryptoError,
  FolderKeyring,
  chunkIdFromSha256,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  openChunk,
  protectSecret,
  ready,
  sealChunk,
  sha256,
  unprotectSecret,
} from "@weft/crypto";

await ready(); // once: every other function throws CryptoError NOT_READY before it

const device = generateDeviceIdentity(); // Ed25519 (signing) and X25519 (sealing to) keys
console.log(`device id: ${device.deviceId}`);

const folderId = newFolderId();
const keyring = new FolderKeyring(folderId);
keyring.add(0, generateFolderKey()); // epoch 0; a member's removal makes epoch 1, and so on
const keys = keyring.subkeys(0); // chunk, chunkId, index and names keys, derived per epoch

const text = new TextEncoder().encode("the content of a file");
const chunkId = chunkIdFromSha256(keys.chunkId, sha256(text)); // keyed: reveals nothing
const aad = { chunkId, folderId, epoch: 0 };
const sealed = sealChunk(keys.chunk, aad, text);
console.log(`opened: ${new TextDecoder().decode(openChunk(keys.chunk, aad, sealed))}`);

sealed[sealed.length - 1] ^= 1; // one bit changed by the store
try {
  openChunk(keys.chunk, aad, sealed);
} catch (error) {
  if (!(error instanceof CryptoError)) throw error;
  console.log(`tampered chunk refused: ${error.code}`);
}

// At rest: a secret sealed with a password (Argon2id, then XChaCha20-Poly1305).
const blob = protectSecret(device.signSecretKey, "correct horse battery staple");
const back = unprotectSecret(blob, "correct horse battery staple");
console.log(`secret back: ${back.length} bytes`);
