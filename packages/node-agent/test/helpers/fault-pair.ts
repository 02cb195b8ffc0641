/**
 * Test helpers for the fault suites (agent-faults-*.test.ts): two devices sharing a folder with
 * `weft sync` daemons, their connection state as the daemons report it, and the convergence
 * checks every fault is followed by.
 */
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { contentHashOf } from "@weft/core";
import { expect } from "vitest";
import {
  type Device,
  enroll,
  killHard,
  makeDevice,
  scratchRoot,
  sha256File,
  shareFolder,
  tempFiles,
  waitFor,
} from "@weft/test-support";

/** 1 MiB in bytes. */
export const MiB = 1024 * 1024;
/** How soon after the relay is reachable again a daemon must be online: the 2 s backoff cap,
 * one status write (1 s) and a connection on a loaded 2-core machine, with room to spare. */
export const BACK_ONLINE_MS = 15_000;
/** The keepalive the daemons run with here: a stalled connection is given up after 2x this. */
export const KEEPALIVE_S = "1";

/** A device made by makeDevice. */
export type TestDevice = Device & { dispose(): Promise<void> };

/** The folder's files (not the agent's temp files) with their SHA-256, sorted by path. */
async function tree(dev: Device): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const paths = (await readdir(dev.folder, { recursive: true })).sort();
  for (const p of paths) {
    if (p.split("/").some((part) => part.startsWith(".weft-tmp-"))) continue;
    const sha = await sha256File(join(dev.folder, p)).catch(() => "dir"); // EISDIR: a directory
    if (sha !== null) out.set(p, sha);
  }
  return out;
}

/** A daemon and what it printed, for the failure message. */
interface Daemon {
  child: ChildProcess;
  output: () => string;
}

/**
 * The connection state the daemon `pid` of `dev` last wrote (about once a second), or undefined
 * when it wrote none yet: a status file left by an earlier daemon, killed, does not count.
 */
async function connection(dev: Device, folderId: string, pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(join(dev.home, "folders", folderId, "status.json"), "utf8");
    const status = JSON.parse(text) as { connection?: string; pid?: number };
    return status.pid === pid ? status.connection : undefined;
  } catch {
    return undefined; // not written yet, or being replaced
  }
}

/** What `weft status --json` says about the first folder, as a user would ask. */
export async function userStatus(dev: Device): Promise<{ connection: string; state: string }> {
  const r = await dev.run(["status", "--json"]);
  const folders = r.json?.["folders"] as { connection: string; state: string }[] | undefined;
  if (!folders?.[0]) throw new Error(`weft status (${dev.name}): ${r.stderr}${r.stdout}`);
  return folders[0];
}

/**
 * Two devices sharing one folder, each with a `weft sync` daemon (started on demand), and
 * what was written to the folder, for the convergence checks.
 */
export class Pair {
  readonly daemons = new Map<Device, Daemon>();
  /** Every version written to this folder in the tests, by path, with its SHA-256. */
  readonly written = new Map<string, { bytes: Buffer; sha: string }[]>();
  constructor(
    readonly devices: readonly TestDevice[],
    readonly folderId: string,
  ) {}

  /** Writes `bytes` to `rel` in `dev`'s folder and records it as a version someone wrote. */
  async put(dev: Device, rel: string, bytes: Buffer | string): Promise<void> {
    const data = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
    const list = this.written.get(rel) ?? [];
    list.push({ bytes: data, sha: createHash("sha256").update(data).digest("hex") });
    this.written.set(rel, list);
    await writeFile(join(dev.folder, rel), data);
  }

  /** The SHA-256 of the last version written to `rel`. */
  last(rel: string): string | undefined {
    return this.written.get(rel)?.at(-1)?.sha;
  }

  /** Starts the daemons that are not running and waits until each is online. */
  async up(): Promise<void> {
    this.start();
    await this.online("daemons to start");
  }

  /** Starts the daemons that are not running. */
  start(): void {
    for (const dev of this.devices) {
      const running = this.daemons.get(dev);
      if (running && running.child.exitCode === null && running.child.signalCode === null) continue;
      const child = dev.spawn(["sync", "--rescan", "30"], { WEFT_KEEPALIVE: KEEPALIVE_S });
      let output = "";
      child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      this.daemons.set(dev, { child, output: () => output });
    }
  }

  /** Waits until every daemon says it is online; returns how long each took, in ms. */
  async online(what: string, ms = BACK_ONLINE_MS): Promise<number[]> {
    const started = Date.now();
    return Promise.all(
      this.devices.map(async (dev) => {
        await waitFor(
          async () => (await this.connection(dev)) === "online",
          ms,
          `${dev.name} online (${what})\n${this.logs(dev)}`,
        );
        return Date.now() - started;
      }),
    );
  }

  /** Waits until every daemon says it is not online. */
  async offline(what: string): Promise<void> {
    for (const dev of this.devices)
      await waitFor(
        async () => {
          const now = await this.connection(dev);
          return now !== undefined && now !== "online";
        },
        20_000,
        `${dev.name} offline (${what})\n${this.logs(dev)}`,
      );
  }

  /** The connection state `dev`'s running daemon last wrote (see {@link connection}). */
  connection(dev: Device): Promise<string | undefined> {
    const pid = this.daemons.get(dev)?.child.pid;
    return pid === undefined ? Promise.resolve(undefined) : connection(dev, this.folderId, pid);
  }

  logs(dev: Device): string {
    return `--- ${dev.name}'s daemon:\n${this.daemons.get(dev)?.output() ?? "(not started)"}`;
  }

  /** SIGTERM to every daemon; each must exit 0. */
  async stop(): Promise<void> {
    for (const [dev, d] of this.daemons) {
      if (d.child.exitCode !== null || d.child.signalCode !== null) continue;
      const exited = new Promise<number | null>((resolve) => d.child.once("exit", resolve));
      d.child.kill("SIGTERM");
      expect(await exited, this.logs(dev)).toBe(0);
    }
    this.daemons.clear();
  }

  /** Kills (-9) every daemon. */
  async kill(): Promise<void> {
    for (const d of this.daemons.values()) await killHard(d.child);
    this.daemons.clear();
  }

  /**
   * Waits until every device has the same files with the same bytes and no temp file, then
   * checks that each file is a version someone wrote (nothing partial or corrupt) and that
   * every version written to a path still on disk is current, a conflict copy or (with the
   * daemons stopped, as `weft history` needs) in that path's history.
   */
  async converged(what: string, ms = 30_000): Promise<Map<string, string>> {
    let last: Map<string, string>[] = [];
    const same = async (): Promise<boolean> => {
      last = await Promise.all(this.devices.map(tree));
      const temps = await Promise.all(this.devices.map((d) => tempFiles(d.folder)));
      const [first, ...rest] = last.map((t) => JSON.stringify([...t]));
      return temps.every((t) => t.length === 0) && rest.every((t) => t === first);
    };
    await waitFor(same, ms, `the devices to converge (${what})`).catch((error: Error) => {
      const views = this.devices.map((d, i) => `${d.name}: ${JSON.stringify([...last[i]!])}`);
      throw new Error(
        `${error.message}\n${views.join("\n")}\n${this.devices.map((d) => this.logs(d)).join("\n")}`,
      );
    });
    const onDisk = last[0]!;
    const everWritten = new Set([...this.written.values()].flat().map((v) => v.sha));
    for (const [path, sha] of onDisk)
      if (sha !== "dir")
        expect(everWritten.has(sha), `${path} is not a version anyone wrote`).toBe(true);
    return onDisk;
  }

  /** Every version ever written is on disk (at its path or as a conflict copy) or in history. */
  async nothingLost(): Promise<void> {
    await this.stop(); // `weft history` needs the replica to itself
    const onDisk = new Set((await tree(this.devices[0]!)).values());
    for (const [path, versions] of this.written) {
      const missing = versions.filter((v) => !onDisk.has(v.sha));
      if (missing.length === 0) continue;
      const history = await this.devices[0]!.ok(["history", join(this.devices[0]!.folder, path)]);
      const kept = new Set(
        (history["versions"] as { contentHash: string | null }[]).map((v) => v.contentHash),
      );
      for (const v of missing)
        expect(kept.has((await contentHashOf(v.bytes)).contentHash), `a version of ${path}`).toBe(
          true,
        );
    }
  }
}

/**
 * Two devices named `names`, enrolled with the relay at `url` (their own accounts), sharing a
 * folder the first created. Dispose of it to kill its daemons and remove its files.
 */
export async function pairOn(
  url: string,
  names: [string, string],
): Promise<Pair & { dispose(): Promise<void> }> {
  const base = await mkdtemp(join(scratchRoot(), "weft-faults-"));
  const devices = await Promise.all(names.map((n) => makeDevice(n, join(base, n))));
  await Promise.all(devices.map((d) => enroll(d, url)));
  const pair = new Pair(devices, await shareFolder(devices[0]!, devices[1]!));
  return Object.assign(pair, {
    dispose: async () => {
      await pair.kill();
      await rm(base, { recursive: true, force: true });
    },
  });
}

/** Resolves at time `t` (ms since the epoch): how long a fault lasts, not a synchronisation. */
export function until(t: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, t - Date.now())));
}
