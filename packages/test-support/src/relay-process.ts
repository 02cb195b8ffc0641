/**
 * Test helpers: the relay as a real process on 127.0.0.1 that can be killed and started again
 * on the same port and data, and small API calls against it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { encodeEpochRecord, makeEpochRecord } from "@weft/core";
import {
  type DeviceIdentity,
  type FolderId,
  generateFolderKey,
  toBase64Url,
  wrapKeyForDevice,
} from "@weft/crypto";
import { pickFreePort } from "./free-port.js";

const cli = fileURLToPath(new URL("../../relay/dist/cli.js", import.meta.url));

/**
 * A relay process with a fixed port and data directory: it can be killed, stopped and started
 * again, and its URL stays the same, so clients that hold the URL find it after a restart.
 */
export interface RelayProcess {
  /** `http://127.0.0.1:PORT` (https with TLS); the same across restarts. */
  readonly url: string;
  /** The port it listens on; the same across restarts. */
  readonly port: number;
  /** Its temp directory (data in `dir/data`); kept across restarts, removed by dispose(). */
  readonly dir: string;
  /** The current process (a new one after each start). */
  readonly child: ChildProcess;
  /** Whether the current process is alive. */
  running(): boolean;
  /** Everything every process of it wrote to stdout and stderr so far. */
  logs(): string;
  /** Stops it with SIGTERM and resolves with its exit code; the data directory stays. */
  stop(): Promise<number | null>;
  /** Kills it with SIGKILL (a crash: nothing flushed, nothing closed); the data stays. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it listens. Throws if running. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Kills it (if running) and removes its data directory. */
  dispose(): Promise<void>;
}

/** Options of {@link startRelayProcess}. */
export interface RelayProcessOptions {
  /** The port to listen on; by default a free one, picked once and kept across restarts. */
  port?: number;
  /** More command-line flags, after `--port` and `--data` (e.g. `["--blobs", "s3://b"]`). */
  args?: string[];
}

/**
 * Starts `weft relay` (the built CLI) with `env` added to this process's environment, its data
 * in `reuseDir` or a new temp directory; resolves once it listens.
 */
export async function startRelayProcess(
  env: Record<string, string> = {},
  reuseDir?: string,
  options: RelayProcessOptions = {},
): Promise<RelayProcess> {
  const dir = reuseDir ?? (await mkdtemp(join(tmpdir(), "weft-relay-")));
  let allLogs = "";
  let child: ChildProcess | undefined;
  let url = "";
  let port = options.port ?? 0;

  const launch = async (): Promise<void> => {
    const proc = spawn(
      process.execPath,
      [cli, "--port", String(port), "--data", join(dir, "data"), ...(options.args ?? [])],
      {
        env: { ...process.env, WEFT_RELAY_LOG_LEVEL: "info", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child = proc;
    let logs = "";
    proc.stderr.on("data", (d: Buffer) => {
      logs += d.toString();
      allLogs += d.toString();
    });
    const lines = createInterface({ input: proc.stdout });
    url = await new Promise<string>((resolve, reject) => {
      proc.once("exit", (code) => reject(new Error(`relay exited with ${code}: ${logs}`)));
      lines.on("line", (line) => {
        logs += `${line}\n`;
        allLogs += `${line}\n`;
        try {
          const parsed = JSON.parse(line) as { url?: string };
          if (parsed.url) resolve(parsed.url);
        } catch {
          // not a log line (a native warning): kept in the logs, nothing to parse
        }
      });
    });
  };

  if (port !== 0) await launch();
  else {
    // A picked port can be taken by another process before the relay listens: pick again.
    for (let tries = 0; ; tries++) {
      port = await pickFreePort();
      try {
        await launch();
        break;
      } catch (error) {
        if (tries >= 4 || !/cannot listen/.test((error as Error).message)) throw error;
      }
    }
  }

  const alive = (): boolean =>
    child !== undefined && child.exitCode === null && child.signalCode === null;
  const exited = (proc: ChildProcess): Promise<number | null> =>
    proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve(proc.exitCode)
      : new Promise((resolve) => proc.once("exit", (code) => resolve(code)));

  const relay: RelayProcess = {
    get url() {
      return url;
    },
    port,
    dir,
    get child() {
      return child!;
    },
    running: alive,
    logs: () => allLogs,
    stop: async () => {
      const proc = child!;
      if (alive()) proc.kill("SIGTERM");
      return exited(proc);
    },
    kill: async () => {
      const proc = child!;
      if (alive()) proc.kill("SIGKILL");
      await exited(proc);
    },
    start: async () => {
      if (alive()) throw new Error(`the relay on port ${port} is already running`);
      await launch();
    },
    restart: async () => {
      await relay.stop();
      await launch();
    },
    dispose: async () => {
      await relay.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return relay;
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
  return logIn(url, user, device);
}

/** A fresh access token for `user`, signed up by {@link signUp} (with `device`'s keys, if given). */
export async function logIn(url: string, user: string, device?: DeviceIdentity): Promise<string> {
  const keys = device && {
    signPublicKey: toBase64Url(device.signPublicKey),
    boxPublicKey: toBase64Url(device.boxPublicKey),
  };
  const login = await call(url, "POST", "/v1/auth/login", {
    user,
    password: `${user}-correct-horse`,
    ...(keys ? { device: keys } : {}),
  });
  if (login.status !== 200) throw new Error(`login ${user}: ${login.status}`);
  return login.json["accessToken"] as string;
}

/**
 * `signer` (with access token `token`) announces `epoch` of the folder with a fresh key wrapped
 * for `devices` (default: itself only); the previous key it carries is a random one. Returns the
 * relay's answer.
 */
export async function announceEpoch(
  url: string,
  signer: DeviceIdentity,
  token: string,
  folderId: string,
  epoch: number,
  devices: DeviceIdentity[] = [signer],
): Promise<{ status: number; json: Record<string, unknown> }> {
  const key = generateFolderKey();
  const record = makeEpochRecord({
    folderId: folderId as FolderId,
    epoch,
    key,
    previousEpoch: epoch - 1,
    previousKey: generateFolderKey(),
    devices: devices.map((d) => d.deviceId),
    signer,
  });
  const keys = Object.fromEntries(
    devices.map((d) => [d.deviceId, toBase64Url(wrapKeyForDevice(key, d.boxPublicKey))]),
  );
  return call(
    url,
    "PUT",
    `/v1/folders/${folderId}/epochs/${epoch}`,
    { record: encodeEpochRecord(record), keys },
    token,
  );
}
