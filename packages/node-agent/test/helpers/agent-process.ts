/** Test helpers: the `weft` CLI as real processes, each with its own WEFT_HOME and folder. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export { startRelayProcess, type RelayProcess } from "../../../relay/test/helpers/relay-process.js";

const cli = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

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
  /** Starts a long-running `weft ...args` (e.g. the sync daemon). */
  spawn(args: string[]): ChildProcess;
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
    spawn: (args) => spawnWeft(args),
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
