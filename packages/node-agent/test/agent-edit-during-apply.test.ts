// A file edited on this device after a scan, while another device's version of it arrives: the
// apply must not write over the local edit (it was never scanned, so the replica does not have
// it). Both versions survive: the local edit stays at the file's name, the other device's version
// is written beside it as a conflict copy, and both reach the other device.
//
// Ben's side runs in this process (the agent's own FolderSync, connected to a real relay process)
// so the edit can land exactly between its scan and its apply; ana is the real `weft` CLI.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ready } from "@weft/crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Home } from "../src/home/index.js";
import type { FolderSync } from "../src/sync/folder-sync.js";
import { openFolders } from "../src/sync/run.js";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  shareFolder,
  startRelayProcess,
  writeSettled,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
let benSync: FolderSync | undefined;

const ORIGINAL = "the plan, version 0\n";
const ANA = "ana's edit, sent while ben was busy\n";
const BEN = "ben's edit, made after ben's scan and before the apply\n";

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await writeSettled(join(ana.folder, "plan.txt"), ORIGINAL);
  await shareFolder(ana, ben);
  await ana.ok(["sync", "--once"]);
  await ben.ok(["sync", "--once"]);
}, 60_000);

afterAll(async () => {
  await benSync?.close();
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("a local edit between scan and apply", () => {
  test("is kept; the incoming version goes beside it as a conflict copy; both reach ana", async () => {
    expect(await readFile(join(ben.folder, "plan.txt"), "utf8")).toBe(ORIGINAL);
    await writeSettled(join(ana.folder, "plan.txt"), ANA);
    await ana.ok(["sync", "--once"]);

    await ready();
    const home = new Home(ben.home);
    [benSync] = await openFolders(home, await home.device(), await home.folders(), true);
    const s = benSync!;
    expect((await s.scan()).changes).toBe(0); // nothing changed here yet
    await writeSettled(join(ben.folder, "plan.txt"), BEN); // the scan did not see this
    await s.replica.syncOnce(); // ana's edit arrives
    await s.apply();

    expect(await readFile(join(ben.folder, "plan.txt"), "utf8")).toBe(BEN);
    const copies = (await readdir(ben.folder)).filter((n) => n.startsWith("plan.sync-conflict-"));
    expect(copies).toHaveLength(1);
    expect(await readFile(join(ben.folder, copies[0]!), "utf8")).toBe(ANA);
    expect(s.errors.map((e) => e.message)).toContainEqual(
      expect.stringContaining(`theirs is in ${copies[0]}`),
    );

    // The next pass records both as ben's changes and sends them.
    await s.syncOnce();
    await s.close();
    benSync = undefined;
    await ana.ok(["sync", "--once"]);
    expect(await readFile(join(ana.folder, "plan.txt"), "utf8")).toBe(BEN);
    expect(await readFile(join(ana.folder, copies[0]!), "utf8")).toBe(ANA);
    // Ana's version is also in the file's history there.
    const { versions } = (await ana.ok(["history", join(ana.folder, "plan.txt")])) as {
      versions: { size: number }[];
    };
    expect(versions.map((v) => v.size)).toContain(Buffer.byteLength(ANA));
  }, 90_000);
});
