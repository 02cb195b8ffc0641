/** Test helpers: the relay as a real process on 127.0.0.1 (port 0), and small API calls against it. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type DeviceIdentity, toBase64Url } from "@weft/crypto";

const cli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

/** A running relay process. */
export interface RelayProcess {
  url: string;
  dir: string;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  logs(): string;
  /** Stops it with SIGTERM and resolves with its exit code; the data directory stays. */
  stop(): Promise<number | null>;
  /** Kills it (if running) and removes its data directory. */
  dispose(): Promise<void>;
}

/** Starts `weft relay` (the built CLI) with its data in a new temp directory. */
export async function startRelayProcess(
  env: Record<string, string> = {},
  reuseDir?: string,
): Promise<RelayProcess> {
  const dir = reuseDir ?? (await mkdtemp(join(tmpdir(), "weft-relay-")));
  let logs = "";
  const child = spawn(process.execPath, [cli, "--port", "0", "--data", join(dir, "data")], {
    env: { ...process.env, WEFT_RELAY_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.on("data", (d: Buffer) => (logs += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`relay exited with ${code}: ${logs}`)));
    lines.on("line", (line) => {
      logs += `${line}\n`;
      const parsed = JSON.parse(line) as { url?: string };
      if (parsed.url) resolve(parsed.url);
    });
  });
  return {
    url,
    dir,
    child,
    logs: () => logs,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      return exited;
    },
    dispose: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One JSON call; the parsed body (or {}) and the status. */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

/**
 * Registers `user` (password `<user>-correct-horse`) and logs in, with `device` unless it is
 * undefined; returns the access token (bound to the device when there is one).
 */
export async function signUp(url: string, user: string, device?: DeviceIdentity): Promise<string> {
  const password = `${user}-correct-horse`;
  const reg = await call(url, "POST", "/v1/auth/register", { user, password });
  if (reg.status !== 201)
    throw new Error(`register ${user}: ${reg.status} ${JSON.stringify(reg.json)}`);
  const keys = device && {
    signPublicKey: toBase64Url(device.signPublicKey),
    boxPublicKey: toBase64Url(device.boxPublicKey),
  };
  const login = await call(url, "POST", "/v1/auth/login", {
    user,
    password,
    ...(keys ? { device: keys } : {}),
  });
  if (login.status !== 200) throw new Error(`login ${user}: ${login.status}`);
  return login.json["accessToken"] as string;
}
