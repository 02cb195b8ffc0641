// The `weft` command line as a user meets it: help for every command and flag, usage errors in
// plain words, `weft --help` without loading the heavy modules, the housekeeping commands
// (folder list|remove, account logout), and a `folder create` that fails leaving nothing behind.
// Real processes: the built CLI, a real relay on 127.0.0.1.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { CATALOG, loadAll } from "../src/cli/catalog.js";
import { statusLine } from "../src/cli/format.js";
import type { FolderStatus } from "../src/sync/folder-sync.js";
import { type Device, call, enroll, makeDevice, startRelayProcess } from "@weft/test-support";

const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function device(name: string): Promise<Device> {
  const d = await makeDevice(name);
  cleanups.push(() => d.dispose());
  return d;
}

describe("help", () => {
  it("the catalog that weft --help reads lists exactly the commands the modules declare", async () => {
    const commands = await loadAll();
    expect(CATALOG.map((c) => c.name).sort()).toEqual(commands.map((c) => c.name).sort());
    for (const entry of CATALOG) {
      const c = commands.find((x) => x.name === entry.name)!;
      expect(entry.args, entry.name).toBe(c.args);
      // The catalog's line may be shorter, but says the same thing: it starts the same.
      expect(entry.summary.split(" ")[0], entry.name).toBe(c.summary.split(" ")[0]);
    }
  });

  it("every flag of every command has a description", async () => {
    for (const c of await loadAll())
      for (const [name, flag] of Object.entries(c.flags))
        expect(flag.description, `weft ${c.name} --${name}`).toBeTruthy();
  });

  it("weft --help lists every command; help CMD, CMD -h and CMD --help print the same", async () => {
    const d = await device("help");
    const top = await d.run(["--help"]);
    expect(top.status).toBe(0);
    for (const entry of CATALOG) expect(top.stdout).toContain(entry.name);
    const viaHelp = await d.run(["help", "folder", "invite"]);
    const viaShort = await d.run(["folder", "invite", "-h"]);
    const viaLong = await d.run(["folder", "invite", "--help"]);
    expect(viaHelp.status).toBe(0);
    expect(viaHelp.stdout).toContain("usage: weft folder invite FOLDER_ID");
    expect(viaHelp.stdout).toMatch(/--role ROLE\s+editor \(default\) or viewer/);
    expect(viaShort.stdout).toBe(viaHelp.stdout);
    expect(viaLong.stdout).toBe(viaHelp.stdout);
    const relayHelp = await d.run(["help", "relay"]);
    expect(relayHelp.stdout).toMatch(/--port P\s+WEFT_RELAY_PORT/);
    const version = await d.run(["--version"]);
    expect(version.stdout).toMatch(/^weft \d+\.\d+\.\d+\n$/);
  });

  it("weft --help and --version load neither libsodium, Automerge, Yjs nor SQLite", async () => {
    // A module hook that refuses those packages: help still works; a real command does not.
    const dir = await mkdtemp(join(tmpdir(), "weft-hook-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, "hook.mjs"),
      "export async function resolve(specifier, context, next) {\n" +
        "  if (/^(libsodium|@automerge\\/|yjs$|better-sqlite3$)/.test(specifier))\n" +
        "    throw new Error(`loaded ${specifier}`);\n" +
        "  return next(specifier, context);\n}\n",
    );
    await writeFile(
      join(dir, "register.mjs"),
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hook.mjs")).href)});\n`,
    );
    const weft = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", join(dir, "register.mjs"), cli, ...args], {
        encoding: "utf8",
        env: { ...process.env, WEFT_HOME: join(dir, "home") },
      });
    // (A command's own --help loads its module: only the top-level help has to be instant.)
    for (const args of [["--help"], ["--version"], ["help"]]) {
      const r = weft(...args);
      expect(r.stderr, args.join(" ")).toBe("");
      expect(r.status, args.join(" ")).toBe(0);
    }
    // The hook does bite: a command that needs the keys loads libsodium.
    const init = weft("init");
    expect(init.status).not.toBe(0);
    expect(init.stderr).toMatch(/loaded (libsodium|@automerge|yjs|better-sqlite3)/);
  });
});

describe("status line", () => {
  it('says "in sync" only when nothing is pending either way', () => {
    const idle = {
      state: "idle",
      connection: "online",
      pendingOut: 0,
      pendingChunks: 0,
      upload: { done: 0, total: 0, bytes: 0, rate: 0, eta: null },
      download: { done: 0, total: 0, bytes: 0, rate: 0, eta: null },
      files: 3,
      bytesUploaded: 0,
      bytesDownloaded: 0,
      peers: [],
      conflicts: 0,
      errors: [],
    } as unknown as FolderStatus;
    expect(statusLine(idle)).toMatch(/^in sync/);
    expect(statusLine({ ...idle, pendingOut: 2 })).toMatch(/^pending · 2 to send/);
    expect(statusLine({ ...idle, download: { ...idle.download, done: 1, total: 4 } })).not.toMatch(
      /in sync/,
    );
    expect(statusLine({ ...idle, connection: "offline" })).not.toMatch(/in sync/);
  });
});

describe("usage errors", () => {
  it("are plain words naming the flag or argument, exit 2, and point to --help", async () => {
    const d = await device("usage");
    const cases: [string[], RegExp][] = [
      [
        ["folder", "create", "x", "--relya", "u"],
        /unknown flag --relya \(did you mean --relay\?\)/,
      ],
      [["folder", "create", "x", "--relay"], /--relay needs a value/],
      [["sync", "--once=yes"], /--once takes no value/],
      [["folder", "create"], /missing PATH; usage: weft folder create PATH/],
      [["init", "extra"], /too many arguments \(it takes none\): extra/],
      [["folder", "creat", "x"], /weft folder has no command creat; it has: create,/],
      [["frobnicate"], /unknown command: frobnicate/],
      [["relay", "--prot", "1"], /unknown flag --prot \(did you mean --port\?\)/],
    ];
    const results = await Promise.all(cases.map(([args]) => d.run(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).not.toMatch(/ERR_PARSE_ARGS|To specify a positional|at .*\.js:\d+/);
    }
  });
});

describe("folder list | remove, account logout", () => {
  it("list shows a folder; remove forgets it here and keeps its files; logout revokes the tokens", async () => {
    const relay = await startRelayProcess();
    cleanups.push(() => relay.dispose());
    const d = await device("ana");
    await enroll(d, relay.url);
    await writeFile(join(d.folder, "keep.txt"), "mine");
    const { folderId } = (await d.ok(["folder", "create", d.folder])) as { folderId: string };
    const listed = (await d.ok(["folder", "list"])) as { folders: { folderId: string }[] };
    expect(listed.folders.map((f) => f.folderId)).toEqual([folderId]);
    expect((await d.run(["folder", "list"])).stdout).toContain(d.folder);

    // --json: progress as JSON lines on stderr (the first one at once); stdout one object.
    const once = await d.run(["sync", "--once", "--json"]);
    expect(once.status, once.stderr).toBe(0);
    expect(once.json).toHaveProperty("folders");
    const lines = once.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const [first] = (JSON.parse(line) as { progress: FolderStatus[] }).progress;
      expect(first?.folderId).toBe(folderId);
      expect(typeof first?.upload.done).toBe("number");
      expect(typeof first?.upload.total).toBe("number");
    }

    const removed = await d.ok(["folder", "remove", d.folder]);
    expect(removed).toMatchObject({ folderId, removed: true });
    expect(((await d.ok(["folder", "list"])) as { folders: unknown[] }).folders).toEqual([]);
    expect(existsSync(join(d.home, "folders", folderId))).toBe(false);
    expect(await readFile(join(d.folder, "keep.txt"), "utf8")).toBe("mine");
    const again = await d.run(["folder", "remove", folderId]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/not in a synced folder/);

    const accounts = JSON.parse(await readFile(join(d.home, "accounts.json"), "utf8")) as {
      refreshToken: string;
    }[];
    const out = await d.ok(["account", "logout"]);
    expect(out).toMatchObject({ relay: relay.url, user: "ana", revoked: true });
    const refresh = await call(relay.url, "POST", "/v1/auth/refresh", {
      refreshToken: accounts[0]!.refreshToken,
    });
    expect(refresh.status).toBe(401);
    const after = await d.run(["folder", "create", join(d.folder, "..", "other")]);
    expect(after.stderr).toMatch(/not logged in; run: weft account login/);
    expect(existsSync(join(d.folder, "..", "other"))).toBe(false);
  });
});

describe("a failed folder create", () => {
  it("leaves no directory, no record and no key behind, and asks the relay nothing it can refuse locally", async () => {
    const relay = await startRelayProcess();
    cleanups.push(() => relay.dispose());
    const d = await device("ben");
    await enroll(d, relay.url);
    const { folderId } = (await d.ok(["folder", "create", d.folder])) as { folderId: string };
    const folders = async () => {
      const account = (
        JSON.parse(await readFile(join(d.home, "accounts.json"), "utf8")) as {
          accessToken: string;
        }[]
      )[0]!;
      return (await call(relay.url, "GET", "/v1/folders", undefined, account.accessToken)).json;
    };
    const before = JSON.stringify(await folders());
    expect(before).toContain(folderId);

    // Inside a synced folder: refused before the relay is asked; the new directory is gone.
    const inside = join(d.folder, "sub", "deeper");
    const overlap = await d.run(["folder", "create", inside]);
    expect(overlap.stderr).toMatch(/overlaps the synced folder/);
    expect(existsSync(join(d.folder, "sub"))).toBe(false);
    expect(JSON.stringify(await folders())).toBe(before);

    // A path that is a file.
    await writeFile(join(d.folder, "..", "a-file"), "x");
    const notDir = await d.run(["folder", "create", join(d.folder, "..", "a-file")]);
    expect(notDir.stderr).toMatch(/is not a directory/);
    expect(notDir.status).toBe(2);

    // The relay gone: nothing on disk either.
    await relay.stop();
    const target = join(d.folder, "..", "new", "place");
    await mkdir(join(d.folder, ".."), { recursive: true });
    const down = await d.run(["folder", "create", target]);
    expect(down.status).toBe(1);
    expect(existsSync(join(d.folder, "..", "new"))).toBe(false);
    const records = JSON.parse(await readFile(join(d.home, "folders.json"), "utf8")) as unknown[];
    expect(records).toHaveLength(1);
    expect(await readdir(join(d.home, "folders"))).toEqual([folderId]);
  });
});
