/** Members and devices: folder members|remove-member|role, device list|remove|name. Scripts depend on their --json shapes (README). */
import {
  type DeviceId,
  type FolderId,
  isFolderId,
  parseDeviceId,
  ready,
  shortDeviceId,
} from "@weft/crypto";
import { AccountLogin } from "../account/index.js";
import { AgentError } from "../home/index.js";
import {
  folderMembers,
  listDevices,
  nameDevice,
  removeDevice,
  removeMember,
  setMemberRole,
} from "../share/members.js";
import type { Command, CommandContext } from "./command.js";
import { devicePassphrase } from "./prompt.js";

const relayFlag = {
  relay: {
    type: "string",
    value: "URL",
    description: "the relay to ask, when this device has accounts on several",
  },
} as const;

async function identity(ctx: CommandContext) {
  await ready();
  return ctx.home.device(devicePassphrase(ctx.env));
}

function folderArg(text: string): FolderId {
  if (!isFolderId(text))
    throw new AgentError("USAGE", `not a folder id: ${text} (see: weft status)`);
  return text;
}

function deviceArg(text: string): DeviceId {
  try {
    return parseDeviceId(text);
  } catch {
    throw new AgentError("USAGE", `not a device id: ${text} (see: weft device list)`);
  }
}

/** The session for a folder: its own relay when it syncs here, else --relay (or the only account). */
async function folderSession(ctx: CommandContext, folderId: FolderId): Promise<AccountLogin> {
  const folder = (await ctx.home.folders()).find((f) => f.folderId === folderId);
  return AccountLogin.open(ctx.home, folder?.relay ?? (ctx.values["relay"] as string | undefined));
}

/** How a device is shown to people: its name, else its short id. */
function deviceLabel(d: { deviceId: DeviceId; name: string | null }): string {
  return d.name ? `${d.name} (${shortDeviceId(d.deviceId)})` : shortDeviceId(d.deviceId);
}

const members: Command = {
  name: "folder members",
  args: "FOLDER_ID",
  summary: "Lists a folder's members, their roles and the devices that hold its key.",
  details:
    'Prints {"epoch", "rotationDue", "members": [{"user", "role", "devices": [{"deviceId", "name",\n' +
    '"keyEpoch", "current"}]}]} with --json. Devices show by name (weft device name) where they have one.\n' +
    "rotationDue: a member or device was removed and no owner has changed the key yet.",
  example: "weft folder members 3f7q... --json",
  flags: relayFlag,
  run: async (ctx) => {
    const folderId = folderArg(ctx.positionals[0]!);
    const device = await identity(ctx);
    const session = await folderSession(ctx, folderId);
    const list = await folderMembers(session, device, folderId);
    ctx.say(
      `folder ${folderId}, key epoch ${list.epoch}${list.rotationDue ? " (a key change is due)" : ""}`,
    );
    const width = Math.max(...list.members.map((m) => m.user.length));
    for (const m of list.members) {
      const devices = m.devices.map(
        (d) => `${deviceLabel(d)}${d.deviceId === device.deviceId ? " [this device]" : ""}`,
      );
      ctx.say(
        `  ${m.user.padEnd(width)}  ${m.role.padEnd(6)}  ${devices.length > 0 ? devices.join(", ") : "(no device holds the key)"}`,
      );
    }
    return {
      folderId,
      epoch: list.epoch,
      rotationDue: list.rotationDue,
      members: list.members.map((m) => ({
        user: m.user,
        role: m.role,
        devices: m.devices.map((d) => ({
          deviceId: d.deviceId,
          name: d.name,
          keyEpoch: d.keyEpoch,
          current: d.deviceId === device.deviceId,
        })),
      })),
    };
  },
};

const removeMemberCommand: Command = {
  name: "folder remove-member",
  args: "FOLDER_ID USER",
  summary: "Removes USER from a folder you own and changes the folder's key.",
  details:
    'The relay cuts USER off at once (open connections close with "you were removed from this\n' +
    'folder"). This device then makes the next key epoch, wraps it to every remaining member device\n' +
    "and announces it, signed: what is written from now on is sealed under it, and USER cannot open\n" +
    "it. USER keeps the copy they had. Interrupted after the removal, the key change stays due on the\n" +
    "relay and an owner's next weft sync, weft folder invite or this command finishes it.\n" +
    'Prints {"folderId", "user", "epoch", "rotated"} with --json.',
  example: "weft folder remove-member 3f7q... bob",
  flags: relayFlag,
  run: async (ctx) => {
    const folderId = folderArg(ctx.positionals[0]!);
    const user = ctx.positionals[1]!;
    const device = await identity(ctx);
    const session = await folderSession(ctx, folderId);
    const result = await removeMember(ctx.home, session, device, folderId, user);
    ctx.say(`removed ${user} from ${folderId}; the folder's key is now epoch ${result.epoch}`);
    return { folderId, user, epoch: result.epoch, rotated: result.rotated };
  },
};

const role: Command = {
  name: "folder role",
  args: "FOLDER_ID USER ROLE",
  summary: "Gives a member of a folder you own another role: owner, editor or viewer.",
  details:
    "A folder always keeps one owner: the last owner cannot step down (make another owner first).\n" +
    "An account that is not a member yet becomes one, but gets no key: send it an invite instead.\n" +
    'Prints {"folderId", "user", "role"} with --json.',
  example: "weft folder role 3f7q... bob owner",
  flags: relayFlag,
  run: async (ctx) => {
    const folderId = folderArg(ctx.positionals[0]!);
    const [, user, newRole] = ctx.positionals as [string, string, string];
    if (newRole !== "owner" && newRole !== "editor" && newRole !== "viewer")
      throw new AgentError("USAGE", "ROLE is owner, editor or viewer");
    const device = await identity(ctx);
    const session = await folderSession(ctx, folderId);
    await setMemberRole(session, device, folderId, user, newRole);
    ctx.say(`${user} is now ${newRole} of ${folderId}`);
    return { folderId, user, role: newRole };
  },
};

const deviceList: Command = {
  name: "device list",
  args: "",
  summary: "Lists this account's devices on the relay, by name where they have one.",
  details:
    'Prints {"devices": [{"deviceId", "name", "created", "removed", "current"}]} with --json\n' +
    "(removed: when the device was removed, or null; current: the device running this).",
  example: "weft device list --json",
  flags: relayFlag,
  run: async (ctx) => {
    const device = await identity(ctx);
    const session = await AccountLogin.open(ctx.home, ctx.values["relay"] as string | undefined);
    const devices = await listDevices(session, device);
    for (const d of devices)
      ctx.say(
        `${d.deviceId}  ${d.name ?? "(no name)"}${d.current ? "  [this device]" : ""}${d.removed === null ? "" : `  removed ${new Date(d.removed).toISOString()}`}`,
      );
    return { devices };
  },
};

const deviceRemove: Command = {
  name: "device remove",
  args: "DEVICE_ID",
  summary: "Removes another device of your account (a lost laptop) and changes the keys it held.",
  details:
    "The relay cuts the device off at once: its sign-in and open connections end, and it cannot\n" +
    "sign in again. Every folder it held a key of owes a new key: this device makes it for the\n" +
    "folders your account owns; the owners of the others do (their weft sync does it). The\n" +
    "account stays. It cannot remove the device running it.\n" +
    'Prints {"deviceId", "folders": [{"folderId", "role", "epoch", "rotated", "pending"}]} with --json.',
  example: "weft device remove ABCD-EFGH-... --json",
  flags: relayFlag,
  run: async (ctx) => {
    const target = deviceArg(ctx.positionals[0]!);
    const device = await identity(ctx);
    const session = await AccountLogin.open(ctx.home, ctx.values["relay"] as string | undefined);
    const folders = await removeDevice(ctx.home, session, device, target);
    ctx.say(`removed device ${target}`);
    for (const f of folders)
      ctx.say(
        f.rotated || f.epoch !== null
          ? `  ${f.folderId}: key changed, now epoch ${f.epoch}`
          : `  ${f.folderId}: key change due (${f.pending})`,
      );
    return { deviceId: target, folders };
  },
};

const deviceName: Command = {
  name: "device name",
  args: "NAME",
  summary: "Names this device for people: shown in weft device list and weft folder members.",
  details: "1 to 64 characters. Co-members of your folders see it.",
  example: 'weft device name "ana laptop"',
  flags: relayFlag,
  run: async (ctx) => {
    const name = ctx.positionals[0]!.trim();
    if (name.length === 0 || name.length > 64)
      throw new AgentError("USAGE", "NAME is 1 to 64 characters");
    const device = await identity(ctx);
    const session = await AccountLogin.open(ctx.home, ctx.values["relay"] as string | undefined);
    await nameDevice(session, device, name);
    ctx.say(`this device (${device.deviceId}) is now called ${name}`);
    return { deviceId: device.deviceId, name };
  },
};

/** The member and device commands. */
export const memberCommands: Command[] = [
  members,
  removeMemberCommand,
  role,
  deviceList,
  deviceRemove,
  deviceName,
];
