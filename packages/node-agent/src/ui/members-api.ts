/**
 * The dashboard's member and device API: a folder's members (roles, change a role, remove a
 * member) and this account's devices (name this one, remove another). Every action goes through
 * share/members.ts, the code `weft folder remove-member` and `weft device remove` run, so the key
 * rotation after a removal is the CLI's own. The relay decides who may do what; its refusals come
 * back in plain words.
 */
import type { FolderRole } from "@weft/core";
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  parseDeviceId,
  shortDeviceId,
} from "@weft/crypto";
import { AccountLogin, relayStatus } from "../account/index.js";
import { AgentError, type Home } from "../home/index.js";
import { createInvite } from "../share/index.js";
import {
  folderMembers,
  listDevices,
  nameDevice,
  removeDevice,
  removeMember,
  setMemberRole,
} from "../share/members.js";
import { HttpError } from "./guards.js";

/**
 * A relay call from the page gives up after this long: the page waits on it, and a relay that
 * hangs must turn into an error the page shows, not a spinner for core's default 30 s.
 */
const RELAY_TIMEOUT_MS = 10_000;

/** A device as the page shows it: its name for people, its short id, and whether it is this one. */
export interface DeviceCard {
  deviceId: string;
  short: string;
  name: string | null;
  current: boolean;
}

/** A folder's members as the page shows them, and who is asking. */
export interface MembersView {
  folderId: string;
  epoch: number;
  rotationDue: boolean;
  /** This account: its user name and its role in the folder (null: no longer a member). */
  you: { user: string; role: FolderRole | null };
  members: { user: string; role: FolderRole; devices: DeviceCard[] }[];
}

/** This account's devices on one relay, or why they could not be listed. */
export interface AccountDevicesView {
  relay: string;
  user: string;
  devices: (DeviceCard & { created: number; removed: number | null })[];
  error?: string;
}

/** What the page's member and device actions say, for the relay's refusal of someone who is not an owner. */
type Action =
  | "list members"
  | "create folders"
  | "join folders"
  | "invite members"
  | "change roles"
  | "remove members"
  | "list devices"
  | "name devices"
  | "remove devices";

/**
 * A relay failure as the page shows it: the relay's own reason where it is plain, "only an owner
 * can …" for a missing role, and "can't reach the relay" (502) when it did not answer.
 */
export function relayHttpError(error: unknown, relay: string, action: Action): HttpError {
  if (error instanceof HttpError) return error;
  const cause = { cause: error };
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  const status = relayStatus(error);
  const wire = (error as { wireCode?: string } | null)?.wireCode;
  if (wire === "forbidden" && /needs the owner role/.test(message))
    return new HttpError(403, `only an owner can ${action}`, cause);
  if (error instanceof AgentError && error.code === "RELAY" && status === undefined)
    return new HttpError(
      502,
      `can't reach the relay at ${relay}; try again when it answers`,
      cause,
    );
  if (error instanceof AgentError) {
    // The relay's 401 would read as "the dashboard signed you out": it is the relay session.
    const asked = error.code === "USAGE" || error.code === "NOT_READY";
    const http = status !== undefined && status !== 401 ? status : asked ? 400 : 502;
    return new HttpError(http, message, cause);
  }
  return new HttpError(500, `the agent failed: ${message}`, cause);
}

function text(value: unknown, name: string, max: number): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > max)
    throw new HttpError(400, `${name} is missing or too long`);
  return value;
}

function card(
  identity: DeviceIdentity,
  d: { deviceId: DeviceId; name: string | null },
): DeviceCard {
  return {
    deviceId: d.deviceId,
    short: shortDeviceId(d.deviceId),
    name: d.name,
    current: d.deviceId === identity.deviceId,
  };
}

/** Members of the dashboard's folders and the devices of this device's accounts, on their relays. */
export class MembersApi {
  private readonly sessions = new Map<string, Promise<AccountLogin>>();

  constructor(
    private readonly home: Home,
    private readonly identity: DeviceIdentity,
  ) {}

  /** A folder's members, roles and key-holding devices. @throws HttpError */
  async members(folderId: FolderId, relay: string): Promise<MembersView> {
    return this.onRelay(relay, "list members", async (session) => {
      const list = await folderMembers(session, this.identity, folderId);
      const user = session.user.toLowerCase();
      return {
        folderId,
        epoch: list.epoch,
        rotationDue: list.rotationDue,
        you: { user, role: list.members.find((m) => m.user === user)?.role ?? null },
        members: list.members.map((m) => ({
          user: m.user,
          role: m.role,
          devices: m.devices.map((d) => card(this.identity, d)),
        })),
      };
    });
  }

  /** Gives `body.user` the role `body.role` (owners only). @throws HttpError */
  async setRole(folderId: FolderId, relay: string, body: Record<string, unknown>) {
    const user = text(body["user"], "user", 63);
    const role = body["role"];
    if (role !== "owner" && role !== "editor" && role !== "viewer")
      throw new HttpError(400, "role is owner, editor or viewer");
    await this.onRelay(relay, "change roles", (session) =>
      setMemberRole(session, this.identity, folderId, user, role),
    );
    return { folderId, user, role };
  }

  /** Removes `body.user` from the folder and changes its key, as `weft folder remove-member`. @throws HttpError */
  async removeMember(folderId: FolderId, relay: string, body: Record<string, unknown>) {
    const user = text(body["user"], "user", 63);
    const result = await this.onRelay(relay, "remove members", (session) =>
      removeMember(this.home, session, this.identity, folderId, user),
    );
    return { folderId, user, epoch: result.epoch, rotated: result.rotated };
  }

  /**
   * A one-time invite to the folder with the role `body.role` (editor or viewer), as `weft
   * folder invite`. The answer is the only place the invite appears: it is never logged or kept.
   * @throws HttpError
   */
  async invite(folderId: FolderId, relay: string, body: Record<string, unknown>) {
    const role = body["role"];
    if (role !== "editor" && role !== "viewer")
      throw new HttpError(400, "role is editor or viewer");
    const invite = await this.onRelay(relay, "invite members", (session) =>
      createInvite(this.home, session, this.identity, folderId, role),
    );
    return { folderId, role, invite };
  }

  /** This device's accounts and their devices; a relay that fails is reported on its account. */
  async devices(): Promise<{ accounts: AccountDevicesView[] }> {
    const accounts = await this.home.accounts();
    return {
      accounts: await Promise.all(
        accounts.map(async ({ relay, user }): Promise<AccountDevicesView> => {
          try {
            const devices = await this.onRelay(relay, "list devices", (session) =>
              listDevices(session, this.identity),
            );
            return {
              relay,
              user,
              devices: devices.map((d) => ({
                ...card(this.identity, d),
                created: d.created,
                removed: d.removed,
              })),
            };
          } catch (error) {
            return { relay, user, devices: [], error: (error as Error).message };
          }
        }),
      ),
    };
  }

  /** Names this device on `body.relay`'s account, as `weft device name`. @throws HttpError */
  async nameDevice(body: Record<string, unknown>) {
    const relay = text(body["relay"], "relay", 2048);
    const name = text(body["name"], "name (1 to 64 characters)", 64).trim();
    await this.onRelay(relay, "name devices", (session) =>
      nameDevice(session, this.identity, name),
    );
    return { deviceId: this.identity.deviceId, name };
  }

  /** Removes another device of `body.relay`'s account and changes its folders' keys, as `weft device remove`. @throws HttpError */
  async removeDevice(body: Record<string, unknown>) {
    const relay = text(body["relay"], "relay", 2048);
    let target: DeviceId;
    try {
      target = parseDeviceId(text(body["device"], "device", 200));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, "device is not a device id");
    }
    if (target === this.identity.deviceId)
      throw new HttpError(409, "this is the device running the dashboard; remove it from another");
    const folders = await this.onRelay(relay, "remove devices", (session) =>
      removeDevice(this.home, session, this.identity, target),
    );
    return { deviceId: target, folders };
  }

  /** Runs `work` with the session for `relay`, its failures turned into the page's words. */
  private async onRelay<T>(
    relay: string,
    action: Action,
    work: (session: AccountLogin) => Promise<T>,
  ): Promise<T> {
    try {
      return await work(await this.session(relay));
    } catch (error) {
      throw relayHttpError(error, relay, action);
    }
  }

  /** One session per relay for the dashboard's life: tokens refresh under the home's lock. */
  private session(relay: string): Promise<AccountLogin> {
    let session = this.sessions.get(relay);
    if (!session) {
      session = AccountLogin.open(this.home, relay, { timeoutMs: RELAY_TIMEOUT_MS });
      // Not logged in there (yet): ask again next time rather than keep the failure.
      session.catch(() => this.sessions.delete(relay));
      this.sessions.set(relay, session);
    }
    return session;
  }
}
