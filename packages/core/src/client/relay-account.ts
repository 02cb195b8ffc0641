/** RelayAccount: the relay's account, device, folder-key and invite routes as a typed client. */
import type { DeviceId, DeviceIdentity, FolderId } from "@weft/crypto";
import {
  FolderKeyring,
  deviceIdFromSignPublicKey,
  generateFolderKey,
  isDeviceId,
  isFolderId,
  newFolderId,
  ready,
  toBase64Url,
  wrapKeyForDevice,
} from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Transport } from "../protocol/transport.js";
import { HttpBlobStore } from "./http-blob-store.js";
import { RelayHttp, type RelayHttpOptions, bytesField, field } from "./relay-http.js";
import {
  RelaySession,
  type RelaySessionOptions,
  type RelayTokenStore,
  type RelayTokens,
  tokensFrom,
} from "./relay-session.js";
import { type WebSocketConstructor, createWebSocketTransport } from "./websocket-transport.js";
import { type RelayInvite } from "./relay-invite.js";
import { type FolderMetadata, encodeFolderMeta, makeFolderMeta } from "./folder-meta.js";
import { type VerifiedFolderMetadata, fetchFolderMetadata } from "./relay-folder-meta.js";
import type { Consistency } from "../replica/types.js";
import {
  type CreateInviteOptions,
  type RedeemedInvite,
  createInvite,
  redeemInvite,
  revokeInvite,
} from "./relay-account-invites.js";

export type { CreateInviteOptions, RedeemedInvite } from "./relay-account-invites.js";
import {
  type AccountDevice,
  type FolderMembers,
  type FolderRole,
  type FolderState,
  type RefusedKey,
  type RotationResult,
  fetchFolderKeys,
  folderState,
  listDevices,
  listMembers,
  mergeKeyring,
  removeDevice,
  rotate,
} from "./relay-members.js";

export type {
  AccountDevice,
  FolderMemberDevice,
  FolderMemberInfo,
  FolderMembers,
  FolderState,
  RefusedKey,
  RotationResult,
} from "./relay-members.js";
export { mergeKeyring } from "./relay-members.js";

export { type RelayInvite, encodeInvite, parseInvite } from "./relay-invite.js";
export type { RelayHttpOptions } from "./relay-http.js";
export {
  RelaySession,
  type RelaySessionOptions,
  type RelayTokenStore,
  type RelayTokens,
} from "./relay-session.js";

export type { FolderRole } from "./relay-members.js";
export type { VerifiedFolderMetadata } from "./relay-folder-meta.js";

/** How to log in: {@link RelayAccount.login}. */
export interface RelayLoginOptions extends RelayHttpOptions {
  user: string;
  /** **Secret**; sent once to the relay, never kept. */
  password: string;
  /** This device: its public keys are registered to the account and bound to the tokens. */
  identity: DeviceIdentity;
  tokenStore?: RelayTokenStore;
}

/** How to go on with stored tokens: {@link RelayAccount.resume}. */
export interface RelayResumeOptions extends RelaySessionOptions {
  identity: DeviceIdentity;
}

/** A device's public keys as the relay holds them. */
export interface DevicePublicKeys {
  deviceId: DeviceId;
  signPublicKey: Uint8Array;
  boxPublicKey: Uint8Array;
}

/** The relay-facing options of a Replica, from {@link RelayAccount.replicaOptions}. */
export interface RelayReplicaOptions {
  connect: () => Transport;
  token: (refused?: string) => Promise<string>;
  remoteBlobs: HttpBlobStore;
}

/**
 * A device signed in to a relay: the HTTP calls an app makes before a Replica can sync (sign-up,
 * login, folders and their keys, invites), with access tokens that refresh themselves.
 *
 * ```ts
 * await RelayAccount.register({ relay, user, password });
 * const account = await RelayAccount.login({ relay, user, password, identity });
 * const { folderId, keyring } = await account.createFolder();
 * const replica = await Replica.open({ identity, folderId, keyring, state, blobs,
 *   ...account.replicaOptions(folderId, { WebSocket }) });
 * ```
 *
 * Failures reject with ProtocolError: the relay's code and its message (`the relay refused
 * POST /v1/folders: …`), `unavailable` when it cannot be reached, `bad_frame` for an answer that
 * does not fit; WeftError INVALID_OPTIONS / INVALID_ARGUMENT for bad arguments, INTEGRITY for a
 * key that does not unwrap. No message ever holds a password, a token or an invite secret.
 */
export class RelayAccount {
  /** This device. */
  readonly identity: DeviceIdentity;
  /** The signed-in session this device's calls go through. */
  readonly session: RelaySession;

  private constructor(session: RelaySession, identity: DeviceIdentity) {
    this.session = session;
    this.identity = identity;
  }

  /** This device on an existing session (sharing its tokens and their refreshing). */
  static on(session: RelaySession, identity: DeviceIdentity): RelayAccount {
    return new RelayAccount(session, identity);
  }

  /**
   * Creates an account. @throws ProtocolError `conflict` when the name is taken, `bad_frame`
   * for a malformed name or a password under 8 characters
   */
  static async register(
    options: RelayHttpOptions & { user: string; password: string },
  ): Promise<{ accountId: string }> {
    const http = new RelayHttp(options);
    const { user, password } = options;
    const json = await http.call("POST", "/v1/auth/register", {
      body: { user, password },
      secrets: [password],
    });
    return { accountId: field(json, "accountId", "register", "string") };
  }

  /**
   * Logs in with this device's public keys (registering the device to the account on its first
   * login) and returns the session. @throws ProtocolError `unauthorized` for a wrong user name
   * or password, `conflict` when the device belongs to another account
   */
  static async login(options: RelayLoginOptions): Promise<RelayAccount> {
    await ready();
    const http = new RelayHttp(options);
    const { user, password, identity } = options;
    const json = await http.call("POST", "/v1/auth/login", {
      body: {
        user,
        password,
        device: {
          deviceId: identity.deviceId,
          signPublicKey: toBase64Url(identity.signPublicKey),
          boxPublicKey: toBase64Url(identity.boxPublicKey),
        },
      },
      secrets: [password],
    });
    const tokens = tokensFrom(json, "login");
    await options.tokenStore?.save(tokens);
    return new RelayAccount(new RelaySession(http, tokens, options.tokenStore), identity);
  }

  /** A session from stored tokens (no request is made; the access token refreshes when needed). */
  static resume(options: RelayResumeOptions): RelayAccount {
    return new RelayAccount(RelaySession.resume(options), options.identity);
  }

  /** The relay's base URL, without a trailing slash. */
  get relay(): string {
    return this.session.relay;
  }

  /** The account's id on the relay. */
  get accountId(): string {
    return this.session.accountId;
  }

  /** The current tokens (**secret**), e.g. to store them when there is no token store. */
  get tokens(): RelayTokens {
    return this.session.tokens;
  }

  /** The session's {@link RelaySession.token}: `token: account.token` works. */
  get token(): (refused?: string) => Promise<string> {
    return this.session.token;
  }

  /** Refreshes the access token now (also rotating the refresh token) and returns it. */
  refresh(): Promise<string> {
    return this.session.refresh();
  }

  /** An authorized JSON call; a 401 refreshes the token once and tries again. */
  request(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    return this.session.request(method, path, body);
  }

  /** Ends the session on the relay: its refresh tokens stop working. */
  logout(): Promise<void> {
    return this.session.logout();
  }

  /** A device's public keys, checked against its id. @throws ProtocolError `not_found` */
  async device(deviceId: DeviceId): Promise<DevicePublicKeys> {
    if (!isDeviceId(deviceId)) throw new WeftError("INVALID_ARGUMENT", "not a device id");
    const json = await this.request("GET", `/v1/devices/${deviceId}`);
    const signPublicKey = bytesField(json, "signPublicKey", "device", 32);
    const boxPublicKey = bytesField(json, "boxPublicKey", "device", 32);
    // The id is a hash of the signing key, so a relay cannot swap that key unnoticed. (The box
    // key is not bound to the id: a lying relay could still substitute it.)
    if (deviceIdFromSignPublicKey(signPublicKey) !== deviceId)
      throw new ProtocolError("bad_frame", "the relay answered keys of another device");
    return { deviceId, signPublicKey, boxPublicKey };
  }

  /**
   * Creates a folder with a fresh key (epoch 0), this account as its owner, and the key stored
   * on the relay sealed to this device (only this device can open it: it restores the key if
   * the app loses it but keeps its identity). The relay keeps, with the folder, its metadata
   * (folder-meta.ts): the consistency mode (default eventual), sealed under the new key and
   * signed by this device, which every device that joins checks and takes the mode from
   * ({@link folderMetadata}).
   */
  async createFolder(
    folderId: FolderId = newFolderId(),
    options: { consistency?: Consistency } = {},
  ): Promise<{
    folderId: FolderId;
    keyring: FolderKeyring;
    metadata: FolderMetadata;
    /** The metadata record as the relay keeps it ({@link folderMetadata}'s `known`). */
    meta: string;
  }> {
    if (!isFolderId(folderId)) throw new WeftError("INVALID_ARGUMENT", "not a folder id");
    const key = generateFolderKey();
    const record = makeFolderMeta({
      folderId,
      key0: key,
      consistency: options.consistency ?? "eventual",
      signer: this.identity,
    });
    const meta = encodeFolderMeta(record);
    await this.request("POST", "/v1/folders", { folderId, meta });
    await this.storeFolderKey(folderId, 0, key);
    const keyring = new FolderKeyring(folderId);
    keyring.add(0, key);
    return {
      folderId,
      keyring,
      metadata: {
        folderId,
        consistency: options.consistency ?? "eventual",
        created: record.created,
        creator: record.signer,
        version: 1,
      },
      meta,
    };
  }

  /**
   * The folder's owner-signed metadata, checked: the record the relay keeps must be signed by a
   * device of an owner (as the relay lists them) and open under the folder's epoch 0 key (which
   * the relay does not have), so neither the relay nor a member who is no owner can make one or
   * change its mode. Resolves undefined for a folder created before metadata existed (it is
   * eventual). With `known`, the record this device checked before: the relay's must be exactly
   * it (a record is never replaced), and the owner check is not repeated, so a record stays good
   * after its creator's device was removed. @throws WeftError INTEGRITY when the record is
   * malformed, forged, changed, signed by another device, or gone while `known` says there was one
   */
  folderMetadata(
    keyring: FolderKeyring,
    options: { known?: string } = {},
  ): Promise<VerifiedFolderMetadata | undefined> {
    return fetchFolderMetadata(this, keyring, options);
  }

  /**
   * Stores a folder key on the relay sealed to a member device (default: this one), at the
   * folder's current epoch. The caller must be an editor storing its own device's key, or an
   * owner; the device's account must be a member. @throws ProtocolError `conflict` when that
   * device already has a key for the epoch (never replaced) or the epoch is not the current one
   */
  async storeFolderKey(
    folderId: FolderId,
    epoch: number,
    key: Uint8Array,
    to: DeviceId = this.identity.deviceId,
  ): Promise<void> {
    const box =
      to === this.identity.deviceId
        ? this.identity.boxPublicKey
        : (await this.device(to)).boxPublicKey;
    await this.request("PUT", `/v1/folders/${folderId}/keys/${to}`, {
      epoch,
      wrappedKey: toBase64Url(wrapKeyForDevice(key, box)),
    });
  }

  /**
   * The folder's keys this device can prove, as a new keyring: those of `held` (default none),
   * plus what the relay holds sealed to this device, up to the folder's current epoch. A row is
   * a sealed box anyone could have made, so a key of an epoch above those held is adopted only
   * through the owner-signed announcement of that epoch, naming this device and that key, whose
   * chain of previous keys leads back to a key already held; and older epochs come from walking
   * that chain back from the oldest key held (a member who joined later reads older content).
   * With nothing held, the lowest row is the starting point (the key this device stored for
   * itself). A key for an epoch the folder has not reached is left out: a device writes with its
   * newest key. Keys offered but not adopted are passed to `onRefused`.
   */
  folderKeys(
    folderId: FolderId,
    held?: FolderKeyring,
    onRefused?: (refused: RefusedKey) => void,
  ): Promise<FolderKeyring> {
    return fetchFolderKeys(this, folderId, held, onRefused);
  }

  /** The folder as the relay reports it: epoch, head, this account's role, whether a key rotation is due. */
  folder(folderId: FolderId): Promise<FolderState> {
    return folderState(this, folderId);
  }

  /** The folder's members, their roles and the devices that hold its key (any member may ask). */
  members(folderId: FolderId): Promise<FolderMembers> {
    return listMembers(this, folderId);
  }

  /**
   * Gives a member another role, or adds an account as a member (owners only; the account gets
   * no key this way: send it an invite). A folder keeps at least one owner: demoting the last
   * is refused (`conflict`). Demoting does not change the key.
   */
  async setRole(folderId: FolderId, user: string, role: FolderRole): Promise<void> {
    if (!isFolderId(folderId)) throw new WeftError("INVALID_ARGUMENT", "not a folder id");
    await this.request("POST", `/v1/folders/${folderId}/members`, { user, role });
  }

  /**
   * Removes a member (owners only) and changes the folder's key: this device makes the next
   * epoch's key, wraps it to every remaining member device and announces it, signed; it is
   * added to `keyring`, so a Replica holding that keyring seals new content under it at once.
   * The relay ends the removed member's sessions. Should the rotation fail after the removal
   * (the relay unreachable), the relay remembers it is due: {@link completeRotation} (or any
   * owner's next call of it) finishes it. @throws ProtocolError `not_found` for a non-member,
   * `conflict` for the last owner or oneself
   */
  async removeMember(keyring: FolderKeyring, user: string): Promise<RotationResult> {
    const folderId = keyring.folderId;
    if (typeof user !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(user))
      throw new WeftError("INVALID_ARGUMENT", "not a user name");
    await this.request("DELETE", `/v1/folders/${folderId}/members/${user.toLowerCase()}`);
    return this.completeRotation(keyring);
  }

  /**
   * Makes the folder's next key epoch now (owners only), as {@link removeMember} does; the key
   * is added to `keyring`. If another owner made it first, theirs is adopted.
   */
  rotateFolderKey(keyring: FolderKeyring): Promise<RotationResult> {
    return rotate(this, keyring);
  }

  /**
   * Finishes a key rotation a removal left owed, if any and if this account owns the folder;
   * otherwise adopts any newer key the relay holds for this device. Cheap when nothing is due.
   */
  async completeRotation(keyring: FolderKeyring): Promise<RotationResult> {
    const state = await folderState(this, keyring.folderId);
    if (state.rotationDue && state.role === "owner") return rotate(this, keyring);
    if (!keyring.has(state.epoch))
      mergeKeyring(keyring, await fetchFolderKeys(this, keyring.folderId, keyring));
    return { epoch: state.epoch, rotated: false, devices: [] };
  }

  /** This account's devices (removed ones too, with when). */
  devices(): Promise<AccountDevice[]> {
    return listDevices(this);
  }

  /**
   * Removes another device of this account (a lost laptop): the relay revokes its sign-in, ends
   * its sessions and refuses it from now on, and every folder it held a key of owes a key
   * rotation. Returns those folders with this account's role: for each one it owns, call
   * {@link rotateFolderKey} (or {@link completeRotation}) with its keyring; other folders' owners
   * complete theirs. The account stays. @throws ProtocolError `conflict` for this device itself
   */
  removeDevice(
    deviceId: DeviceId,
  ): Promise<{ folders: { folderId: FolderId; role: FolderRole | null }[] }> {
    return removeDevice(this, deviceId);
  }

  /** Names a device of this account (default: this one) for people; null clears the name. */
  async nameDevice(
    name: string | null,
    deviceId: DeviceId = this.identity.deviceId,
  ): Promise<void> {
    if (!isDeviceId(deviceId)) throw new WeftError("INVALID_ARGUMENT", "not a device id");
    await this.request("PUT", `/v1/devices/${deviceId}`, { name });
  }

  /**
   * Creates a one-time invite to a folder this account owns and returns it as text
   * (`weft1:…`, the same format as `weft folder invite`). It holds the relay's URL, the
   * folder id, the invite id and a secret that unwraps the folder key; the relay never sees
   * the secret. Send it over a channel you trust. With `to`, the key is sealed to that device
   * instead and the invite holds no secret.
   */
  createInvite(keyring: FolderKeyring, options: CreateInviteOptions = {}): Promise<string> {
    return createInvite(this, keyring, options);
  }

  /**
   * Redeems an invite (text or parsed) for this account: joins the folder with the invite's
   * role and returns its key. @throws ProtocolError `not_found` (unknown, expired, revoked),
   * `conflict` (used already); WeftError INVALID_ARGUMENT for an invite made for another
   * device or another relay, INTEGRITY when its secret does not open the key
   */
  redeemInvite(invite: string | RelayInvite): Promise<RedeemedInvite> {
    return redeemInvite(this, invite);
  }

  /** Withdraws an invite not redeemed yet (owners only). */
  revokeInvite(invite: string | RelayInvite): Promise<void> {
    return revokeInvite(this, invite);
  }

  /**
   * What a Replica needs to sync `folderId` through this relay: `connect` (a WebSocket to
   * `/v1/ws`), `token` and `remoteBlobs` (an HttpBlobStore, which the caller closes). On Node
   * 20 pass `WebSocket` from the `ws` package.
   */
  replicaOptions(
    folderId: FolderId,
    options: { WebSocket?: WebSocketConstructor } = {},
  ): RelayReplicaOptions {
    return {
      connect: this.session.endpoints.connector((wsUrl) =>
        createWebSocketTransport(wsUrl, { ...options, token: this.token }),
      ),
      token: this.token,
      remoteBlobs: new HttpBlobStore({
        baseUrl: this.relay,
        folderId,
        token: this.token,
        ...(this.session.fetchFn === globalThis.fetch ? {} : { fetch: this.session.fetchFn }),
      }),
    };
  }
}
