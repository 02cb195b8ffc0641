/** The agent's home (WEFT_HOME, default ~/.weft): the device identity, accounts, folders and their state. */
import { mkdir, readdir, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import {
  type DeviceIdentity,
  type FolderId,
  fromBase64Url,
  generateDeviceIdentity,
  protectSecret,
  toBase64Url,
  unprotectSecret,
} from "@weft/crypto";
import { AgentError } from "./errors.js";
import { readJson, withLock, writeJsonPrivate } from "./files.js";

export { AgentError, type AgentErrorCode } from "./errors.js";
export { readJson, writeJsonPrivate, withLock, withPidLock, processAlive } from "./files.js";

/** The device file: public keys in the clear, secret keys either plain or sealed by a passphrase. */
interface DeviceFile {
  version: 1;
  deviceId: string;
  signPublicKey: string;
  boxPublicKey: string;
  /** base64url of signSecretKey (64 bytes) ‖ boxSecretKey (32 bytes), or its protectSecret form. */
  secret: string;
  protected: boolean;
}

/** One account on one relay. The refresh token is a secret: the file is mode 0600. */
export interface AccountRecord {
  /** The relay's identity: its first address, what invites and folder records name. */
  relay: string;
  /**
   * Every address of the relay, `relay` first (several relays sharing their state behind one
   * name, or one relay by several roads); tried in turn when one fails. Absent in records
   * written before there could be several: then `relay` is the only one.
   */
  relays?: string[];
  user: string;
  accountId: string;
  refreshToken: string;
  accessToken?: string;
  /** ms since the epoch. */
  accessExpires?: number;
}

/** A folder this device keeps in sync. */
export interface FolderRecord {
  folderId: FolderId;
  /** Absolute path of the folder on this device. */
  path: string;
  relay: string;
  role: "owner" | "editor" | "viewer";
  /**
   * Set when the relay refused this device the folder for good (its account was removed from
   * it, or the device from its account): the local copy stays, nothing syncs any more.
   */
  removed?: { at: number; reason: string };
}

/**
 * A folder this device is a member of but syncs nowhere (`weft folder join` without PATH): what
 * `weft folder list` shows of it. Kept beside its key, so `weft folder remove` forgets both.
 */
export interface MemberRecord {
  folderId: FolderId;
  relay: string;
  role: FolderRecord["role"];
}

/** Where everything lives; the paths are fixed so that tools and docs can name them. */
export class Home {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** `WEFT_HOME` or `~/.weft`. */
  static fromEnv(env: NodeJS.ProcessEnv): Home {
    return new Home(env["WEFT_HOME"] || join(homedir(), ".weft"));
  }

  get devicePath(): string {
    return join(this.dir, "device.json");
  }
  get accountsPath(): string {
    return join(this.dir, "accounts.json");
  }
  get foldersPath(): string {
    return join(this.dir, "folders.json");
  }
  /** The per-folder state directory: the replica's SQLite file, the chunk cache, the folder keys. */
  folderDir(folderId: FolderId): string {
    return join(this.dir, "folders", folderId);
  }
  /**
   * The state `weft ls|get|put|rm|mv` keep for a folder this device does not sync: the
   * replica's SQLite file (the index and unsent changes), no content.
   */
  remoteDir(folderId: FolderId): string {
    return join(this.dir, "remote", folderId);
  }
  /** The lock that one `weft sync` at a time holds (it contains the pid). */
  get syncPidPath(): string {
    return join(this.dir, "sync.pid");
  }
  lockPath(name: string): string {
    return join(this.dir, `${name}.lock`);
  }

  /**
   * Creates the device identity (once). With a passphrase the secret keys are sealed by
   * Argon2id + XChaCha20-Poly1305 (crypto's protectSecret), and every command needs it again.
   * @throws AgentError NOT_READY when one exists already
   */
  async initDevice(passphrase?: string): Promise<DeviceIdentity> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return withLock(this.lockPath("device"), async () => {
      if (await readJson(this.devicePath))
        throw new AgentError("NOT_READY", `this device is set up already (${this.devicePath})`);
      const identity = generateDeviceIdentity();
      const secret = new Uint8Array(96);
      secret.set(identity.signSecretKey, 0);
      secret.set(identity.boxSecretKey, 64);
      const file: DeviceFile = {
        version: 1,
        deviceId: identity.deviceId,
        signPublicKey: toBase64Url(identity.signPublicKey),
        boxPublicKey: toBase64Url(identity.boxPublicKey),
        secret: toBase64Url(passphrase ? protectSecret(secret, passphrase) : secret),
        protected: Boolean(passphrase),
      };
      secret.fill(0);
      await writeJsonPrivate(this.devicePath, file);
      return identity;
    });
  }

  /** Whether the device file exists. */
  async hasDevice(): Promise<boolean> {
    return (await readJson(this.devicePath)) !== undefined;
  }

  /**
   * The device identity. `passphrase` is asked for only when the keys are sealed by one.
   * @throws AgentError NOT_READY before `weft init`; AUTH on a wrong passphrase
   */
  async device(passphrase?: () => Promise<string>): Promise<DeviceIdentity> {
    const file = await readJson<DeviceFile>(this.devicePath);
    if (!file) throw new AgentError("NOT_READY", "this device has no identity yet; run: weft init");
    let secret = fromBase64Url(file.secret);
    if (file.protected) {
      if (!passphrase)
        throw new AgentError("AUTH", "the device keys are sealed; set WEFT_DEVICE_PASSPHRASE");
      try {
        secret = unprotectSecret(secret, await passphrase());
      } catch (error) {
        throw new AgentError("AUTH", "wrong device passphrase", { cause: error });
      }
    }
    if (secret.length !== 96) throw new AgentError("STATE", `${this.devicePath} is damaged`);
    return {
      deviceId: file.deviceId as DeviceIdentity["deviceId"],
      signPublicKey: fromBase64Url(file.signPublicKey),
      boxPublicKey: fromBase64Url(file.boxPublicKey),
      signSecretKey: secret.slice(0, 64),
      boxSecretKey: secret.slice(64),
    };
  }

  async accounts(): Promise<AccountRecord[]> {
    return (await readJson<AccountRecord[]>(this.accountsPath)) ?? [];
  }

  /** The account for `relay`, or the only account when `relay` is not given. */
  async account(relay?: string): Promise<AccountRecord> {
    const all = await this.accounts();
    if (relay !== undefined) {
      const found = all.find((a) => a.relay === normalizeRelayUrl(relay));
      if (!found)
        throw new AgentError(
          "NOT_READY",
          `not logged in to ${relay}; run: weft account login --relay ${relay} --user NAME`,
        );
      return found;
    }
    if (all.length === 1) return all[0]!;
    if (all.length === 0)
      throw new AgentError(
        "NOT_READY",
        "not logged in; run: weft account login --relay URL --user NAME",
      );
    throw new AgentError("USAGE", "logged in to several relays; say which with --relay URL");
  }

  /** Saves (adds or replaces) the account for its relay. Callers hold the accounts lock. */
  async saveAccount(record: AccountRecord): Promise<void> {
    const all = (await this.accounts()).filter((a) => a.relay !== record.relay);
    all.push(record);
    await writeJsonPrivate(this.accountsPath, all);
  }

  async folders(): Promise<FolderRecord[]> {
    return (await readJson<FolderRecord[]>(this.foldersPath)) ?? [];
  }

  /**
   * Refuses a new folder at `path` (or with `folderId`) that another one here already has, or
   * that is inside one or holds one. @throws AgentError USAGE
   */
  checkNewFolder(all: readonly FolderRecord[], path: string, folderId?: FolderId): void {
    const clash = all.find(
      (f) =>
        f.folderId === folderId ||
        f.path === path ||
        path.startsWith(`${f.path}/`) ||
        f.path.startsWith(`${path}/`),
    );
    if (clash)
      throw new AgentError(
        "USAGE",
        clash.folderId === folderId
          ? `folder ${folderId} is synced here already, at ${clash.path}`
          : `${path} overlaps the synced folder ${clash.path}`,
      );
  }

  /** The folders this device is a member of without syncing them here, by id. */
  async memberFolders(): Promise<MemberRecord[]> {
    const synced = new Set((await this.folders()).map((f) => f.folderId));
    const ids = await readdir(join(this.dir, "folders")).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw new AgentError("STATE", `cannot list ${join(this.dir, "folders")}: ${error.message}`);
    });
    const records = await Promise.all(
      ids
        .filter((id) => !synced.has(id as FolderId))
        .sort()
        .map((id) => readJson<MemberRecord>(this.memberPath(id as FolderId))),
    );
    return records.filter((r): r is MemberRecord => r !== undefined);
  }

  /** Records a folder this device is a member of without syncing it (see {@link MemberRecord}). */
  async recordMember(record: MemberRecord): Promise<void> {
    await mkdir(this.folderDir(record.folderId), { recursive: true, mode: 0o700 });
    await writeJsonPrivate(this.memberPath(record.folderId), record);
  }

  private memberPath(folderId: FolderId): string {
    return join(this.folderDir(folderId), "member.json");
  }

  /** Adds a folder. @throws AgentError USAGE when its path or id is taken */
  async addFolder(record: FolderRecord): Promise<void> {
    await withLock(this.lockPath("folders"), async () => {
      const all = await this.folders();
      // A folder this device was removed from may be joined again (a new invite): its record,
      // and the local copy it names, are taken over.
      const again = all.findIndex((f) => f.folderId === record.folderId && f.removed);
      if (again >= 0) all.splice(again, 1);
      this.checkNewFolder(all, record.path, record.folderId);
      all.push(record);
      await writeJsonPrivate(this.foldersPath, all);
    });
  }

  /**
   * Forgets a folder on this device: its record and its state directory (replica, chunk cache,
   * keys). The folder's own files are not touched. @returns whether it was there
   */
  async removeFolder(folderId: FolderId): Promise<boolean> {
    const removed = await withLock(this.lockPath("folders"), async () => {
      const all = await this.folders();
      const rest = all.filter((f) => f.folderId !== folderId);
      if (rest.length === all.length) return false;
      await writeJsonPrivate(this.foldersPath, rest);
      return true;
    });
    await rm(this.folderDir(folderId), { recursive: true, force: true });
    return removed;
  }

  /** Forgets the account for `relay` (its tokens). Callers hold the accounts lock. */
  async removeAccount(relay: string): Promise<void> {
    const all = await this.accounts();
    await writeJsonPrivate(
      this.accountsPath,
      all.filter((a) => a.relay !== relay),
    );
  }

  /**
   * Records that this device was removed from a folder (see {@link FolderRecord.removed});
   * returns the record as it now is, or undefined for a folder not synced here.
   */
  async markRemoved(
    folderId: FolderId,
    reason: string,
    at = Date.now(),
  ): Promise<FolderRecord | undefined> {
    return withLock(this.lockPath("folders"), async () => {
      const all = await this.folders();
      const folder = all.find((f) => f.folderId === folderId);
      if (!folder) return undefined;
      folder.removed ??= { at, reason };
      await writeJsonPrivate(this.foldersPath, all);
      return folder;
    });
  }

  /**
   * The folders named by `paths` (a folder's own path, or a path inside it), or every folder.
   * @throws AgentError NOT_FOUND for a path that is in no synced folder
   */
  async selectFolders(paths: readonly string[]): Promise<FolderRecord[]> {
    const all = await this.folders();
    if (paths.length === 0) return all;
    return paths.map((p) => this.folderOf(all, p).folder);
  }

  /** The folder that holds `path`, and the path relative to it (`""` for the folder itself). */
  folderOf(all: readonly FolderRecord[], path: string): { folder: FolderRecord; rel: string } {
    const abs = resolve(path);
    for (const folder of all) {
      if (abs === folder.path) return { folder, rel: "" };
      if (abs.startsWith(`${folder.path}/`))
        return { folder, rel: abs.slice(folder.path.length + 1) };
    }
    throw new AgentError("NOT_FOUND", `${path} is not in a synced folder (see: weft status)`);
  }
}

/** Every address of an account's relay, its identity first. */
export function relayAddresses(record: Pick<AccountRecord, "relay" | "relays">): string[] {
  const rest = (record.relays ?? []).filter((url) => url !== record.relay);
  return [record.relay, ...rest];
}

/** A relay URL in one form (no trailing slash), so that accounts and invites match. */
export function normalizeRelayUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AgentError("USAGE", `not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new AgentError("USAGE", `the relay URL must start with http:// or https://: ${url}`);
  return parsed.origin;
}
