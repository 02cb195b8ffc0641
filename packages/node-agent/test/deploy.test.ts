// The files in deploy/, run as far as this machine allows (no Docker engine, no systemd as
// PID 1): each systemd unit's ExecStart line, with the installed paths swapped for the built
// CLI and temp directories, runs and serves (the relay answers /health, the agent starts and
// stops cleanly on the unit's KillSignal); `systemd-analyze verify` accepts the relay's unit;
// the relay settings the compose files pass are ones the relay accepts, and the scale-out
// flags of issue 17 are still refused (the file says so; this fails once they exist).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "@weft/relay";
import { afterEach, describe, expect, it } from "vitest";
import { makeDevice, startRelayProcess, waitFor } from "@weft/test-support";

const deploy = fileURLToPath(new URL("../../../deploy/", import.meta.url));
const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

interface Unit {
  env: Record<string, string>;
  execStart: string[];
  killSignal: string;
}

/** The Environment= and ExecStart= of a unit, with `subst` applied to each word. */
async function readUnit(name: string, subst: (word: string) => string): Promise<Unit> {
  const text = await readFile(join(deploy, "systemd", name), "utf8");
  const env: Record<string, string> = {};
  let execStart: string[] = [];
  let killSignal = "SIGTERM";
  for (const line of text.split("\n")) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "Environment") {
      const eq = value.indexOf("=");
      env[value.slice(0, eq)] = subst(value.slice(eq + 1));
    } else if (key === "ExecStart") execStart = value.split(/\s+/).map(subst);
    else if (key === "KillSignal") killSignal = value;
  }
  expect(execStart[0], `${name} runs the installed weft`).toBe("/usr/local/bin/weft");
  // The installed launcher is the built CLI run by node.
  return { env, execStart: [process.execPath, cli, ...execStart.slice(1)], killSignal };
}

const started: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
  for (const c of cleanups.splice(0)) await c();
});

/** Runs a unit's command line; resolves with the process and what it printed so far. */
function run(unit: Unit, extraEnv: Record<string, string> = {}) {
  const [cmd, ...args] = unit.execStart as [string, ...string[]];
  const child = spawn(cmd, args, {
    env: { ...process.env, ...unit.env, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(child);
  const out = { text: "" };
  child.stdout.on("data", (d: Buffer) => (out.text += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out.text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, out, exited };
}

describe("deploy/systemd", () => {
  it("weft-relay.service: its ExecStart serves /health and SIGTERM stops it with 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "weft-unit-relay-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const unit = await readUnit("weft-relay.service", (w) =>
      w === "/var/lib/weft-relay" ? join(dir, "data") : w === "8787" ? "0" : w,
    );
    const relay = run(unit);
    let url = "";
    await waitFor(
      () => {
        url = /"url":"([^"]+)"/.exec(relay.out.text)?.[1] ?? "";
        return url !== "" || relay.child.exitCode !== null;
      },
      30_000,
      "the relay's first log line",
    );
    expect(url, relay.out.text).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string };
    expect(health.status).toBe("ok");
    relay.child.kill(unit.killSignal as NodeJS.Signals);
    expect(await relay.exited).toBe(0);

    // systemd's own check of the unit, with ExecStart pointing at a real file.
    const which = spawnSync("systemd-analyze", ["--version"]);
    if (which.status === 0) {
      const text = (await readFile(join(deploy, "systemd", "weft-relay.service"), "utf8")).replace(
        "/usr/local/bin/weft",
        process.execPath,
      );
      const copy = join(dir, "weft-relay.service");
      await writeFile(copy, text);
      const verify = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
      expect(verify.stderr + verify.stdout).toBe("");
      expect(verify.status).toBe(0);
    }
  });

  it("weft.service (user): its ExecStart starts the agent on a set-up home and stops with 0", async () => {
    const relay = await startRelayProcess();
    cleanups.push(() => relay.dispose());
    const device = await makeDevice("unit");
    cleanups.push(() => device.dispose());
    const userHome = await mkdtemp(join(tmpdir(), "weft-unit-home-"));
    cleanups.push(() => rm(userHome, { recursive: true, force: true }));
    const unit = await readUnit("weft.service", (w) => w.replace("%h", userHome));
    expect(unit.env["WEFT_HOME"]).toBe(join(userHome, ".weft"));
    // What the unit's comment says to do once by hand, in the unit's WEFT_HOME.
    const ok = async (args: string[]) => {
      const r = await device.run([...args, "--json"], { env: unit.env });
      expect(r.status, r.stderr).toBe(0);
    };
    await ok(["init"]);
    await ok(["account", "register", "--relay", relay.url, "--user", "unit"]);
    await ok(["folder", "create", device.folder]);
    const agent = run(unit, { WEFT_PASSWORD: device.env["WEFT_PASSWORD"]! });
    await waitFor(
      () => agent.out.text.includes("weft sync started") || agent.child.exitCode !== null,
      30_000,
      "the agent's start line",
    );
    expect(agent.out.text).toContain("weft sync started");
    const status = await device.run(["status", "--json"], { env: unit.env });
    expect(status.json?.["running"], status.stderr).toBe(true);
    agent.child.kill(unit.killSignal as NodeJS.Signals);
    expect(await agent.exited).toBe(0);
  });
});

/** `KEY: value` lines for WEFT_RELAY_* in a compose file. */
async function composeRelayEnv(file: string): Promise<Record<string, string>> {
  const text = await readFile(join(deploy, file), "utf8");
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^\s+(WEFT_RELAY_\w+):\s*"?([^"\n]*)"?$/gm))
    if (!m[2]!.startsWith("${")) env[m[1]!] = m[2]!;
  return env;
}

describe("deploy/compose", () => {
  it("compose.relay.yaml passes the relay settings it accepts", async () => {
    const env = await composeRelayEnv("compose.relay.yaml");
    expect(Object.keys(env).length).toBeGreaterThan(0);
    const config = parseConfig([], env);
    expect(config).not.toBe("help");
    expect(config).toMatchObject({ rateLimit: 0, logLevel: "info" });
  });

  it("compose.scale-out.yaml's relay command is accepted: PostgreSQL, S3 and NATS", async () => {
    const text = await readFile(join(deploy, "compose.scale-out.yaml"), "utf8");
    const command = /^ {4}command:\n((?: {6}- .*\n)+)/m.exec(text)?.[1] ?? "";
    const args = [...command.matchAll(/^ {6}- (.*)$/gm)].map((m) => m[1]!);
    // The compose file's URLs hold ${...} substitutions: concrete ones stand in for them here.
    const config = parseConfig(
      args.map((a) => a.replace(/\$\{[^}]*\}/g, "secret")),
      {},
    );
    if (config === "help") throw new Error("the compose command asked for help");
    expect(config.database).toMatch(/^postgres:\/\/weft:secret@postgres:5432\/weft$/);
    expect(config.blobs).toEqual({
      kind: "s3",
      bucket: "weft-chunks",
      endpoint: "http://minio:9000",
    });
    expect(config.bus).toBe("nats://nats:4222");
  });
});
