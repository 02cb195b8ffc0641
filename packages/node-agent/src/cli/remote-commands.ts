/**
 * The remote file commands: ls, get, put, rm, mv on a folder this device is a member of but does
 * not sync, through the relay, with no copy of the folder here. Scripts depend on their --json
 * shapes (README, "Files without a synced folder").
 */
import { stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { formatBytes, normalizePath } from "@weft/core";
import { type FolderId, isFolderId, ready } from "@weft/crypto";
import { AgentError } from "../home/index.js";
import {
  type LocalSource,
  type RemoteFolder,
  type RemoteOptions,
  abortable,
  listEntries,
  localFile,
  onPath,
  readToFile,
  readToStream,
  refusalMessage,
  withRemoteFolder,
} from "../remote/index.js";
import type { Command, CommandContext, Flags } from "./command.js";
import { devicePassphrase } from "./prompt.js";
import { getSynced, lsSynced, reapplySynced, refusedSynced, syncedFolder } from "./synced-read.js";

const COMMON: Flags = {
  relay: {
    type: "string",
    value: "URL",
    description: "the account's relay, when this device is logged in to several",
  },
  "no-state": {
    type: "boolean",
    description: "keep no state of the folder here (fetch its whole index each time)",
  },
};

const DETAILS =
  "FOLDER_ID is a folder this device is a member of but does not sync (weft folder join INVITE\n" +
  "without a PATH joins one that way). The folder's index comes from the relay (its snapshot and\n" +
  "log), every entry verified; content moves only for the file read or written. The index is kept\n" +
  "in WEFT_HOME/remote/FOLDER_ID for the next command, which then fetches only what is new;\n" +
  "--no-state keeps nothing. Paths are inside the folder, / separated: absolute paths and . or ..\n" +
  "are refused. These commands run beside weft sync. On a folder this device syncs, ls and get\n" +
  "read its own index and fetch only what is not here (a file left out by weft folder select),\n" +
  "through the running weft sync if there is one; put, rm and mv are refused there (change its\n" +
  "files instead); refused and reapply act on its own refused changes (a strong folder).";

/** The folder id argument. @throws AgentError USAGE */
function folderArg(text: string): FolderId {
  if (!isFolderId(text))
    throw new AgentError("USAGE", `not a folder id: ${text} (weft folder join prints it)`);
  return text;
}

/**
 * A path inside the folder as the index names it (NFC, no leading or trailing /).
 * @throws AgentError USAGE for an absolute path, `.`/`..`, or the folder itself (unless `root`)
 */
function pathArg(text: string, what: string, root = false): string {
  if (text.startsWith("/"))
    throw new AgentError(
      "USAGE",
      `${what} is a path inside the folder, not an absolute one: ${JSON.stringify(text)}`,
    );
  let path: string;
  try {
    path = normalizePath(text);
  } catch (error) {
    throw new AgentError("USAGE", `${what}: ${(error as Error).message}`, { cause: error });
  }
  if (path === "" && !root) throw new AgentError("USAGE", `${what} must name a file in the folder`);
  return path;
}

/** Opens the folder for one command. */
async function withFolder<T>(
  ctx: CommandContext,
  change: { write: boolean; spool?: boolean },
  work: (folder: RemoteFolder) => Promise<T>,
): Promise<T> {
  const folderId = folderArg(ctx.positionals[0]!);
  await ready();
  const identity = await ctx.home.device(devicePassphrase(ctx.env));
  const options: RemoteOptions = {
    keepState: !ctx.values["no-state"],
    write: change.write,
    spool: change.spool ?? false,
    warn: (line) => process.stderr.write(`weft: warning: ${line}\n`),
    signal: ctx.signal,
    ...(typeof ctx.values["relay"] === "string" ? { relay: ctx.values["relay"] } : {}),
  };
  return withRemoteFolder(ctx.home, identity, folderId, options, work);
}

const ls: Command = {
  name: "ls",
  args: "FOLDER_ID [DIR]",
  summary: "Lists a folder's files (or DIR's) from the relay, with no synced copy needed.",
  details:
    `${DETAILS}\n\n` +
    "Lists DIR's entries (default: the folder's top), with -r everything under it. Conflict\n" +
    "copies show under their conflict names. Prints with --json:\n" +
    '{"folderId", "dir", "entries": [{"path", "name", "kind" (file|dir|symlink), "size",\n' +
    '"contentHash" (null for a directory), "mtime" (ms), "mode"}]}, sorted by path.',
  example: "weft ls 3f7q... docs --json",
  flags: {
    ...COMMON,
    recursive: { type: "boolean", short: "r", description: "everything under DIR, not one level" },
  },
  run: async (ctx) => {
    const folderId = folderArg(ctx.positionals[0]!);
    const dir = pathArg(ctx.positionals[1] ?? "", "DIR", true);
    const recursive = Boolean(ctx.values["recursive"]);
    const synced = await syncedFolder(ctx, folderId);
    const entries = synced
      ? await lsSynced(ctx, synced, dir, recursive)
      : await withFolder(ctx, { write: false }, (folder) =>
          Promise.resolve(listEntries(folder.replica, folderId, dir, recursive)),
        );
    const width = Math.max(0, ...entries.map((e) => formatBytes(e.size).length));
    for (const e of entries)
      ctx.say(
        `${e.kind === "dir" ? "dir " : e.kind === "file" ? "file" : "link"}  ${(e.kind === "file" ? formatBytes(e.size) : "-").padStart(width)}  ${e.path}${e.kind === "dir" ? "/" : ""}`,
      );
    if (entries.length === 0) ctx.say(dir === "" ? "(the folder is empty)" : `(${dir} is empty)`);
    return { folderId, dir, entries };
  },
};

const get: Command = {
  name: "get",
  args: "FOLDER_ID PATH [OUT|-]",
  summary: "Fetches one file of a folder from the relay, verified, into OUT (or stdout with -).",
  details:
    `${DETAILS}\n\n` +
    "Only the file's own chunks are downloaded; each is verified as it opens, and the whole file\n" +
    "against its content hash. OUT defaults to the file's name in the current directory; an OUT\n" +
    "that is a directory gets the file's name inside it. OUT is written beside itself first and\n" +
    "replaced only once complete and verified, with the file's mode and time. With - the bytes go\n" +
    "to stdout as they are verified (a failure midway leaves what was written, and exits 1).\n" +
    'Prints {"folderId", "path", "out", "size", "contentHash", "bytesDownloaded"} with --json\n' +
    "(not with -: stdout carries the file).",
  example: "weft get 3f7q... docs/report.pdf ./report.pdf\n  weft get 3f7q... notes.txt - | less",
  flags: COMMON,
  run: async (ctx) => {
    const path = pathArg(ctx.positionals[1]!, "PATH");
    const toStdout = ctx.positionals[2] === "-";
    if (toStdout && ctx.json)
      throw new AgentError("USAGE", "--json prints on stdout, which carries the file with -");
    let out = toStdout ? "-" : resolve(ctx.positionals[2] ?? basename(path));
    if (!toStdout && (await stat(out).catch(() => undefined))?.isDirectory())
      out = join(out, basename(path));
    const folderId = folderArg(ctx.positionals[0]!);
    const synced = await syncedFolder(ctx, folderId);
    const read = synced
      ? await getSynced(ctx, synced, path, out)
      : await withFolder(ctx, { write: false }, async (folder) => {
          const done = await onPath(folderId, () =>
            toStdout
              ? readToStream(folder.replica, path, process.stdout, ctx.signal)
              : readToFile(folder.replica, path, out, ctx.signal),
          );
          return { ...done, bytesDownloaded: folder.replica.stats().bytesDownloaded };
        });
    if (!toStdout) ctx.say(`${path} → ${out} (${formatBytes(read.size)})`);
    return {
      folderId,
      path,
      out,
      size: read.size,
      contentHash: read.contentHash,
      bytesDownloaded: read.bytesDownloaded,
    };
  },
};

/** Everything on stdin, as it comes. */
async function* stdin(): AsyncIterable<Uint8Array> {
  for await (const block of process.stdin) yield block as Buffer;
}

const put: Command = {
  name: "put",
  args: "FOLDER_ID PATH [IN|-]",
  summary:
    "Writes one file into a folder through the relay (from IN, or stdin with -); exits 0 once stored.",
  details:
    `${DETAILS}\n\n` +
    "IN defaults to PATH's file name in the current directory. The file is read once, as the\n" +
    "Replica chunks and seals it (memory stays bounded, whatever its size; its sealed chunks wait\n" +
    "in a spool file until uploaded); only chunks the relay lacks are sent. Parent directories\n" +
    "are created; an existing file becomes a new version (the old one stays in its history).\n" +
    "The command exits 0 once the relay has stored the change; if the relay cannot be reached\n" +
    "meanwhile it exits 1, and the change is sent by the next command on the folder (not with\n" +
    "--no-state). Viewers are refused.\n" +
    'Prints {"folderId", "path", "size", "contentHash", "created", "bytesUploaded"} with --json.',
  example: "weft put 3f7q... backups/db.dump ./db.dump\n  pg_dump app | weft put 3f7q... db.sql -",
  flags: COMMON,
  run: async (ctx) => {
    const path = pathArg(ctx.positionals[1]!, "PATH");
    const from = ctx.positionals[2] ?? basename(path);
    // The local file is checked before the relay is asked anything.
    const source: LocalSource = from === "-" ? { data: stdin() } : await localFile(resolve(from));
    return withFolder(ctx, { write: true, spool: true }, async (folder) => {
      const replica = folder.replica;
      const created = replica.stat(path) === undefined;
      const keptAs = ctx.values["no-state"]
        ? from === "-"
          ? "nothing: it came from stdin, and --no-state keeps no state"
          : `${from} (not sent)`
        : undefined;
      await settleChange(ctx, folder, path, keptAs, () =>
        onPath(folder.folderId, () =>
          replica.writeFile(path, abortable(source.data, ctx.signal), {
            ...(source.mode !== undefined ? { mode: source.mode } : {}),
            ...(source.mtime !== undefined ? { mtime: source.mtime } : {}),
          }),
        ),
      );
      const entry = replica.stat(path);
      ctx.say(`${from === "-" ? "stdin" : from} → ${path} (${formatBytes(entry?.size ?? 0)})`);
      return {
        folderId: folder.folderId,
        path,
        size: entry?.size ?? 0,
        contentHash: entry?.contentHash ?? null,
        created,
        bytesUploaded: replica.stats().bytesUploaded,
      };
    });
  },
};

const rm: Command = {
  name: "rm",
  args: "FOLDER_ID PATH",
  summary: "Removes a file (or with -r a directory) from a folder through the relay.",
  details:
    `${DETAILS}\n\n` +
    "Removed versions stay in the file's history on the devices that sync the folder (weft\n" +
    "history, weft restore). A directory that is not empty needs -r. Exits 0 once the relay has\n" +
    'stored the change. Prints {"folderId", "path", "kind", "removed": true} with --json.',
  example: "weft rm 3f7q... old/draft.txt",
  flags: {
    ...COMMON,
    recursive: { type: "boolean", short: "r", description: "remove a directory and its content" },
  },
  run: (ctx) => {
    const path = pathArg(ctx.positionals[1]!, "PATH");
    return withFolder(ctx, { write: true }, async (folder) => {
      const replica = folder.replica;
      const entry = replica.stat(path);
      if (!entry)
        throw new AgentError("NOT_FOUND", `no such file: ${path} (in folder ${folder.folderId})`);
      if (entry.kind === "dir" && !ctx.values["recursive"] && replica.list(path).length > 0)
        throw new AgentError("CONFLICT", `${path} is a directory that is not empty; use -r`);
      await settleChange(ctx, folder, path, undefined, () =>
        onPath(folder.folderId, () => replica.remove(path)),
      );
      ctx.say(`removed ${entry.path}${entry.kind === "dir" ? "/" : ""}`);
      return { folderId: folder.folderId, path: entry.path, kind: entry.kind, removed: true };
    });
  },
};

const mv: Command = {
  name: "mv",
  args: "FOLDER_ID FROM TO",
  summary: "Moves or renames a file or directory of a folder through the relay.",
  details:
    `${DETAILS}\n\n` +
    "History follows the file. A TO that is an existing directory receives FROM inside it; any\n" +
    "other existing TO is refused (nothing is replaced). Exits 0 once the relay has stored the\n" +
    'change. Prints {"folderId", "from", "to", "kind"} with --json.',
  example: "weft mv 3f7q... drafts/plan.md plans/",
  flags: COMMON,
  run: (ctx) => {
    const from = pathArg(ctx.positionals[1]!, "FROM");
    const toArg = pathArg(ctx.positionals[2]!, "TO");
    return withFolder(ctx, { write: true }, async (folder) => {
      const replica = folder.replica;
      const entry = replica.stat(from);
      if (!entry)
        throw new AgentError("NOT_FOUND", `no such file: ${from} (in folder ${folder.folderId})`);
      const to = replica.stat(toArg)?.kind === "dir" ? `${toArg}/${basename(entry.path)}` : toArg;
      await settleChange(ctx, folder, entry.path, undefined, () =>
        onPath(folder.folderId, () => replica.move(from, to)),
      );
      ctx.say(`${entry.path} → ${to}`);
      return { folderId: folder.folderId, from: entry.path, to, kind: entry.kind };
    });
  },
};

/**
 * Makes a change and waits until the relay has it. In a strong folder the change may be refused
 * (the file changed elsewhere first): that is REFUSED (exit 3), saying where the change is kept
 * (`keptAs`, by default the refused write in this folder's state). Earlier changes this state
 * still held (made while the relay was away) are checked on the way: their refusals are warned.
 */
async function settleChange(
  ctx: CommandContext,
  folder: RemoteFolder,
  path: string,
  keptAs: string | undefined,
  change: () => Promise<void>,
): Promise<void> {
  const replica = folder.replica;
  const before = new Set(replica.refusedWrites().map((r) => r.id));
  await change();
  await folder.settle();
  const fresh = replica.refusedWrites().filter((r) => !before.has(r.id));
  const mine = fresh.filter((r) => r.path === path).pop();
  for (const r of fresh)
    if (r !== mine) process.stderr.write(`weft: warning: ${refusalMessage(folder.folderId, r)}\n`);
  if (mine) throw new AgentError("REFUSED", refusalMessage(folder.folderId, mine, keptAs));
}

const refused: Command = {
  name: "refused",
  args: "FOLDER_ID",
  summary: "Lists a strong folder's changes made here that were refused (changed elsewhere first).",
  details:
    `${DETAILS}\n\n` +
    "A strong-consistency folder refuses a change to a file that changed elsewhere since this\n" +
    "device last saw it; the change is kept in this folder's state until weft reapply writes it\n" +
    "on top of the new version (or --discard drops it).\n" +
    'Prints {"folderId", "refused": [{"id", "path", "kind", "reason", "at"}]} with --json.',
  example: "weft refused 3f7q...",
  flags: COMMON,
  run: async (ctx) => {
    const synced = await syncedFolder(ctx, folderArg(ctx.positionals[0]!));
    if (synced) {
      const answer = await refusedSynced(ctx, synced);
      if (answer.refused.length === 0) ctx.say("no refused changes");
      for (const r of answer.refused) ctx.say(`${r.id}  ${r.kind} ${r.path}: ${r.reason}`);
      return { ...answer };
    }
    return withFolder(ctx, { write: false }, (folder) => {
      const list = folder.replica.refusedWrites();
      if (list.length === 0) ctx.say("no refused changes");
      for (const r of list) ctx.say(`${r.id}  ${r.op.kind} ${r.path}: ${r.reason}`);
      return Promise.resolve({
        folderId: folder.folderId,
        refused: list.map((r) => ({
          id: r.id,
          path: r.path,
          kind: r.op.kind,
          reason: r.reason,
          at: r.at,
        })),
      });
    });
  },
};

const reapply: Command = {
  name: "reapply",
  args: "FOLDER_ID ID",
  summary: "Writes a refused change (weft refused) again, on top of the file's new version.",
  details:
    `${DETAILS}\n\n` +
    "The version that made it refused stays in the file's history. Exits 0 once the relay has\n" +
    "stored it, 3 if the file changed elsewhere again meanwhile (it is kept again). --discard\n" +
    'forgets the change instead. Prints {"folderId", "id", "path", "discarded"} with --json.',
  example: "weft reapply 3f7q... 000000000002",
  flags: {
    ...COMMON,
    discard: { type: "boolean", description: "forget the refused change instead" },
  },
  run: async (ctx) => {
    const id = ctx.positionals[1]!;
    const discard = ctx.values["discard"] === true;
    const synced = await syncedFolder(ctx, folderArg(ctx.positionals[0]!));
    if (synced) {
      const done = await reapplySynced(ctx, synced, id, discard);
      ctx.say(
        discard
          ? `discarded ${done.kind} ${done.path}`
          : `re-applied ${done.kind} ${done.path}` +
              (done.sent ? "" : `; not sent yet (${done.problem ?? "the relay is away"})`),
      );
      return { ...done };
    }
    return withFolder(ctx, { write: true, spool: true }, async (folder) => {
      const replica = folder.replica;
      const r = replica.refusedWrites().find((x) => x.id === id);
      if (!r)
        throw new AgentError(
          "NOT_FOUND",
          `no refused change ${id} in folder ${folder.folderId} (see: weft refused ${folder.folderId})`,
        );
      if (discard) await replica.discardRefused(id);
      else await settleChange(ctx, folder, r.path, undefined, () => replica.reapply(id));
      ctx.say(discard ? `discarded ${r.op.kind} ${r.path}` : `re-applied ${r.op.kind} ${r.path}`);
      return { folderId: folder.folderId, id, path: r.path, discarded: discard };
    });
  },
};

/** The remote file commands. */
export const remoteCommands: Command[] = [ls, get, put, rm, mv, refused, reapply];
