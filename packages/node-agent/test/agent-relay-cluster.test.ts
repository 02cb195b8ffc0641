// Relays scaled out (issue 17), as an operator runs them and users use them: three relay
// processes over one PostgreSQL database, one s3rver bucket and NATS, and real `weft` daemons.
// Ana's account lists relays A and B, Ben's A and C. Relay A is killed (-9) in the middle of a
// sync and stays dead: Ana moves to B and Ben to C by themselves, so that from then on every
// change crosses relays through NATS; nothing either had written is lost, and no conflict copy
// is made.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type RelayCluster,
  type RelayProcess,
  type S3rverHandle,
  makeDevice,
  scratchRoot,
  shareFolder,
  startRelayCluster,
  waitFor,
} from "@weft/test-support";
import { MiB, Pair, type TestDevice } from "./helpers/fault-pair.js";

let cluster: RelayCluster;
let s3: S3rverHandle;
let relays: RelayProcess[] = [];
let pair: Pair;
let ana: TestDevice;
let ben: TestDevice;
let base: string;

beforeAll(async () => {
  cluster = await startRelayCluster(3, "weft-agents");
  ({ relays, s3 } = cluster);
  const [a, b, c] = relays.map((r) => r.url) as [string, string, string];
  base = await mkdtemp(join(scratchRoot(), "weft-cluster-"));
  [ana, ben] = await Promise.all([
    makeDevice("ana", join(base, "ana")),
    makeDevice("ben", join(base, "ben")),
  ]);
  await Promise.all([ana.ok(["init"]), ben.ok(["init"])]);
  await ana.ok(["account", "register", "--relay", a, "--relay", b, "--user", "ana"]);
  await ben.ok(["account", "register", "--relay", a, "--relay", c, "--user", "ben"]);
  pair = new Pair([ana, ben], await shareFolder(ana, ben));
  await pair.up();
}, 90_000);

afterAll(async () => {
  await pair?.kill();
  await cluster?.dispose();
  if (base) await rm(base, { recursive: true, force: true });
});

test("relay A is killed mid-sync: ana moves to B, ben to C, and through NATS they lose nothing", async () => {
  await pair.put(ana, "before.txt", "written while relay A was up\n");
  expect((await pair.converged("before the kill")).get("before.txt")).toBe(pair.last("before.txt"));

  // Large enough that the sync is still going when A dies; A is killed once the first chunks
  // of it have reached the bucket through A.
  const objects = (): Promise<number> =>
    readdir(s3.directory, { recursive: true })
      .then((names) => names.filter((n) => n.endsWith("._S3rver_object")).length)
      .catch(() => 0);
  const before = await objects();
  for (let i = 0; i < 3; i++) await pair.put(ana, `big-${i}.bin`, randomBytes(4 * MiB));
  await waitFor(
    async () => (await objects()) > before,
    30_000,
    `ana to start uploading through relay A\n${pair.logs(ana)}`,
  );
  await relays[0]!.kill();
  await pair.put(ben, "after.txt", "written by ben once relay A was gone\n");

  await pair.online("on the other relays");
  const files = await pair.converged("after relay A died", 60_000);
  for (const rel of ["before.txt", "after.txt", "big-0.bin", "big-1.bin", "big-2.bin"])
    expect(files.get(rel), rel).toBe(pair.last(rel));
  for (const dev of [ana, ben])
    expect((await dev.ok(["conflicts"]))["conflicts"], dev.name).toEqual([]);
  // Each moved to its own other relay; the daemons' logs say where.
  const logOf = (dev: TestDevice): Promise<string> =>
    readFile(join(dev.home, "logs", "weft.log"), "utf8");
  expect(await logOf(ana)).toContain(`"address":"${relays[1]!.url}"`);
  expect(await logOf(ben)).toContain(`"address":"${relays[2]!.url}"`);

  // Each on a relay of its own now: edits still flow both ways, live.
  await pair.put(ben, "before.txt", "edited by ben through relay C\n");
  await pair.put(ana, "late.txt", "written by ana through relay B\n");
  const again = await pair.converged("across relays B and C");
  expect(again.get("before.txt")).toBe(pair.last("before.txt"));
  expect(again.get("late.txt")).toBe(pair.last("late.txt"));
}, 150_000);
