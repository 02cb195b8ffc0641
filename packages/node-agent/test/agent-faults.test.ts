// Faults while `weft sync` daemons run, on real processes over loopback: the relay killed (-9)
// for a second, for 15 s, and in the middle of multi-MiB transfers; the network between a
// daemons and the relay stalled, cut mid-frame, reset and refused (a TCP fault proxy).
// After each fault every daemon must be back online by itself and the devices must converge:
// the same tree and bytes everywhere, no file partial or corrupt (every file on disk is a
// version someone wrote), no `.weft-tmp-*` left, and every version written current, a conflict
// copy, or in history.
//
// Waits are conditions with timeouts. The outages themselves last a set time (that is the
// fault), and how long a daemon took to come back is printed, never asserted against a tight
// figure: the bound asserted is the reconnect backoff cap (WEFT_RECONNECT_MAX, default 2 s)
// with a wide margin, which a daemon still backing off toward 30 s or never retrying misses.
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { contentHashOf } from "@weft/core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import {
  type Device,
  type FaultProxy,
  type RelayProcess,
  enroll,
  killHard,
  makeDevice,
  scratchRoot,
  sha256File,
  shareFolder,
  startFaultProxy,
  startRelayProcess,
  tempFiles,
  waitFor,
} from "./helpers/agent-process.js";

const MiB = 1024 * 1024;
/** How soon after the relay is reachable again a daemon must be online: the 2 s backoff cap,
 * one status write (1 s) and a connection on a loaded 2-core machine, with room to spare. */
const BACK_ONLINE_MS = 15_000;
/** The keepalive the daemons run with here: a stalled connection is given up after 2x this. */
const KEEPALIVE_S = "1";

type TestDevice = Device & { dispose(): Promise<void> };

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

/** The connection state the daemon of `dev` last wrote (about once a second), or undefined. */
async function connection(dev: Device, folderId: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(dev.home, "folders", folderId, "status.json"), "utf8");
    return (JSON.parse(text) as { connection?: string }).connection;
  } catch {
    return undefined; // not written yet, or being replaced
  }
}

/** What `weft status --json` says about the first folder, as a user would ask. */
async function userStatus(dev: Device): Promise<{ connection: string; state: string }> {
  const r = await dev.run(["status", "--json"]);
  const folders = r.json?.["folders"] as { connection: string; state: string }[] | undefined;
  if (!folders?.[0]) throw new Error(`weft status (${dev.name}): ${r.stderr}${r.stdout}`);
  return folders[0];
}

/** Two devices sharing one folder, each with a `weft sync` daemon (started on demand). */
class Pair {
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
    for (const dev of this.devices) {
      const running = this.daemons.get(dev);
      if (running && running.child.exitCode === null && running.child.signalCode === null) continue;
      const child = dev.spawn(["sync", "--rescan", "30"], { WEFT_KEEPALIVE: KEEPALIVE_S });
      let output = "";
      child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
      this.daemons.set(dev, { child, output: () => output });
    }
    await this.online("daemons to start");
  }

  /** Waits until every daemon says it is online; returns how long each took, in ms. */
  async online(what: string, ms = BACK_ONLINE_MS): Promise<number[]> {
    const started = Date.now();
    return Promise.all(
      this.devices.map(async (dev) => {
        await waitFor(
          async () => (await connection(dev, this.folderId)) === "online",
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
        async () => (await connection(dev, this.folderId)) !== "online",
        20_000,
        `${dev.name} offline (${what})\n${this.logs(dev)}`,
      );
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

const disposables: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of disposables.splice(0).reverse()) await d();
});

/** Two enrolled devices sharing a folder, registered with the relay at `url`. */
async function pairOn(url: string, names: [string, string]): Promise<Pair> {
  const base = await mkdtemp(join(scratchRoot(), "weft-faults-"));
  disposables.push(() => rm(base, { recursive: true, force: true }));
  const devices = await Promise.all(names.map((n) => makeDevice(n, join(base, n))));
  await Promise.all(devices.map((d) => enroll(d, url)));
  const folderId = await shareFolder(devices[0]!, devices[1]!);
  return new Pair(devices, folderId);
}

const until = (t: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, t - Date.now())));

describe("the relay goes away (daemons connect to it directly)", () => {
  let relay: RelayProcess;
  let pair: Pair;
  let ana: Device;
  let ben: Device;

  beforeAll(async () => {
    relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
    disposables.push(() => relay.dispose());
    pair = await pairOn(relay.url, ["ana", "ben"]);
    [ana, ben] = [pair.devices[0]!, pair.devices[1]!];
  }, 60_000);

  beforeEach(async () => {
    if (!relay.running()) await relay.start();
    await pair.up();
  }, 60_000);

  afterEach(async () => {
    await pair.kill();
  });

  test("killed (-9) for a second: status says offline, then online; a file written meanwhile arrives", async () => {
    await pair.put(ana, "before.txt", "written before the outage\n");
    await pair.converged("before the outage");

    await relay.kill();
    const killedAt = Date.now();
    await pair.offline("after the relay was killed");
    expect((await userStatus(ana)).connection).not.toBe("online");
    await pair.put(ana, "during.txt", "written while the relay was down\n");
    await until(killedAt + 1000);

    await relay.start();
    const back = await pair.online("after the relay restarted");
    console.log(`back online after a 1 s outage: ${back.map((ms) => `${ms} ms`).join(", ")}`);
    expect((await userStatus(ana)).connection).toBe("online");
    expect((await userStatus(ben)).connection).toBe("online");
    const files = await pair.converged("after the restart");
    expect(files.get("during.txt")).toBe(pair.last("during.txt"));
    await pair.nothingLost();
  }, 90_000);

  test("down for 15 s with writes on both sides, the same file included: all of it arrives, the clash kept as a conflict copy", async () => {
    await pair.put(ana, "shared.txt", "the first version\n");
    await pair.converged("before the outage");

    await relay.kill();
    const killedAt = Date.now();
    await pair.offline("after the relay was killed");
    await pair.put(ana, "from-ana.txt", "ana, offline\n");
    await pair.put(ben, "from-ben.bin", randomBytes(3 * MiB));
    await pair.put(ana, "shared.txt", "ana's edit while the relay was down\n");
    await pair.put(ben, "shared.txt", "ben's edit while the relay was down, a different one\n");
    await until(killedAt + 15_000);

    await relay.start();
    const back = await pair.online("after the relay restarted");
    console.log(`back online after a 15 s outage: ${back.map((ms) => `${ms} ms`).join(", ")}`);
    const files = await pair.converged("after the restart");
    expect(files.get("from-ana.txt")).toBeDefined();
    expect(files.get("from-ben.bin")).toBe(pair.last("from-ben.bin"));
    // Both edits of shared.txt are on disk: one at its path, the other as a conflict copy.
    const edits = pair.written
      .get("shared.txt")!
      .slice(1)
      .map((v) => v.sha);
    for (const sha of edits) expect([...files.values()]).toContain(sha);
    await pair.nothingLost();
  }, 120_000);
});

describe("the network between the daemons and the relay fails (through a fault proxy)", () => {
  let relay: RelayProcess;
  let pair: Pair;
  let cy: Device;
  let dee: Device;
  let proxy: FaultProxy;

  beforeAll(async () => {
    relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
    disposables.push(() => relay.dispose());
    proxy = await startFaultProxy(relay.url);
    disposables.push(() => proxy.close());
    // Both register through the proxy (an invite names one relay URL): everything either
    // daemon sends goes through it.
    const base = await mkdtemp(join(scratchRoot(), "weft-faults-"));
    disposables.push(() => rm(base, { recursive: true, force: true }));
    const [c, d] = await Promise.all([
      makeDevice("cy", join(base, "cy")),
      makeDevice("dee", join(base, "dee")),
    ]);
    await Promise.all([enroll(c, proxy.url), enroll(d, proxy.url)]);
    pair = new Pair([c, d], await shareFolder(c, d));
    [cy, dee] = [c, d];
  }, 60_000);

  beforeEach(async () => {
    if (!relay.running()) await relay.start();
    await proxy.pass();
    await pair.up();
  }, 60_000);

  afterEach(async () => {
    await pair.kill();
  });

  test("the relay killed (-9) while multi-MiB uploads and downloads are in flight: every byte arrives", async () => {
    // A slower link (each chunk held 2 ms) so that the transfers are still going when it dies.
    await proxy.delay(2);
    // Cy's uploads are nearly all the bytes going up, Dee's downloads nearly all coming down.
    const up0 = proxy.bytesUp;
    const down0 = proxy.bytesDown;
    const total = 4 * 6 * MiB;
    for (let i = 0; i < 4; i++) await pair.put(cy, `big-${i}.bin`, randomBytes(6 * MiB));
    // Dee downloads the first files while Cy still uploads the last ones.
    await waitFor(
      () => proxy.bytesDown - down0 > MiB,
      60_000,
      `dee to start downloading\n${pair.logs(cy)}\n${pair.logs(dee)}`,
    );
    const uploaded = proxy.bytesUp - up0;
    const downloaded = proxy.bytesDown - down0;
    await relay.kill();
    expect(uploaded).toBeLessThan(total); // still uploading
    expect(downloaded).toBeLessThan(total); // still downloading
    await pair.offline("after the relay was killed");
    await relay.start();
    await proxy.pass();
    await pair.online("after the relay restarted");
    const files = await pair.converged("after the restart", 60_000);
    for (let i = 0; i < 4; i++) expect(files.get(`big-${i}.bin`)).toBe(pair.last(`big-${i}.bin`));
  }, 120_000);

  test("a stalled connection (packets go nowhere) is noticed and replaced once the network passes again", async () => {
    await proxy.stall();
    // No close, no error: only the keepalive can tell the connection is gone.
    await pair.offline("while the network is stalled");
    await pair.put(cy, "during-stall.txt", "written while the network was stalled\n");
    await proxy.pass();
    await pair.online("after the stall");
    const files = await pair.converged("after the stall");
    expect(files.get("during-stall.txt")).toBeDefined();
  }, 90_000);

  test("connections cut mid-frame, reset, then refused for a few seconds: each time it comes back and converges", async () => {
    // Cut in the middle of an upload: the first bytes of a frame get through, then nothing.
    await proxy.drop();
    await pair.put(cy, "cut.bin", randomBytes(2 * MiB));
    await waitFor(() => proxy.dropped >= 2, 20_000, `two cut connections\n${pair.logs(cy)}`);
    await proxy.pass();
    await pair.online("after connections were cut");
    expect((await pair.converged("after connections were cut")).get("cut.bin")).toBeDefined();

    // Reset: every connection, and each new one, gets an RST.
    const resets = proxy.resets;
    await proxy.reset();
    await pair.put(dee, "reset.txt", "written while connections were reset\n");
    await waitFor(
      () => proxy.resets >= resets + 2,
      20_000,
      `a reconnect to be reset\n${pair.logs(dee)}`,
    );
    await proxy.pass();
    await pair.online("after resets");
    expect((await pair.converged("after resets")).get("reset.txt")).toBeDefined();

    // Refused: the open connection is reset first, then nothing listens for 3 s.
    await proxy.reset();
    await proxy.refuse(); // (reset first, or a reconnect could slip in before the refusing)
    const refusedAt = Date.now();
    await pair.put(cy, "refused.txt", "written while connections were refused\n");
    await waitFor(
      async () => (await connection(cy, pair.folderId)) !== "online",
      20_000,
      "cy offline",
    );
    await until(refusedAt + 3000);
    await proxy.pass();
    const back = await pair.online("after refusals");
    console.log(`back online after 3 s of refusals: ${back.map((ms) => `${ms} ms`).join(", ")}`);
    expect((await pair.converged("after refusals")).get("refused.txt")).toBeDefined();
    await pair.nothingLost();
  }, 120_000);
});
