// One relay reached at several addresses (issue 17, "Clients"): real `weft` processes, one relay
// process, and two TCP proxies in front of it standing for two addresses of the same relay
// (two relays sharing their state behind one name look the same to a client). Ana logs in with
// both addresses, Ben with the first and the relay's own port. The first proxy is killed in the
// middle of a sync and stays dead: both daemons move to their other address by themselves, keep
// syncing, lose nothing and make no conflict copy; a CLI command run meanwhile works too.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type FaultProxy,
  type RelayProcess,
  makeDevice,
  scratchRoot,
  shareFolder,
  startFaultProxy,
  startRelayProcess,
  waitFor,
} from "@weft/test-support";
import { MiB, Pair, type TestDevice } from "./helpers/fault-pair.js";

let relay: RelayProcess;
let first: FaultProxy;
let second: FaultProxy;
let pair: Pair;
let ana: TestDevice;
let ben: TestDevice;
let base: string;

beforeAll(async () => {
  relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
  [first, second] = await Promise.all([startFaultProxy(relay.url), startFaultProxy(relay.url)]);
  base = await mkdtemp(join(scratchRoot(), "weft-addresses-"));
  [ana, ben] = await Promise.all([
    makeDevice("ana", join(base, "ana")),
    makeDevice("ben", join(base, "ben")),
  ]);
  await Promise.all([ana.ok(["init"]), ben.ok(["init"])]);
  const login = await ana.ok([
    "account",
    "register",
    ...["--relay", first.url, "--relay", second.url, "--user", "ana"],
  ]);
  expect(login["relay"]).toBe(first.url);
  expect(login["relays"]).toEqual([first.url, second.url]);
  // Ben logs in with one address, then adds the other: the login holds on both.
  await ben.ok(["account", "register", "--relay", first.url, "--user", "ben"]);
  const set = await ben.ok(["account", "relays", first.url, relay.url]);
  expect(set["relays"]).toEqual([first.url, relay.url]);
  // The invite names the relay's identity (the first address); Ben's account matches it.
  pair = new Pair([ana, ben], await shareFolder(ana, ben));
  await pair.up();
}, 60_000);

afterAll(async () => {
  await pair?.kill();
  await Promise.all([first?.close(), second?.close()]);
  await relay?.dispose();
  if (base) await rm(base, { recursive: true, force: true });
});

test("the first address dies mid-sync: both devices move to another one and lose nothing", async () => {
  await pair.put(ana, "before.txt", "written while both addresses worked\n");
  expect((await pair.converged("before the fault")).get("before.txt")).toBe(
    pair.last("before.txt"),
  );

  // A slower first address, so that the transfer is still going when it dies.
  await first.delay(2);
  const down0 = first.bytesDown;
  for (let i = 0; i < 3; i++) await pair.put(ana, `big-${i}.bin`, randomBytes(3 * MiB));
  await waitFor(
    () => first.bytesDown - down0 > MiB / 2,
    30_000,
    `ben to start downloading through the first address\n${pair.logs(ana)}\n${pair.logs(ben)}`,
  );
  await first.close(); // killed: open connections cut, new ones refused, for good
  await pair.put(ben, "after.txt", "written by ben once the first address was gone\n");

  await pair.online("on the other address");
  const files = await pair.converged("after the first address died", 60_000);
  for (const rel of ["before.txt", "after.txt", "big-0.bin", "big-1.bin", "big-2.bin"])
    expect(files.get(rel), rel).toBe(pair.last(rel));
  // Ana went on through the second address, Ben through the relay's own port; the log says so.
  expect(second.bytesUp).toBeGreaterThan(0);
  const log = await readFile(join(ana.home, "logs", "weft.log"), "utf8");
  expect(log).toContain(`"address":"${second.url}"`);
  for (const dev of [ana, ben])
    expect((await dev.ok(["conflicts"]))["conflicts"], dev.name).toEqual([]);

  // Edits keep flowing both ways with the first address still dead.
  await pair.put(ben, "before.txt", "edited by ben, first address still dead\n");
  await pair.put(ana, "late.txt", "written by ana, first address still dead\n");
  const again = await pair.converged("still without the first address");
  expect(again.get("before.txt")).toBe(pair.last("before.txt"));
  expect(again.get("late.txt")).toBe(pair.last("late.txt"));
}, 120_000);

test("a command that calls the relay works while the first address is dead", async () => {
  // Stopped, so that the command is a process of its own (its first request goes to the dead
  // address, is refused, and goes to the next one).
  await pair.stop();
  const members = await ana.ok(["folder", "members", pair.folderId]);
  const users = (members["members"] as { user: string }[]).map((m) => m.user).sort();
  expect(users).toEqual(["ana", "ben"]);
  const status = await ben.ok(["status"]);
  expect((status["folders"] as unknown[]).length).toBe(1);
  // The identity stays first: invites and folders name it.
  const swapped = await ana.run(["account", "relays", second.url, first.url, "--json"]);
  expect(swapped.status).toBe(2);
  expect(swapped.stdout).toContain("identity");
  expect((await ana.ok(["account", "relays"]))["relays"]).toEqual([first.url, second.url]);
  // An account stored before there could be several addresses (one `relay`) still works.
  const accountsPath = join(ben.home, "accounts.json");
  const records = JSON.parse(await readFile(accountsPath, "utf8")) as Record<string, unknown>[];
  expect(records[0]!["relays"]).toEqual([first.url, relay.url]);
  delete records[0]!["relays"];
  await writeFile(accountsPath, JSON.stringify(records));
  expect((await ben.ok(["account", "relays"]))["relays"]).toEqual([first.url]);
}, 60_000);
