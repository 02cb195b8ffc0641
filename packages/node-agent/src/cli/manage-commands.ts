/** The housekeeping commands: folder list|remove|select|pause|resume, account logout|relays. */
import { rm } from "node:fs/promises";
import type { FolderRecord } from "../home/index.js";
import type { Command, CommandContext } from "./command.js";

const folderList: Command = {
  name: "folder list",
  args: "",
  summary: "Lists this device's synced folders: path, id, role and relay.",
  details:
    "Folders joined without a PATH (a member here, synced nowhere: weft ls, get, put) follow,\n" +
    "as (not synced here). --json prints {folders: [...], members: [{folderId, role, relay}]}.",
  example: "weft folder list --json",
  flags: {},
  run: async (ctx) => {
    const folders = await ctx.home.folders();
    const members = await ctx.home.memberFolders();
    for (const f of folders) ctx.say(`${f.path}  ${f.folderId}  ${f.role}  ${f.relay}`);
    for (const m of members) ctx.say(`(not synced here)  ${m.folderId}  ${m.role}  ${m.relay}`);
    if (folders.length + members.length === 0)
      ctx.say("no synced folders yet; run: weft folder create PATH");
    return { folders, members };
  },
};

/** The folder named by an id or by a path in it. @throws AgentError NOT_FOUND */
async function folderNamed(ctx: CommandContext, text: string): Promise<FolderRecord> {
  const all = await ctx.home.folders();
  const byId = all.find((f) => f.folderId === text);
  return byId ?? ctx.home.folderOf(all, text).folder;
}

const folderRemove: Command = {
  name: "folder remove",
  args: "FOLDER_ID|PATH",
  summary: "Stops syncing a folder on this device; its files stay where they are.",
  details:
    "Forgets the folder here: its record, and its state under WEFT_HOME (the index, the chunk\n" +
    "cache and this device's copy of the folder key). The files in the folder are left as they\n" +
    "are, and the folder goes on for its other devices and members. To sync it again, join it\n" +
    "with a new invite. Refused while weft sync runs (stop it first). A folder joined without a\n" +
    "PATH is forgotten the same way (its key and the state weft ls|get|put keep).",
  example: "weft folder remove ~/shared",
  flags: {},
  run: async (ctx) => {
    const { needStopped } = await import("./daemon-link.js");
    const member = (await ctx.home.memberFolders()).find((m) => m.folderId === ctx.positionals[0]);
    if (member) {
      // A folder synced nowhere here: its key, record and remote state go; nothing is on disk.
      await rm(ctx.home.remoteDir(member.folderId), { recursive: true, force: true });
      await rm(ctx.home.folderDir(member.folderId), { recursive: true, force: true });
      ctx.say(`forgot folder ${member.folderId} on this device (it was synced nowhere here)`);
      return { folderId: member.folderId, path: null, removed: true };
    }
    const folder = await folderNamed(ctx, ctx.positionals[0]!);
    await needStopped(ctx);
    await ctx.home.removeFolder(folder.folderId);
    ctx.say(`stopped syncing ${folder.path} (${folder.folderId}); its files are still there`);
    return { folderId: folder.folderId, path: folder.path, removed: true };
  },
};

const folderSelect: Command = {
  name: "folder select",
  args: "PATH [DIR ...]",
  summary:
    "Chooses which directories of a folder this device syncs (--only, --except, --all), or shows it.",
  details:
    "The selection is this device's alone (kept under WEFT_HOME, unlike .weftignore, which every\n" +
    "device shares). DIRs are inside the folder, / separated (a file works too), each with\n" +
    "everything under it; more DIRs may follow PATH. Outside the selection nothing is downloaded,\n" +
    "written or deleted here, and nothing there is uploaded: files left there stay as they are\n" +
    "(deselecting a directory leaves its files in place). The folder's index still lists those\n" +
    "paths (weft status, the dashboard). Selecting a directory again fetches it; a file changed\n" +
    "here meanwhile is kept, with the other version beside it as a conflict copy. A running weft\n" +
    "sync takes the change up at once. Without a flag, prints the selection.",
  example: "weft folder select ~/shared --only docs photos/2024",
  arity: [1, 1000],
  flags: {
    only: {
      type: "string",
      multiple: true,
      value: "DIR",
      description: "sync only DIR (repeatable)",
    },
    except: {
      type: "string",
      multiple: true,
      value: "DIR",
      description: "sync everything but DIR (repeatable)",
    },
    all: { type: "boolean", description: "sync the whole folder again" },
  },
  run: async (ctx) => {
    const { AgentError } = await import("../home/index.js");
    const { Selection } = await import("../select/index.js");
    const [path, ...more] = ctx.positionals as [string, ...string[]];
    const folder = await folderNamed(ctx, path);
    const only = ctx.values["only"] as string[] | undefined;
    const except = ctx.values["except"] as string[] | undefined;
    const all = ctx.values["all"] === true;
    const modes = [only, except, all || undefined].filter((m) => m !== undefined).length;
    if (modes > 1) throw new AgentError("USAGE", "give one of --only, --except and --all");
    if (more.length > 0 && !only && !except)
      throw new AgentError(
        "USAGE",
        "name DIRs with --only or --except (see: weft folder select --help)",
      );
    let selection = await Selection.load(ctx.home, folder.folderId);
    let told: "daemon" | "next-start" | "unchanged" = "unchanged";
    if (modes === 1) {
      selection = all
        ? Selection.ALL
        : Selection.of(only ? { only: [...only, ...more] } : { except: [...except!, ...more] });
      await selection.save(ctx.home, folder.folderId);
      told = await tellDaemon(ctx, folder);
    }
    const spec = selection.toSpec();
    if (spec.only) ctx.say(`${folder.path}: syncs only ${spec.only.join(", ")}`);
    else if (spec.except) ctx.say(`${folder.path}: syncs all but ${spec.except.join(", ")}`);
    else ctx.say(`${folder.path}: syncs the whole folder`);
    if (told === "daemon") ctx.say("weft sync is taking the change up now");
    if (told === "next-start")
      ctx.say("weft sync is running without a control socket: it takes this up within a minute");
    return { folderId: folder.folderId, path: folder.path, selection: spec };
  },
};

/** `weft folder pause` and `weft folder resume`: one command each, the same work. */
function pauseCommand(paused: boolean): Command {
  return {
    name: paused ? "folder pause" : "folder resume",
    args: "PATH",
    summary: paused
      ? "Pauses a folder on this device: nothing is sent or fetched until weft folder resume."
      : "Resumes a folder paused on this device: it sends and fetches what changed meanwhile.",
    details: paused
      ? "While paused, nothing of the folder is uploaded, downloaded, scanned or written here; its\n" +
        "files stay as they are and may be edited (the edits are sent on resume). The pause is this\n" +
        "device's alone (kept under WEFT_HOME), holds across restarts, and a running weft sync\n" +
        'takes it up at once. weft status and the dashboard say "paused".'
      : "A running weft sync takes it up at once: it connects, writes what other devices changed\n" +
        "meanwhile and sends what changed here (a file changed on both sides keeps both versions).",
    example: paused ? "weft folder pause ~/shared" : "weft folder resume ~/shared",
    flags: {},
    run: async (ctx) => {
      const { savePause } = await import("../sync/pause.js");
      const folder = await folderNamed(ctx, ctx.positionals[0]!);
      const pause = await savePause(ctx.home, folder.folderId, paused);
      const told = await tellDaemon(ctx, folder, "pause");
      ctx.say(`${folder.path}: ${paused ? "paused on this device" : "syncs again"}`);
      if (told === "daemon") ctx.say("weft sync is taking the change up now");
      if (told === "next-start")
        ctx.say("weft sync is running without a control socket: it takes this up within a minute");
      return { folderId: folder.folderId, path: folder.path, paused: pause?.since ?? null };
    },
  };
}

/**
 * Tells a running `weft sync` that a folder's selection changed. Without one the next sync reads
 * it; a daemon that cannot be reached still reads it at its next full rescan.
 */
async function tellDaemon(
  ctx: CommandContext,
  folder: FolderRecord,
  op: "select" | "pause" = "select",
): Promise<"daemon" | "next-start" | "unchanged"> {
  const { NO_DAEMON, askDaemon } = await import("../control/index.js");
  const { runningSync } = await import("../sync/run.js");
  const answer = await askDaemon(ctx.home, { op, folder: folder.folderId });
  if (answer !== NO_DAEMON) return "daemon";
  return (await runningSync(ctx.home)) !== undefined ? "next-start" : "unchanged";
}

const accountLogout: Command = {
  name: "account logout",
  args: "",
  summary:
    "Logs this device out of its relay account: forgets the tokens here, revokes them there.",
  details:
    "With several accounts, say which with --relay. If the relay cannot be reached, the tokens\n" +
    "are still forgotten here and the command says they were not revoked (they expire unused).\n" +
    "Folders stay listed; weft sync needs a login again to sync them.",
  example: "weft account logout --relay https://relay.example.org",
  flags: {
    relay: { type: "string", value: "URL", description: "the relay to log out of" },
  },
  run: async (ctx) => {
    const { AccountLogin } = await import("../account/index.js");
    const { withLock } = await import("../home/index.js");
    const account = await ctx.home.account(ctx.values["relay"] as string | undefined);
    let revoked = true;
    let problem: string | undefined;
    try {
      const session = await AccountLogin.open(ctx.home, account.relay, { timeoutMs: 10_000 });
      await session.relaySession.logout();
    } catch (error) {
      revoked = false;
      problem = (error as Error).message;
    }
    await withLock(ctx.home.lockPath("accounts"), () => ctx.home.removeAccount(account.relay));
    ctx.say(
      revoked
        ? `logged out of ${account.relay} (${account.user})`
        : `forgot the login to ${account.relay} here; the relay could not revoke it (${problem})`,
    );
    return { relay: account.relay, user: account.user, revoked };
  },
};

const accountRelays: Command = {
  name: "account relays",
  args: "[URL ...]",
  summary:
    "Shows the account's relay addresses, or sets them (the first stays the relay's identity).",
  details:
    "One relay (or several sharing their state behind one name) may be reached at several\n" +
    "addresses. The first is the relay's identity, which invites and folders name; the others\n" +
    "are tried in turn when one cannot be reached (a refused or lost connection, a 502/503/504),\n" +
    "and sync resumes there from what it applied. The login holds on every address: nothing\n" +
    "logs in again. A running weft sync picks the change up when it next starts.",
  example: "weft account relays https://relay.example.org https://relay2.example.org",
  arity: [0, 16],
  flags: {
    relay: { type: "string", value: "URL", description: "the account, by its relay's identity" },
  },
  run: async (ctx) => {
    const { relayAddresses } = await import("../home/index.js");
    const { normalizeRelayUrl } = await import("../home/index.js");
    const first = ctx.positionals[0];
    const named = (ctx.values["relay"] as string | undefined) ?? first;
    // The account whose identity the first address is, or else the only one (then the first
    // address must be its identity: setRelayAddresses says so).
    const all = await ctx.home.accounts();
    const known = named !== undefined && all.some((a) => a.relay === normalizeRelayUrl(named));
    let account = await ctx.home.account(
      known ? named : (ctx.values["relay"] as string | undefined),
    );
    if (ctx.positionals.length > 0) {
      const { setRelayAddresses } = await import("../account/index.js");
      account = await setRelayAddresses(ctx.home, ctx.positionals, account.relay);
    }
    const relays = relayAddresses(account);
    for (const url of relays) ctx.say(url === account.relay ? `${url}  (identity)` : url);
    return { relay: account.relay, relays, user: account.user };
  },
};

/** The housekeeping commands. */
export const manageCommands: Command[] = [
  folderList,
  folderRemove,
  folderSelect,
  pauseCommand(true),
  pauseCommand(false),
  accountLogout,
  accountRelays,
];
