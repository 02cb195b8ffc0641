/** Test helpers: the `weft` CLI as real processes, each with its own WEFT_HOME and folder. */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../../node-agent/dist/cli/main.js", import.meta.url));

/** What one `weft` run printed and how it ended. */
export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is one object, else undefined. */
  json: Record<string, unknown> | undefined;
}

/** One device: a home, a folder path, and a way to run `weft` as it. */
export interface Device {
  name: string;
  home: string;
  folder: string;
  env: Record<string, string>;
  /** Runs `weft ...args` to completion. */
  run(
    args: string[],
    options?: { input?: string; env?: Record<string, string> },
  ): Promise<RunResult>;
  /** Runs `weft ...args` and throws unless it exits 0; returns the JSON it printed. */
  ok(args: string[], options?: { input?: string }): Promise<Record<string, unknown>>;
  /** Starts a long-running `weft ...args` (e.g. the sync daemon), with `env` added. */
  spawn(args: string[], env?: Record<string, string>): ChildProcess;
}

/** A device with its home and folder under a fresh temp directory. */
export async function makeDevice(
  name: string,
  base?: string,
): Promise<Device & { dispose(): Promise<void> }> {
  const root = base ?? (await mkdtemp(join(tmpdir(), `weft-${name}-`)));
  const home = join(root, "home");
  const folder = join(root, "folder");
  await mkdir(folder, { recursive: true });
  const env = { WEFT_HOME: home, WEFT_PASSWORD: `${name}-correct-horse` };
  const spawnWeft = (args: string[], extra: Record<string, string> = {}) =>
    spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, ...env, ...extra },
      stdio: ["pipe", "pipe", "pipe"],
    });
  const run: Device["run"] = (args, options = {}) =>
    new Promise((resolve, reject) => {
      const child = spawnWeft(args, options.env);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (status) => {
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
        resolve({ status, stdout, stderr, json });
      });
      child.stdin.end(options.input ?? "");
    });
  return {
    name,
    home,
    folder,
    env,
    run,
    ok: async (args, options) => {
      const r = await run([...args, "--json"], options);
      if (r.status !== 0 || !r.json)
        throw new Error(
          `weft ${args.join(" ")} (${name}) exited ${r.status}: ${r.stderr}${r.stdout}`,
        );
      return r.json;
    },
    spawn: (args, extra) => spawnWeft(args, extra),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/** Sets up `device` on `relay`: identity, an account named after it, logged in. */
export async function enroll(device: Device, relayUrl: string): Promise<void> {
  await device.ok(["init"]);
  await device.ok(["account", "register", "--relay", relayUrl, "--user", device.name]);
}

/** Polls `check` until it returns true (every 50 ms, up to `ms`). */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  ms = 20_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts `weft sync ARGS` as `device`'s daemon; resolves once `weft status` names it (its
 * control socket answers).
 */
export async function startDaemon(device: Device, args: string[] = []): Promise<ChildProcess> {
  const daemon = device.spawn(["sync", ...args]);
  await waitFor(
    async () => (await device.run(["status", "--json"])).json?.["daemon"] === daemon.pid,
    20_000,
    `${device.name}'s daemon`,
  );
  return daemon;
}

/**
 * Sends `signal` to a child process and resolves with its exit code once it has exited (null
 * when a signal ended it); at once for one that has exited already, or none.
 */
export async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = "SIGKILL",
): Promise<number | null> {
  if (!child) return null;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.kill(signal);
  return exited;
}

/**
 * Creates a folder on `owner` for its folder path, invites `guest` (editor) and has it join
 * with its own folder path; returns the folder id.
 */
export async function shareFolder(owner: Device, guest: Device): Promise<string> {
  const { folderId } = (await owner.ok(["folder", "create", owner.folder])) as {
    folderId: string;
  };
  const { invite } = await owner.ok(["folder", "invite", folderId, "--role", "editor"]);
  await guest.ok(["folder", "join", "-", guest.folder], { input: `${invite as string}\n` });
  return folderId;
}

/** One folder's transfer counters as `weft sync --once --json` / `weft status --json` print them. */
export interface FolderCounters {
  folderId: string;
  bytesUploaded: number;
  bytesDownloaded: number;
  errors: { message: string; path?: string }[];
}

/** The first folder of a `weft sync --once --json` / `weft status --json` answer. */
export function firstFolder(json: Record<string, unknown>): FolderCounters {
  const folders = json["folders"] as FolderCounters[] | undefined;
  if (!folders?.[0]) throw new Error(`no folder in ${JSON.stringify(json)}`);
  return folders[0];
}

/** Streams `size` random bytes to `path` (16 MiB blocks); returns their SHA-256 in hex. */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const BLOCK = 16 * 1024 * 1024;
  function* blocks(): Iterable<Buffer> {
    for (let left = size; left > 0; left -= BLOCK) {
      const block = randomBytes(Math.min(BLOCK, left));
      hash.update(block);
      yield block;
    }
  }
  await pipeline(Readable.from(blocks()), createWriteStream(path));
  return hash.digest("hex");
}

/** The SHA-256 of a file in hex (streamed), or null when it does not exist. */
export async function sha256File(path: string): Promise<string | null> {
  const hash = createHash("sha256");
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return hash.digest("hex");
}

/** Total size in bytes of the regular files under `dir` (0 when it does not exist). */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(path);
    else if (e.isFile())
      total += await stat(path).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

/** Paths (relative to `dir`) of the `.weft-tmp-*` files anywhere under it. */
export async function tempFiles(dir: string): Promise<string[]> {
  const paths = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return paths.filter((p) => basename(p).startsWith(".weft-tmp-"));
}

/**
 * Writes `data` to `path` and dates it a few seconds back, so the next scan takes it at once as
 * a finished edit: a file modified within the last second is left for a later pass, and a test
 * that waited that second out would be slow and still racy on a loaded machine.
 */
export async function writeSettled(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path, data);
  await backdate(path);
}

/** Dates `path` (a file or a directory) a few seconds back: see {@link writeSettled}. */
export async function backdate(path: string): Promise<void> {
  const past = new Date(Date.now() - 5000);
  await utimes(path, past, past);
}

/** Kills `child` with SIGKILL and resolves once it is gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

/**
 * A directory for scratch homes, folders and relay data: `WEFT_TEST_TMP` when set, else
 * `/dev/shm` (a tmpfs: no fsync cost, so tests with thousands of files stay fast) when it is
 * a writable directory, else the OS temp directory.
 */
export function scratchRoot(): string {
  const chosen = process.env["WEFT_TEST_TMP"];
  if (chosen) return chosen;
  try {
    accessSync("/dev/shm", constants.W_OK);
    if (statSync("/dev/shm").isDirectory()) return "/dev/shm";
  } catch {
    // not there, or not writable: the OS temp directory will do
  }
  return tmpdir();
}

/**
 * Sets up `device` as another device of the existing account `user` (registered by
 * {@link enroll} on a device named `user`): identity, then `weft account login`.
 */
export async function enrollAs(device: Device, relayUrl: string, user: string): Promise<void> {
  await device.ok(["init"]);
  const r = await device.run(["account", "login", "--relay", relayUrl, "--user", user, "--json"], {
    env: { WEFT_PASSWORD: `${user}-correct-horse` },
  });
  if (r.status !== 0)
    throw new Error(`weft account login as ${user} (${device.name}): ${r.stderr}`);
}
