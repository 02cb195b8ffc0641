/** MetaStore: the relay's metadata (accounts, devices, tokens, folders, invites, the log), as an interface. */
import type { LogStore, Role } from "@weft/core/server";
import type { DeviceId, FolderId } from "@weft/crypto";

export type { LogEntry, Role, SnapshotRecord } from "@weft/core/server";

/** A user account. `user` is unique, compared case-sensitively (the server normalizes it). */
export interface Account {
  /** Opaque random id, assigned by the store. */
  id: string;
  /** The login name, as the server normalized it. */
  user: string;
  /** The password hash (an encoded Argon2id string); never the password. */
  passwordHash: string;
  /** When the account was created, in milliseconds since the epoch. */
  created: number;
}

/** A device registered to an account, with the public keys it signs and receives keys with. */
export interface DeviceRecord {
  /** The device's canonical id. */
  deviceId: DeviceId;
  /** The account the device belongs to. */
  accountId: string;
  /** The key envelopes from this device must verify against. */
  signPublicKey: Uint8Array;
  /** The key folder keys are wrapped to for this device. */
  boxPublicKey: Uint8Array;
  /** When the device was registered, in milliseconds since the epoch. */
  created: number;
  /** Its human name (`weft device name`), when one was given. */
  name?: string;
  /** When it was removed from its account (ms since the epoch); absent while it is not. */
  removed?: number;
}

/** A refresh token, by the hash of its secret (the secret itself is never stored). */
export interface RefreshTokenRecord {
  /** The hash of the token's secret. */
  tokenHash: string;
  /** The rotation family: the chain of tokens descended from one login. */
  family: string;
  /** The account it refreshes. */
  accountId: string;
  /** The device the access tokens it yields are bound to, or null for none. */
  deviceId: DeviceId | null;
  /** When it stops being valid, in milliseconds since the epoch. */
  expires: number;
  /** When it was first exchanged, or null if never: a second use means it was stolen. */
  usedAt: number | null;
  /** Whether it was revoked (with its family, or all of its account's tokens). */
  revoked: boolean;
}

/** An invitation to join a folder, with the folder key wrapped for whoever redeems it. */
export interface InviteRecord {
  /** Opaque id, chosen by the server. */
  id: string;
  /** The folder it admits to. */
  folderId: FolderId;
  /** The role it grants; an invite never makes an owner. */
  role: Exclude<Role, "owner">;
  /** The account that created it. */
  createdBy: string;
  /** When it stops being valid, in milliseconds since the epoch (checked by the server). */
  expires: number;
  /** The account that redeemed it, or null while unused. */
  usedBy: string | null;
  /** Whether it was revoked. */
  revoked: boolean;
  /** The folder key wrapped by the inviter, opaque to the relay. */
  wrappedKey: Uint8Array;
  /** The key epoch `wrappedKey` belongs to. */
  epoch: number;
}

/** A folder as the relay knows it: no name, no key, only ids and counters. */
export interface FolderRecord {
  /** The folder's id. */
  folderId: FolderId;
  /** The current key epoch (0 when created; only ever increases). */
  epoch: number;
  /** When the folder was created, in milliseconds since the epoch. */
  created: number;
  /** The sequence number of the newest log entry, 0 if none was ever appended. */
  headSeq: number;
  /** Present (true) after a member or member device was removed, until an owner announces the next epoch. */
  rotationDue?: true;
  /**
   * The folder's owner-signed metadata (core's folder-meta.ts) as its creator sent it, opaque
   * here; absent for folders created before it existed.
   */
  meta?: string;
}

/** One of an account's folders, with its role there. */
export interface AccountFolder {
  /** The folder's id. */
  folderId: FolderId;
  /** The account's role in it. */
  role: Role;
  /** The folder's current key epoch. */
  epoch: number;
  /** The folder's newest sequence number. */
  headSeq: number;
}

/** One member of a folder. */
export interface FolderMember {
  /** The member's account id. */
  accountId: string;
  /** The member's user name. */
  user: string;
  /** The member's role. */
  role: Role;
}

/** A member device of a folder: a device of a member account holding a key row there, not removed. */
export interface MemberDevice extends DeviceRecord {
  /** The newest epoch the device holds a key row for. */
  keyEpoch: number;
}

/** One member of a folder with the devices that hold its key. */
export interface FolderMemberDevices extends FolderMember {
  devices: MemberDevice[];
}

/** An owner's announcement of a key epoch, as the device sent it (opaque to the store). */
export interface EpochAnnouncement {
  epoch: number;
  /** The device that signed it. */
  signer: DeviceId;
  /** The encoded record. */
  record: string;
  /** When the relay stored it, in milliseconds since the epoch. */
  created: number;
}

/** What a folder's log and snapshot hold on the relay (what the log and account quotas count). */
export interface FolderUsage {
  /** Entries in the log (pruning removes them). */
  logEntries: number;
  /** Bytes of the envelopes in the log. */
  logBytes: number;
  /** Bytes of the folder's snapshot (one per folder), 0 for none. */
  snapshotBytes: number;
}

/** A folder key wrapped for one device at one epoch, opaque to the relay. */
export interface WrappedKey {
  /** The key epoch. */
  epoch: number;
  /** The wrapped key. */
  blob: Uint8Array;
}

/**
 * The relay's metadata: everything but the blobs. It stores ciphertext (envelopes, snapshots,
 * wrapped keys) as opaque bytes and never opens them. Its folder log, roles and member device
 * keys are the {@link LogStore} the protocol server runs on.
 *
 * Asynchronous, and shared: several relays may run over one database, so the server must not
 * assume that nothing ran between two of its calls. Each operation is atomic on its own (an
 * append's dedupe and gap-free seq, useInvite, publishEpoch, removeDevice, …). It enforces
 * integrity (unique names, one sequence per folder, used-once invites) but no policy: who may do
 * what, expiry times and protocol shapes are the server's to check.
 *
 * Errors reject the promise as WeftError: INVALID_ARGUMENT for a malformed argument, NOT_FOUND when a
 * write (or {@link headSeq}, {@link readLog}) names an unknown folder, account, device, token or
 * invite, ALREADY_EXISTS for a taken name or id, STORAGE for a failure of the store itself (with
 * the SQLite error as cause) or a closed store. Lookups of something absent return undefined or
 * an empty list instead.
 */
export interface MetaStore extends LogStore {
  /**
   * Creates an account with a fresh random id.
   * @throws WeftError ALREADY_EXISTS if `user` is taken (case-sensitively)
   */
  createAccount(user: string, passwordHash: string): Promise<Account>;
  /** The account named `user` (exactly), if any. */
  accountByUser(user: string): Promise<Account | undefined>;
  /** The account with this id, if any. */
  accountById(id: string): Promise<Account | undefined>;
  /**
   * Replaces an account's password hash.
   * @throws WeftError NOT_FOUND for an unknown account
   */
  setPasswordHash(accountId: string, hash: string): Promise<void>;

  /**
   * Registers a device to an account and returns its record. Registering it again with the same
   * account and keys returns the existing record (so a retried request succeeds).
   * @throws WeftError ALREADY_EXISTS if the device id belongs to another account or has other
   * keys; NOT_FOUND for an unknown account
   */
  addDevice(
    accountId: string,
    deviceId: DeviceId,
    signPublicKey: Uint8Array,
    boxPublicKey: Uint8Array,
  ): Promise<DeviceRecord>;
  /** The device with this id, if registered. */
  device(deviceId: DeviceId): Promise<DeviceRecord | undefined>;
  /** An account's devices, oldest first. */
  devicesOf(accountId: string): Promise<DeviceRecord[]>;

  /**
   * Stores a refresh token by its hash, unused and not revoked, bound to `deviceId` if given
   * (so that refreshing keeps the device in the access token).
   * @throws WeftError ALREADY_EXISTS for a hash already stored; NOT_FOUND for an unknown account
   * or device
   */
  saveRefreshToken(r: {
    tokenHash: string;
    family: string;
    accountId: string;
    expires: number;
    deviceId?: DeviceId;
  }): Promise<void>;
  /** The refresh token with this hash, if stored. */
  refreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Records that a token was exchanged at `at`. Only the first use is kept, so a replay does
   * not hide when the token was first spent. Atomic: resolves true for the first use only, so
   * of two requests racing with one token, one wins (the other is a replay).
   * @throws WeftError NOT_FOUND for an unknown hash
   */
  markRefreshTokenUsed(tokenHash: string, at: number): Promise<boolean>;
  /**
   * Revokes every token of a rotation family (a no-op for an unknown family), now by the
   * store's clock; a token revoked before keeps its first revocation time.
   */
  revokeRefreshFamily(family: string): Promise<void>;
  /** Revokes every token of an account (on a password change or a detected theft), as above. */
  revokeRefreshTokensOf(accountId: string): Promise<void>;
  /**
   * The families with a token revoked at or after `since` (ms since the epoch), each with the
   * earliest such time: what a relay loads on start to refuse their still-unexpired access
   * tokens (revocation by {@link revokeRefreshFamily}, {@link revokeRefreshTokensOf} and
   * {@link removeDevice} alike).
   */
  revokedFamiliesSince(since: number): Promise<{ family: string; revokedAt: number }[]>;

  /**
   * Creates a folder at epoch 0 with an empty log, and makes `ownerAccountId` its owner. `meta`,
   * the folder's signed metadata (checked by the caller), is kept with it for good: nothing
   * replaces or removes it.
   * @throws WeftError ALREADY_EXISTS for a folder id in use; NOT_FOUND for an unknown account
   */
  createFolder(folderId: FolderId, ownerAccountId: string, meta?: string): Promise<void>;
  /** A folder's counters, if it exists. */
  folder(folderId: FolderId): Promise<FolderRecord | undefined>;
  /** The folders an account is a member of, with its role in each. */
  foldersOf(accountId: string): Promise<AccountFolder[]>;
  /**
   * What the logs and snapshots of `folderIds` hold, read from counters kept with each folder
   * (no scan of the log); an unknown folder is left out of the answer.
   */
  folderUsage(folderIds: readonly FolderId[]): Promise<Map<FolderId, FolderUsage>>;
  /**
   * Adds a member, or changes a member's role.
   * @throws WeftError NOT_FOUND for an unknown folder or account
   */
  setMember(folderId: FolderId, accountId: string, role: Role): Promise<void>;
  /**
   * Removes a member (a no-op for a non-member) and marks the folder's key rotation due. Their
   * devices' acks and keys stay.
   */
  removeMember(folderId: FolderId, accountId: string): Promise<void>;
  /** A folder's members, by user name. */
  members(folderId: FolderId): Promise<FolderMember[]>;
  /**
   * The folder's members with the devices that hold a key row there (removed devices left
   * out), by user name; devices oldest first.
   */
  memberDevices(folderId: FolderId): Promise<FolderMemberDevices[]>;
  /**
   * Moves a folder to a new key epoch (after a member was removed and the key rotated).
   * @throws WeftError INVALID_ARGUMENT unless `epoch` is greater than the current one;
   * NOT_FOUND for an unknown folder
   */
  setEpoch(folderId: FolderId, epoch: number): Promise<void>;

  /**
   * Stores a folder key wrapped for a device at an epoch. Never replaces one: a planted row
   * overwriting the real key is the attack this refuses.
   * @throws WeftError ALREADY_EXISTS if a key is stored for the same folder, device and epoch;
   * NOT_FOUND for an unknown folder or device
   */
  putWrappedKey(
    folderId: FolderId,
    deviceId: DeviceId,
    epoch: number,
    blob: Uint8Array,
  ): Promise<void>;
  /** The keys wrapped for a device in a folder, by ascending epoch. */
  wrappedKeys(folderId: FolderId, deviceId: DeviceId): Promise<WrappedKey[]>;

  /**
   * Starts the folder's next key epoch, atomically: stores the owner's announcement and the new
   * key wrapped for each device, moves the folder to `epoch`, and clears a due rotation.
   * @throws WeftError INVALID_ARGUMENT unless `epoch` is the folder's current epoch + 1 (or a
   * key row is malformed); NOT_FOUND for an unknown folder or device
   */
  publishEpoch(
    folderId: FolderId,
    epoch: number,
    signer: DeviceId,
    record: string,
    keys: ReadonlyMap<DeviceId, Uint8Array>,
  ): Promise<void>;
  /** The folder's announcements of epochs above `afterEpoch`, ascending. */
  epochAnnouncements(folderId: FolderId, afterEpoch: number): Promise<EpochAnnouncement[]>;

  /**
   * Sets or clears a device's human name.
   * @throws WeftError NOT_FOUND for an unknown device
   */
  setDeviceName(deviceId: DeviceId, name: string | null): Promise<void>;
  /**
   * Removes a device from its account at `at`: its refresh tokens are revoked, it stops counting
   * as a member device, and every folder where it holds a key (its account a member) gets a key
   * rotation due. Returns those folders. Removing it again changes nothing and returns [].
   * @throws WeftError NOT_FOUND for an unknown device
   */
  removeDevice(deviceId: DeviceId, at: number): Promise<FolderId[]>;

  /**
   * Stores an invite, unused and not revoked.
   * @throws WeftError ALREADY_EXISTS for an id in use; NOT_FOUND for an unknown folder or
   * creator
   */
  createInvite(i: Omit<InviteRecord, "usedBy" | "revoked">): Promise<void>;
  /** The invite with this id, if any. (Stores keep only a hash of the id: it is a bearer secret.) */
  invite(id: string): Promise<InviteRecord | undefined>;
  /**
   * Marks an invite used by `accountId`. Atomic, so two accounts racing for one invite cannot
   * both get it. Expiry is the server's to check.
   * @throws WeftError ALREADY_EXISTS if it was used already; INVALID_ARGUMENT if revoked;
   * NOT_FOUND for an unknown invite or account
   */
  useInvite(id: string, accountId: string): Promise<void>;
  /**
   * Revokes an invite (used or not; revoking twice is fine).
   * @throws WeftError NOT_FOUND for an unknown invite
   */
  revokeInvite(id: string): Promise<void>;

  /** Closes the database. Further calls reject with WeftError STORAGE; closing again is a no-op. */
  close(): Promise<void>;
}
