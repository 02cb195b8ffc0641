// The relay goes away while `weft sync` daemons run (real processes, loopback): killed (-9) for
// a second, and for 15 s with writes on both sides. After each outage both daemons must be
// back online by themselves and the devices converge: the same tree and bytes, nothing partial
// or corrupt, no `.weft-tmp-*` left, every version written current, a conflict copy or in
// history. See agent-faults-network.test.ts for faults of the network in between.
//
// The outages last a set time (that is the fault); every other wait is a condition with a
// timeout. How long a daemon took to come back is printed; the bound asserted (BACK_ONLINE_MS)
// is about correctness: the backoff cap (--reconnect-max, default 2 s) with a wide margin, which
// a daemon that gave up, or backs off toward 30 s, misses.
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from "vitest";
import { type RelayProcess, scratchRoot, startRelayProcess } from "@weft/test-support";
import { MiB, type TestDevice, pairOn, until, userStatus } from "./helpers/fault-pair.js";

let relay: RelayProcess;
let pair: Awaited<ReturnType<typeof pairOn>>;
let ana: TestDevice;
let ben: TestDevice;

beforeAll(async () => {
  relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
  pair = await pairOn(relay.url, ["ana", "ben"]);
  [ana, ben] = [pair.devices[0]!, pair.devices[1]!];
}, 60_000);

beforeEach(async () => {
  if (!relay.running()) await relay.start();
  await pair.up(); // the daemons keep running from one test to the next unless one failed
}, 60_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail") await pair.kill();
});

afterAll(async () => {
  await pair?.dispose();
  await relay?.dispose();
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
  expect(files.get("from-ana.txt")).toBe(pair.last("from-ana.txt"));
  expect(files.get("from-ben.bin")).toBe(pair.last("from-ben.bin"));
  // Both edits of shared.txt are on disk: one at its path, the other as a conflict copy.
  const edits = pair.written.get("shared.txt")!.slice(1);
  for (const { sha } of edits) expect([...files.values()]).toContain(sha);
  await pair.nothingLost(); // the first version, replaced by both, is in history
}, 120_000);
