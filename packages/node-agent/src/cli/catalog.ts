/**
 * Which module holds which command, with the line `weft --help` shows for it: `weft --help` and
 * `weft --version` load nothing else, and a command loads only its own module (the modules pull
 * in libsodium, Automerge, Yjs and SQLite, which take most of a second to load).
 * test/cli.test.ts checks this list against the commands the modules declare.
 */
import type { Command } from "./command.js";

/** A module of commands, loaded on first use. */
export type CommandModule = "setup" | "sync" | "ui" | "manage" | "members" | "remote";

/** One line of `weft --help`, and where its command lives. */
export interface CatalogEntry {
  name: string;
  args: string;
  /** The first line of the command's summary. */
  summary: string;
  module: CommandModule;
}

/** Every command, in the order `weft --help` lists them. */
export const CATALOG: readonly CatalogEntry[] = [
  {
    name: "init",
    args: "",
    summary: "Creates this device's identity (its keys) under WEFT_HOME; prints {deviceId}.",
    module: "setup",
  },
  {
    name: "account register",
    args: "",
    summary: "Creates an account on a relay and logs this device in to it.",
    module: "setup",
  },
  {
    name: "account login",
    args: "",
    summary: "Logs this device in to an existing account (registering the device's public keys).",
    module: "setup",
  },
  {
    name: "account logout",
    args: "",
    summary:
      "Logs this device out of its relay account: forgets the tokens here, revokes them there.",
    module: "manage",
  },
  {
    name: "account relays",
    args: "[URL ...]",
    summary:
      "Shows the account's relay addresses, or sets them (the first stays the relay's identity).",
    module: "manage",
  },
  {
    name: "folder create",
    args: "PATH",
    summary: "Makes PATH a synced folder (created if missing) with a new key; prints {folderId}.",
    module: "setup",
  },
  {
    name: "folder invite",
    args: "FOLDER_ID",
    summary: "Creates a one-time invite to a folder you own; prints {invite}.",
    module: "setup",
  },
  {
    name: "folder join",
    args: "INVITE [PATH]",
    summary:
      "Joins a folder with an invite and syncs it into PATH (without PATH: for weft ls/get/put).",
    module: "setup",
  },
  {
    name: "folder list",
    args: "",
    summary: "Lists this device's synced folders: path, id, role and relay.",
    module: "manage",
  },
  {
    name: "folder remove",
    args: "FOLDER_ID|PATH",
    summary: "Stops syncing a folder on this device; its files stay where they are.",
    module: "manage",
  },
  {
    name: "folder select",
    args: "PATH [DIR ...]",
    summary:
      "Chooses which directories of a folder this device syncs (--only, --except, --all), or shows it.",
    module: "manage",
  },
  {
    name: "folder pause",
    args: "PATH",
    summary: "Pauses a folder on this device: nothing is sent or fetched until weft folder resume.",
    module: "manage",
  },
  {
    name: "folder resume",
    args: "PATH",
    summary: "Resumes a folder paused on this device: it sends and fetches what changed meanwhile.",
    module: "manage",
  },
  {
    name: "folder members",
    args: "FOLDER_ID",
    summary: "Lists a folder's members, their roles and the devices that hold its key.",
    module: "members",
  },
  {
    name: "folder remove-member",
    args: "FOLDER_ID USER",
    summary: "Removes USER from a folder you own and changes the folder's key.",
    module: "members",
  },
  {
    name: "folder role",
    args: "FOLDER_ID USER ROLE",
    summary: "Gives a member of a folder you own another role: owner, editor or viewer.",
    module: "members",
  },
  {
    name: "device list",
    args: "",
    summary: "Lists this account's devices on the relay, by name where they have one.",
    module: "members",
  },
  {
    name: "device remove",
    args: "DEVICE_ID",
    summary: "Removes another device of your account (a lost laptop) and changes the keys it held.",
    module: "members",
  },
  {
    name: "device name",
    args: "NAME",
    summary: "Names this device for people: shown in weft device list and weft folder members.",
    module: "members",
  },
  {
    name: "sync",
    args: "[PATH ...]",
    summary: "Syncs folders until stopped (Ctrl-C), or with --once until nothing is pending.",
    module: "sync",
  },
  {
    name: "status",
    args: "[PATH]",
    summary:
      "Shows each folder: online or offline since when, what is pending each way, peers, problems.",
    module: "sync",
  },
  {
    name: "conflicts",
    args: "[PATH]",
    summary:
      "Lists files with concurrent versions: the version shown, and the conflict copies beside it.",
    module: "sync",
  },
  {
    name: "history",
    args: "FILE",
    summary:
      "Lists a file's earlier versions, newest first, numbered for `weft restore --version N`.",
    module: "sync",
  },
  {
    name: "restore",
    args: "FILE",
    summary:
      "Makes an earlier version of FILE current again (default: the newest earlier one) and writes it.",
    module: "sync",
  },
  {
    name: "gc",
    args: "[PATH]",
    summary:
      "Frees space on the relay: deletes chunks no version references any more (owners only).",
    module: "sync",
  },
  {
    name: "ls",
    args: "FOLDER_ID [DIR]",
    summary: "Lists a folder's files (or DIR's) from the relay, with no synced copy needed.",
    module: "remote",
  },
  {
    name: "get",
    args: "FOLDER_ID PATH [OUT|-]",
    summary: "Fetches one file of a folder from the relay, verified, into OUT (or stdout with -).",
    module: "remote",
  },
  {
    name: "put",
    args: "FOLDER_ID PATH [IN|-]",
    summary:
      "Writes one file into a folder through the relay (from IN, or stdin with -); exits 0 once stored.",
    module: "remote",
  },
  {
    name: "rm",
    args: "FOLDER_ID PATH",
    summary: "Removes a file (or with -r a directory) from a folder through the relay.",
    module: "remote",
  },
  {
    name: "mv",
    args: "FOLDER_ID FROM TO",
    summary: "Moves or renames a file or directory of a folder through the relay.",
    module: "remote",
  },
  {
    name: "refused",
    args: "FOLDER_ID",
    summary:
      "Lists a strong folder's changes made here that were refused (changed elsewhere first).",
    module: "remote",
  },
  {
    name: "reapply",
    args: "FOLDER_ID ID",
    summary: "Writes a refused change (weft refused) again, on top of the file's new version.",
    module: "remote",
  },
  {
    name: "ui",
    args: "",
    summary:
      "Serves the local dashboard and prints its URL (with an access token); syncs meanwhile.",
    module: "ui",
  },
];

/** Loads one module's commands. */
export async function loadModule(module: CommandModule): Promise<Command[]> {
  switch (module) {
    case "setup":
      return (await import("./setup-commands.js")).setupCommands;
    case "sync":
      return (await import("./sync-commands.js")).syncCommands;
    case "ui":
      return [(await import("./ui-command.js")).uiCommand];
    case "manage":
      return (await import("./manage-commands.js")).manageCommands;
    case "members":
      return (await import("./member-commands.js")).memberCommands;
    case "remote":
      return (await import("./remote-commands.js")).remoteCommands;
  }
}

/** Every module's commands (for a name the catalog does not know, and for the catalog's test). */
export async function loadAll(): Promise<Command[]> {
  const modules: CommandModule[] = ["setup", "sync", "ui", "manage", "members", "remote"];
  return (await Promise.all(modules.map(loadModule))).flat();
}
