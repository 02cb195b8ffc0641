/** Test helpers for the dashboard: `weft ui` as a real process, raw HTTP requests, and Debian's chromium. */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createInterface } from "node:readline";
import type { Browser } from "playwright-core";
import type { Device } from "./agent-process.js";

/** A running `weft ui` (or `weft sync --ui`) daemon and the URL it printed. */
export interface UiProcess {
  child: ChildProcess;
  /** The printed URL, with the token. */
  url: string;
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  token: string;
  /** Everything it wrote so far. */
  output(): string;
  /** SIGTERM, and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `weft ...args` (default `ui`) as `device` and waits for the dashboard URL it prints. */
export async function startUi(device: Device, args: string[] = ["ui"]): Promise<UiProcess> {
  const child = device.spawn(args);
  let output = "";
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no dashboard URL in 20 s: ${output}`)),
      20_000,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`weft ${args.join(" ")} exited ${code}: ${output}`));
    });
    lines.on("line", (line) => {
      output += `${line}\n`;
      const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  const parsed = new URL(url);
  return {
    child,
    url,
    origin: parsed.origin,
    port: Number(parsed.port),
    token: parsed.searchParams.get("token")!,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** What a raw request got back. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One HTTP request with exactly the headers given (fetch would not let a test set Host or
 * leave Origin out the way an attacker's client can).
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: options.method ?? "GET",
        headers: options.headers ?? {},
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Debian's chromium, which CI installs (scripts/system-packages.sh). */
export const CHROMIUM = process.env["WEFT_CHROMIUM"] ?? "/usr/bin/chromium";

/**
 * Whether the browser tests can run. Without chromium they fail under CI (which must have it)
 * and are skipped elsewhere, saying why.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env["CI"])
    throw new Error(`${CHROMIUM} is missing; CI installs it with scripts/system-packages.sh`);
  console.warn(
    `skipping the dashboard's browser tests: no chromium at ${CHROMIUM} ` +
      "(install it: bash scripts/system-packages.sh, or set WEFT_CHROMIUM)",
  );
  return false;
}

/** Launches headless chromium (no sandbox when running as root, where it refuses otherwise). */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}
