// A daemon starts even while another `weft` command is using the device's state: a monitoring
// script's `weft status` (which opens the folders itself while no daemon runs) must not make
// `weft sync` exit with "weft sync is running". On a loaded machine a command can sit on the
// lock for seconds; this made the daemon test flaky, whose own status polling held the lock
// when the daemon started. Here the command is frozen (SIGSTOP) while it holds the lock.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  killHard,
  makeDevice,
  startRelayProcess,
  waitFor,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
const children: ChildProcess[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  await enroll(ana, relay.url);
  await ana.ok(["folder", "create", ana.folder]);
}, 60_000);

afterAll(async () => {
  for (const c of children) {
    c.kill("SIGCONT");
    await killHard(c);
  }
  await ana?.dispose();
  await relay?.dispose();
});

/** Starts `weft status` and freezes it while it holds the home's sync lock. */
function statusFrozenHoldingTheLock(): ChildProcess {
  const lock = join(ana.home, "sync.pid");
  for (let attempt = 0; attempt < 20; attempt++) {
    const child = ana.spawn(["status", "--json"]);
    children.push(child);
    // A tight synchronous poll: the lock is held for some milliseconds only.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null) {
      let text = "";
      try {
        text = readFileSync(lock, "utf8");
      } catch {
        // not taken yet
      }
      if (text.trim().split(/\s+/)[0] === String(child.pid)) {
        child.kill("SIGSTOP");
        return child;
      }
    }
  }
  throw new Error("weft status was never caught holding the lock");
}

test("weft sync waits for a command holding the state, then starts", async () => {
  const frozen = statusFrozenHoldingTheLock();
  const daemon = ana.spawn(["sync", "--rescan", "30"]);
  children.push(daemon);
  let stderr = "";
  daemon.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  await waitFor(
    () => {
      if (daemon.exitCode !== null)
        throw new Error(`weft sync exited ${daemon.exitCode}: ${stderr}`);
      return stderr.includes(`waiting for another weft command (pid ${frozen.pid}) to finish`);
    },
    20_000,
    "the daemon to say it waits",
  );
  frozen.kill("SIGCONT");
  await waitFor(
    async () => {
      if (daemon.exitCode !== null)
        throw new Error(`weft sync exited ${daemon.exitCode}: ${stderr}`);
      return (await ana.run(["status", "--json"])).json?.["daemon"] === daemon.pid;
    },
    30_000,
    "the daemon to run",
  );
  const stopped = new Promise((resolve) => daemon.once("exit", resolve));
  daemon.kill("SIGTERM");
  expect(await stopped).toBe(0);
}, 90_000);
