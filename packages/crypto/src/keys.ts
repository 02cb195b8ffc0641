import { decodeBase32, encodeBase32 } from "./base32.js";
import { CryptoError, requireBytes, requireUint } from "./errors.js";
import { utf8Encoder } from "./encoding.js";
import { randomBytes } from "./primitives.js";
import { sodium } from "./runtime.js";

/**
 * A folder's ("space's") public name: 128 random bits as 26 characters of lower-case RFC 4648
 * base32 (a–z, 2–7), e.g. `"mfrggzdfmztwq2lknnwg23tpob"`. Lower-case base32 because it is safe
 * as a file or directory name on case-insensitive file systems and in URLs, with no `-`/`_` to
 * confuse a shell or a reader.
 */
export type FolderId = string & { readonly __brand: "FolderId" };

/** Length in bytes of a folder key and of every subkey. */
export const FOLDER_KEY_BYTES = 32;

/** Largest epoch: epochs are stored as u32 in sealed chunks and envelopes. */
export const MAX_EPOCH = 0xffffffff;

const FOLDER_ID_BYTES = 16;
const KDF_CONTEXT = "weftfold"; // crypto_kdf contexts are exactly 8 bytes.
const SUBKEYS_PER_EPOCH = 8n; // six in use (four subkeys, two for rotation); epoch 0 uses 6 and 7 too.

/** A fresh random folder id (see {@link FolderId} for the format). */
export function newFolderId(): FolderId {
  sodium();
  return encodeBase32(randomBytes(FOLDER_ID_BYTES)).toLowerCase() as FolderId;
}

/** Whether `value` is a folder id in the format {@link newFolderId} produces. */
export function isFolderId(value: unknown): value is FolderId {
  if (typeof value !== "string" || !/^[a-z2-7]{26}$/.test(value)) return false;
  try {
    decodeBase32(value.toUpperCase());
    return true;
  } catch {
    // Non-zero trailing bits: a well-formed alphabet but not an encoding we would produce.
    return false;
  }
}

/** A fresh 256-bit folder key. The relay never sees it; members receive it wrapped. */
export function generateFolderKey(): Uint8Array {
  sodium();
  return randomBytes(FOLDER_KEY_BYTES);
}

/** The four independent keys a folder key yields for one epoch; each is 32 bytes. */
export interface FolderSubkeys {
  /** Seals chunk contents ({@link sealChunk}). */
  chunk: Uint8Array;
  /** Keys the chunk-id hash ({@link chunkIdFromSha256}). */
  chunkId: Uint8Array;
  /** Seals index updates ({@link sealEnvelope}). */
  index: Uint8Array;
  /** Reserved for encrypting names outside the index. */
  names: Uint8Array;
}

/**
 * The subkeys of `folderKey` for `epoch`, by crypto_kdf_derive_from_key with context
 * `"weftfold"` and subkey id `epoch × 8 + n` (n = 0 chunk, 1 chunkId, 2 index, 3 names).
 *
 * Mixing the epoch into the id means that even if a folder key were ever reused across epochs,
 * the subkeys (and so nonce spaces and chunk ids) of the two epochs would still be unrelated.
 *
 * @throws CryptoError BAD_KEY when `folderKey` is not 32 bytes; BAD_INPUT for a bad epoch
 */
export function deriveFolderSubkeys(folderKey: Uint8Array, epoch: number): FolderSubkeys {
  const derive = epochSubkeys(folderKey, epoch);
  return { chunk: derive(0n), chunkId: derive(1n), index: derive(2n), names: derive(3n) };
}

/**
 * Subkey `n` of `epoch` (id `epoch × 8 + n`) from a folder key, after checking both.
 * @throws CryptoError BAD_KEY when `folderKey` is not 32 bytes; BAD_INPUT for a bad epoch
 */
function epochSubkeys(folderKey: Uint8Array, epoch: number): (n: bigint) => Uint8Array {
  const s = sodium();
  requireBytes(folderKey, FOLDER_KEY_BYTES, "folderKey", "BAD_KEY");
  requireUint(epoch, "epoch", MAX_EPOCH);
  // Subkey ids reach 2^35, past what libsodium.js accepts as a number, so pass a bigint.
  return (n) =>
    s.crypto_kdf_derive_from_key(
      FOLDER_KEY_BYTES,
      BigInt(epoch) * SUBKEYS_PER_EPOCH + n,
      KDF_CONTEXT,
      folderKey,
    );
}

/**
 * What a folder key yields for handing its epoch over to the next (key rotation), from two of
 * the spare subkey ids: `link` (id `epoch × 8 + 4`) seals the previous epoch's key inside the
 * announcement of `epoch`, so whoever holds this epoch's key can walk back to every earlier one
 * (a member who joins later reads old content) while the previous key opens nothing newer;
 * `check` (id `epoch × 8 + 5`) is a public commitment to the key: an announcement names it, so
 * a key a device unwraps can be compared with the one an owner announced without revealing it.
 * @throws CryptoError BAD_KEY when `folderKey` is not 32 bytes; BAD_INPUT for a bad epoch
 */
export function deriveEpochLinkKeys(
  folderKey: Uint8Array,
  epoch: number,
): { link: Uint8Array; check: Uint8Array } {
  const derive = epochSubkeys(folderKey, epoch);
  return { link: derive(4n), check: derive(5n) };
}

/**
 * The key of a strong-consistency folder's head check (id `6`, epoch 0's spare subkey): it keys
 * the file handles and head tokens the relay compares ({@link headHandle}, {@link headToken}).
 * From epoch 0's key, never a later one: handles must stay the same across key rotations, or
 * the relay's heads would no longer match anything a device claims. Every member holds epoch 0's
 * key (each epoch's announcement walks back to the previous).
 * @throws CryptoError BAD_KEY when `folderKey0` is not 32 bytes
 */
export function deriveHeadKey(folderKey0: Uint8Array): Uint8Array {
  return epochSubkeys(folderKey0, 0)(6n);
}

/**
 * The key that seals a folder's owner-signed metadata (id `7`, epoch 0's other spare subkey;
 * core's folder-meta.ts): only a holder of the folder's first key can make or open the record
 * the relay keeps, so the relay can neither read the mode in it nor make one of its own.
 * @throws CryptoError BAD_KEY when `folderKey0` is not 32 bytes
 */
export function deriveMetaKey(folderKey0: Uint8Array): Uint8Array {
  return epochSubkeys(folderKey0, 0)(7n);
}

const HANDLE_CONTEXT = new TextEncoder().encode("weft-head-handle\0");
const TOKEN_CONTEXT = new TextEncoder().encode("weft-head-token\0");

/**
 * The opaque handle of `what` (a file id, or a file's place) under the folder's head key: a
 * 32-byte BLAKE2b keyed digest the relay keeps heads by and cannot reverse.
 */
export function headHandle(headKey: Uint8Array, what: string): Uint8Array {
  return keyedDigest(headKey, HANDLE_CONTEXT, what);
}

/** The opaque head token of `what` (a version id, or a place's occupant): as {@link headHandle}, in another context. */
export function headToken(headKey: Uint8Array, what: string): Uint8Array {
  return keyedDigest(headKey, TOKEN_CONTEXT, what);
}

function keyedDigest(key: Uint8Array, context: Uint8Array, what: string): Uint8Array {
  const s = sodium();
  requireBytes(key, FOLDER_KEY_BYTES, "headKey", "BAD_KEY");
  const text = new TextEncoder().encode(what);
  const input = new Uint8Array(context.length + text.length);
  input.set(context);
  input.set(text, context.length);
  return s.crypto_generichash(32, input, key);
}

/** Throws unless `folderId` is a string of 1 to 255 UTF-8 bytes (what the sealed formats hold). */
export function requireFolderIdShape(folderId: unknown, name = "folderId"): Uint8Array {
  const bytes = typeof folderId === "string" ? utf8Encoder.encode(folderId) : undefined;
  if (!bytes || bytes.length === 0 || bytes.length > 255) {
    throw new CryptoError("BAD_INPUT", `${name} must be a string of 1 to 255 UTF-8 bytes`);
  }
  return bytes;
}

/**
 * The keys of one folder across its epochs. A new epoch starts when a member is removed and the
 * key is rotated; older epochs stay so that content written under them stays readable.
 */
export class FolderKeyring {
  /** The folder these keys belong to. */
  readonly folderId: FolderId;
  readonly #keys = new Map<number, Uint8Array>();
  readonly #subkeys = new Map<number, FolderSubkeys>();

  /** An empty keyring for `folderId`; {@link FolderKeyring.add} the keys as they arrive. */
  constructor(folderId: FolderId) {
    sodium();
    requireFolderIdShape(folderId);
    this.folderId = folderId;
  }

  /**
   * Records the key of `epoch`. Adding the same key again is a no-op.
   * @throws CryptoError BAD_KEY if the epoch already has a different key: silently replacing a
   * key would make earlier content unreadable or let a forged wrap take over the epoch.
   */
  add(epoch: number, folderKey: Uint8Array): void {
    const s = sodium();
    requireUint(epoch, "epoch", MAX_EPOCH);
    requireBytes(folderKey, FOLDER_KEY_BYTES, "folderKey", "BAD_KEY");
    const existing = this.#keys.get(epoch);
    if (existing) {
      if (s.memcmp(existing, folderKey)) return;
      throw new CryptoError("BAD_KEY", `epoch ${epoch} already has a different key`);
    }
    this.#keys.set(epoch, folderKey.slice());
  }

  /** Whether the keyring holds the key of `epoch`. */
  has(epoch: number): boolean {
    return this.#keys.has(epoch);
  }

  /** The epochs held, in ascending order. */
  get epochs(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  /**
   * The newest epoch held: new content is sealed under it.
   * @throws CryptoError BAD_KEY when the keyring is empty
   */
  get latestEpoch(): number {
    const epochs = this.epochs;
    const last = epochs[epochs.length - 1];
    if (last === undefined) {
      throw new CryptoError("BAD_KEY", `no key for folder ${this.folderId} yet`);
    }
    return last;
  }

  /**
   * A copy of the folder key of `epoch`, e.g. to wrap it for a new member.
   * @throws CryptoError BAD_KEY "no key for epoch N"
   */
  folderKey(epoch: number): Uint8Array {
    return this.#key(epoch).slice();
  }

  /**
   * The subkeys of `epoch` (copies: callers may zero them when done).
   * @throws CryptoError BAD_KEY "no key for epoch N"
   */
  subkeys(epoch: number): FolderSubkeys {
    let derived = this.#subkeys.get(epoch);
    if (!derived) {
      derived = deriveFolderSubkeys(this.#key(epoch), epoch);
      this.#subkeys.set(epoch, derived);
    }
    return {
      chunk: derived.chunk.slice(),
      chunkId: derived.chunkId.slice(),
      index: derived.index.slice(),
      names: derived.names.slice(),
    };
  }

  /** Zeroes and forgets every key, e.g. when the folder is removed from this device. */
  clear(): void {
    const s = sodium();
    for (const key of this.#keys.values()) s.memzero(key);
    for (const sub of this.#subkeys.values()) {
      for (const key of [sub.chunk, sub.chunkId, sub.index, sub.names]) s.memzero(key);
    }
    this.#keys.clear();
    this.#subkeys.clear();
  }

  #key(epoch: number): Uint8Array {
    sodium();
    const key = this.#keys.get(epoch);
    if (!key) throw new CryptoError("BAD_KEY", `no key for epoch ${epoch}`);
    return key;
  }
}
