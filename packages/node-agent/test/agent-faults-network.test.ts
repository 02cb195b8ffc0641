// The network between `weft sync` daemons and the relay fails (real processes, loopback, a TCP
// fault proxy in between): the relay killed (-9) while multi-MiB uploads and downloads cross a
// slow link; connections stalled (nothing passes, not even a close, so only the keepalive can
// tell), a daemon started during a stall, connections cut mid-frame, reset, and refused. After
// each fault both daemons must be back online by themselves and the devices converge (see
// Pair.converged). The daemons run with --keepalive 1 (WEFT_KEEPALIVE) so a stall is noticed
// within seconds; every wait is a condition with a timeout.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from "vitest";
import {
  type FaultProxy,
  type RelayProcess,
  makeDevice,
  scratchRoot,
  shareFolder,
  enroll,
  startFaultProxy,
  startRelayProcess,
  waitFor,
} from "@weft/test-support";
import { MiB, Pair, type TestDevice, until } from "./helpers/fault-pair.js";

let relay: RelayProcess;
let proxy: FaultProxy;
let pair: Pair;
let cy: TestDevice;
let dee: TestDevice;
let base: string;

beforeAll(async () => {
  relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
  proxy = await startFaultProxy(relay.url);
  // Both register through the proxy (an invite names one relay URL): everything either
  // daemon sends goes through it.
  base = await mkdtemp(join(scratchRoot(), "weft-faults-"));
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
  await pair.up(); // the daemons keep running from one test to the next unless one failed
}, 60_000);

afterEach(async (ctx) => {
  if (ctx.task.result?.state === "fail") await pair.kill();
});

afterAll(async () => {
  await pair?.kill();
  await proxy?.close();
  await relay?.dispose();
  if (base) await rm(base, { recursive: true, force: true });
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

test("a daemon started while the network is stalled says it is offline, and connects once it passes", async () => {
  await pair.kill();
  await proxy.stall();
  pair.start();
  await pair.offline("started during a stall");
  await pair.put(dee, "after-stall.txt", "written by a daemon that started in a stall\n");
  await proxy.pass();
  await pair.online("after the stall");
  expect((await pair.converged("after the stall")).get("after-stall.txt")).toBeDefined();
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
    async () => ![undefined, "online"].includes(await pair.connection(cy)),
    20_000,
    "cy offline",
  );
  await until(refusedAt + 3000);
  await proxy.pass();
  const back = await pair.online("after refusals");
  console.log(`back online after 3 s of refusals: ${back.map((ms) => `${ms} ms`).join(", ")}`);
  expect((await pair.converged("after refusals")).get("refused.txt")).toBeDefined();
}, 120_000);
