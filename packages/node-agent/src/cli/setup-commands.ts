/** The setup commands: init, account register|login, folder create|invite|join. */
import { type DeviceId, type FolderId, isFolderId, parseDeviceId, ready } from "@weft/crypto";
import { AccountLogin, login, registerAccount } from "../account/index.js";
import { type AccountRecord, AgentError, relayAddresses } from "../home/index.js";
import { IgnoreRules } from "../ignore/index.js";
import { walkFolder } from "../scan/index.js";
import {
  createFolder,
  createInvite,
  joinAsMember,
  joinFolder,
  parseInvite,
} from "../share/index.js";
import { type Command, type CommandContext, required } from "./command.js";
import { devicePassphrase, password } from "./prompt.js";

async function identity(ctx: CommandContext) {
  await ready();
  return ctx.home.device(devicePassphrase(ctx.env));
}

const init: Command = {
  name: "init",
  args: "",
  summary: "Creates this device's identity (its keys) under WEFT_HOME; prints {deviceId}.",
  details:
    "Running it again prints the existing device id. With WEFT_DEVICE_PASSPHRASE set, the secret keys\n" +
    "are sealed with it (Argon2id) and every later command needs it too.",
  example: "weft init --json",
  flags: {},
  run: async (ctx) => {
    await ready();
    if (await ctx.home.hasDevice()) {
      const device = await identity(ctx);
      ctx.say(`this device is ${device.deviceId} (set up already)`);
      return { deviceId: device.deviceId, created: false };
    }
    const passphrase = ctx.env["WEFT_DEVICE_PASSPHRASE"];
    const device = await ctx.home.initDevice(passphrase || undefined);
    ctx.say(`this device is ${device.deviceId}`);
    ctx.say(
      `keys are in ${ctx.home.devicePath} (mode 0600${passphrase ? ", sealed by your passphrase" : ""})`,
    );
    return { deviceId: device.deviceId, created: true };
  },
};

const accountFlags = {
  relay: {
    type: "string",
    multiple: true,
    value: "URL",
    description:
      "the relay's address, e.g. https://relay.example.org (required); repeat it for more\n" +
      "addresses of the same relay: the first is its identity, the others are tried in turn\n" +
      "when one fails",
  },
  user: { type: "string", value: "NAME", description: "the account's user name (required)" },
} as const;

/** The repeatable --relay flag's addresses. @throws AgentError USAGE when there is none */
function relayFlag(ctx: CommandContext): string[] {
  const value = ctx.values["relay"] as string | string[] | undefined;
  const list = (typeof value === "string" ? [value] : (value ?? [])).filter((v) => v !== "");
  if (list.length === 0) throw new AgentError("USAGE", "--relay is required");
  return list;
}

/** What login and register print with --json: `relay` (the identity) and every address. */
function accountAnswer(account: AccountRecord, deviceId: string): Record<string, unknown> {
  const { relay, user, accountId } = account;
  return { relay, relays: relayAddresses(account), user, accountId, deviceId };
}

const register: Command = {
  name: "account register",
  args: "",
  summary: "Creates an account on a relay and logs this device in to it.",
  details: "The password comes from WEFT_PASSWORD or a hidden prompt (at least 8 characters).",
  example: "WEFT_PASSWORD=... weft account register --relay https://relay.example.org --user ana",
  flags: accountFlags,
  run: async (ctx) => {
    const relays = relayFlag(ctx);
    const user = required(ctx, "user");
    const device = await identity(ctx);
    const pass = await password(ctx.env);
    await registerAccount(relays, user, pass);
    const account = await login(ctx.home, relays, user, pass, device);
    ctx.say(`registered ${user} on ${account.relay}; this device is logged in`);
    return accountAnswer(account, device.deviceId);
  },
};

const loginCommand: Command = {
  name: "account login",
  args: "",
  summary: "Logs this device in to an existing account (registering the device's public keys).",
  details: "The password comes from WEFT_PASSWORD or a hidden prompt.",
  example: "weft account login --relay https://relay.example.org --user ana",
  flags: accountFlags,
  run: async (ctx) => {
    const relays = relayFlag(ctx);
    const user = required(ctx, "user");
    const device = await identity(ctx);
    const account = await login(ctx.home, relays, user, await password(ctx.env), device);
    const others = relayAddresses(account).slice(1);
    ctx.say(
      `logged in to ${account.relay} as ${user}` +
        (others.length ? ` (also reached at ${others.join(", ")})` : ""),
    );
    return accountAnswer(account, device.deviceId);
  },
};

const folderCreate: Command = {
  name: "folder create",
  args: "PATH",
  summary: "Makes PATH a synced folder (created if missing) with a new key; prints {folderId}.",
  details:
    "Files already in PATH are uploaded by the next `weft sync`.\n" +
    "--consistency strong: a change that would conflict (the file changed elsewhere first) is\n" +
    "refused and kept, never a conflict copy: weft put exits 3, and weft reapply writes it again\n" +
    "on top of the new version. Chosen once, here; invites carry it. Default: eventual.",
  example:
    "weft folder create ~/Documents/shared --json\n  weft folder create ~/ledger --consistency strong",
  flags: {
    relay: {
      type: "string",
      value: "URL",
      description: "the relay to create it on (needed when logged in to several)",
    },
    consistency: {
      type: "string",
      value: "eventual|strong",
      description: "keep both of two concurrent edits (eventual), or refuse the later (strong)",
    },
  },
  run: async (ctx) => {
    const consistency = (ctx.values["consistency"] as string | undefined) ?? "eventual";
    if (consistency !== "eventual" && consistency !== "strong")
      throw new AgentError("USAGE", `--consistency is eventual or strong, not ${consistency}`);
    const device = await identity(ctx);
    const session = await AccountLogin.open(ctx.home, ctx.values["relay"] as string | undefined);
    const folder = await createFolder(ctx.home, session, device, ctx.positionals[0]!, consistency);
    ctx.say(
      `created folder ${folder.folderId} at ${folder.path}` +
        (consistency === "strong" ? " (strong consistency)" : ""),
    );
    ctx.say(`invite another device with: weft folder invite ${folder.folderId}`);
    return { folderId: folder.folderId, path: folder.path, relay: folder.relay, consistency };
  },
};

function folderIdArg(text: string): FolderId {
  if (!isFolderId(text))
    throw new AgentError("USAGE", `not a folder id: ${text} (see: weft status)`);
  return text;
}

const folderInvite: Command = {
  name: "folder invite",
  args: "FOLDER_ID",
  summary: "Creates a one-time invite to a folder you own; prints {invite}.",
  details:
    "The invite holds the folder id, the relay URL and a secret that unwraps the folder key: send it\n" +
    "over a channel you trust. It works once, for a device of any account, within --ttl seconds\n" +
    "(default 7 days). --role is editor (default) or viewer.\n" +
    "With --to DEVICE_ID the folder key is sealed to that device's public key instead: the invite\n" +
    "holds no secret and only that device can join with it.",
  example: "weft folder invite 3F7Q... --role viewer --json",
  flags: {
    role: { type: "string", value: "ROLE", description: "editor (default) or viewer" },
    ttl: {
      type: "string",
      value: "SECONDS",
      description: "how long the invite can be redeemed (default 7 days; at least 60)",
    },
    to: {
      type: "string",
      value: "DEVICE_ID",
      description: "seal the folder key to this device: no secret in the invite",
    },
  },
  run: async (ctx) => {
    const folderId = folderIdArg(ctx.positionals[0]!);
    const role = (ctx.values["role"] as string | undefined) ?? "editor";
    if (role !== "editor" && role !== "viewer")
      throw new AgentError("USAGE", "--role is editor or viewer");
    const to = ctx.values["to"] as string | undefined;
    let toDevice: DeviceId | undefined;
    if (to !== undefined) {
      try {
        toDevice = parseDeviceId(to);
      } catch {
        throw new AgentError("USAGE", `--to takes a device id (weft init prints it): ${to}`);
      }
    }
    const ttl = ctx.values["ttl"] === undefined ? undefined : Number(ctx.values["ttl"]);
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 60))
      throw new AgentError("USAGE", "--ttl is a whole number of seconds, at least 60");
    const folder = (await ctx.home.folders()).find((f) => f.folderId === folderId);
    if (!folder)
      throw new AgentError("NOT_FOUND", `folder ${folderId} is not synced on this device`);
    const device = await identity(ctx);
    const session = await AccountLogin.open(ctx.home, folder.relay);
    const invite = await createInvite(ctx.home, session, device, folderId, role, ttl, toDevice);
    ctx.say(invite);
    return { invite };
  },
};

const folderJoin: Command = {
  name: "folder join",
  args: "INVITE [PATH]",
  summary:
    "Joins a folder with an invite and syncs it into PATH (without PATH: for weft ls/get/put).",
  details:
    "INVITE may be - to read it from stdin (keeps it out of shell history and the process list).\n" +
    "This device must be logged in to the invite's relay (any account).\n" +
    "Without PATH the device becomes a member and keeps the folder key, but syncs the folder\n" +
    "nowhere: weft ls, get, put, rm and mv then work on it through the relay.\n" +
    "PATH may already hold files (the same project on another machine): nothing there is\n" +
    "replaced. Same-named directories merge; a file with the same content as the folder's is\n" +
    "kept as it is (not sent again); a file that differs is a conflict: the newer version keeps\n" +
    "the name, the other stays beside it as name.sync-conflict-…, listed by weft conflicts.",
  example:
    "weft folder join - ~/shared < invite.txt\n  weft folder join - < invite.txt    # a member only: weft ls/get/put",
  flags: {},
  run: async (ctx) => {
    const text = ctx.positionals[0] === "-" ? (await readStdin()).trim() : ctx.positionals[0]!;
    const invite = parseInvite(text);
    const device = await identity(ctx);
    const session = await AccountLogin.open(ctx.home, invite.relay);
    if (ctx.positionals[1] === undefined) {
      const role = await joinAsMember(ctx.home, session, device, invite);
      ctx.say(`joined folder ${invite.folderId} as ${role}, synced nowhere on this device`);
      ctx.say(`list it with: weft ls ${invite.folderId}`);
      return {
        folderId: invite.folderId,
        path: null,
        role,
        relay: invite.relay,
        existingFiles: null,
      };
    }
    const folder = await joinFolder(ctx.home, session, device, invite, ctx.positionals[1]);
    ctx.say(
      `joined folder ${folder.folderId} as ${folder.role}; run weft sync to fetch it into ${folder.path}`,
    );
    // Only informative: the folder is joined whatever happens here, and `weft sync` reports
    // an unreadable folder itself.
    let existingFiles: number | null = null;
    try {
      existingFiles = await countFiles(folder.path);
    } catch (error) {
      ctx.say(`could not look at the files already in ${folder.path}: ${(error as Error).message}`);
    }
    if (existingFiles)
      ctx.say(
        `${existingFiles} ${existingFiles === 1 ? "file" : "files"} already here will be compared, not replaced: ` +
          "identical ones are kept as they are, different ones become conflict copies (weft conflicts)",
      );
    return {
      folderId: folder.folderId,
      path: folder.path,
      role: folder.role,
      relay: folder.relay,
      existingFiles,
    };
  },
};

/** Files already in a folder being joined (as the scanner sees them: ignored ones left out). */
async function countFiles(path: string): Promise<number> {
  const walk = await walkFolder(path, await IgnoreRules.load(path));
  return walk.entries.filter((e) => e.kind === "file").length;
}

/** Everything on stdin (a pipe, a file or a socket). */
async function readStdin(): Promise<string> {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}

/** The setup commands. */
export const setupCommands: Command[] = [
  init,
  register,
  loginCommand,
  folderCreate,
  folderInvite,
  folderJoin,
];
