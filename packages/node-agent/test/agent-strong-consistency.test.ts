// A strong-consistency folder through the CLI against a relay process (issue 20): ana creates it
// with `weft folder create --consistency strong` and syncs it (weft sync --once), bob joins it
// without a path (the invite carries the mode) and uses weft put; both write notes.txt. A write made from a version that another device replaced first is
// refused: `weft put` exits 3 with "changed elsewhere; your version is kept as …", the folder
// never shows a conflict copy, `weft refused` lists the change and `weft reapply` writes it on
// top of the new version. A change made while the relay is down is queued in the folder's
// state and checked when the next command reaches the relay. Many files saved at once go up a
// few envelopes (the relay's log entries), and one made from a replaced version among them is
// refused alone. A directory deleted in ana's folder leaves the folder.
import { mkdir, readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  startRelayProcess,
  writeSettled,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };
let relay: RelayProcess;
let ana: TestDevice;
let bob: TestDevice;
let folderId: string;
const MiB = 1024 * 1024;

async function content(dev: Device, path: string): Promise<string> {
  const got = await dev.run(["get", folderId, path, "-"]);
  expect(got.status, got.stderr).toBe(0);
  return got.stdout;
}

/** Envelopes the relay appended to folder logs so far (its /metrics). */
async function appended(): Promise<number> {
  const metrics = await (await fetch(`${relay.url}/metrics`)).text();
  return Number(/^weft_relay_envelopes_appended_total (\d+)$/m.exec(metrics)?.[1]);
}

async function paths(dev: Device): Promise<string[]> {
  const listed = await dev.ok(["ls", folderId]);
  return (listed["entries"] as { path: string }[]).map((e) => e.path);
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, bob] = await Promise.all([makeDevice("ana"), makeDevice("bob")]);
  await Promise.all([ana, bob].map((d) => enroll(d, relay.url)));
  const created = await ana.ok(["folder", "create", ana.folder, "--consistency", "strong"]);
  expect(created).toMatchObject({ consistency: "strong" });
  folderId = created["folderId"] as string;
  const { invite } = await ana.ok(["folder", "invite", folderId]);
  await bob.ok(["folder", "join", "-"], { input: `${invite as string}\n` });
  // ana syncs the folder (she created it at a path): she changes its files, not through put.
  const put = await ana.run(["put", folderId, "notes.txt", "-"], { input: "v1 by ana\n" });
  expect(put.status, put.stderr).toBe(2);
  await anaWrites("v1 by ana\n");
}, 60_000);

/**
 * ana saves notes.txt in her synced folder (caught up: else her save is made from an older
 * version, and refused); `weft sync --once` exits once the relay has it.
 */
async function anaWrites(text: string): Promise<void> {
  await writeSettled(join(ana.folder, "notes.txt"), text);
  await ana.ok(["sync", "--once"]);
}

afterAll(async () => {
  await Promise.all([ana, bob].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("a strong-consistency folder through the CLI", () => {
  test("a put made from a version another device replaced first exits 3, is kept, and re-applies on the new version", async () => {
    expect(await content(bob, "notes.txt")).toBe("v1 by ana\n");
    // bob starts writing: its put has caught up (head v1) and reads stdin. More than any pipe
    // and stream buffer holds, so stdin drains only once the command reads it ...
    const child = bob.spawn(["put", folderId, "notes.txt", "-", "--json"]);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const bobBody = `v2 by bob\n${"b".repeat(MiB)}\n`;
    if (!child.stdin!.write(bobBody))
      await new Promise<void>((resolve) => child.stdin!.once("drain", () => resolve()));
    // ... and ana's write lands while it still reads (she has her own state: no shared lock).
    await anaWrites("v2 by ana\n");
    child.stdin!.end();
    expect(await exited, err).toBe(3);
    expect(err).toMatch(/notes\.txt: changed elsewhere; your version is kept as refused write \d+/);
    expect(JSON.parse(out)).toMatchObject({ error: { code: "REFUSED" } });

    // No conflict copy anywhere: one file, ana's version.
    expect(await paths(ana)).toEqual(["notes.txt"]);
    expect(await content(bob, "notes.txt")).toBe("v2 by ana\n");
    const { refused } = await bob.ok(["refused", folderId]);
    expect(refused).toMatchObject([
      { path: "notes.txt", kind: "write", reason: "changed elsewhere" },
    ]);
    const id = (refused as { id: string }[])[0]!.id;

    expect(await bob.ok(["reapply", folderId, id])).toMatchObject({
      path: "notes.txt",
      discarded: false,
    });
    // ana saves the file in her folder before it caught up with bob's version: her save is
    // refused (weft sync --once exits 3), kept, and bob's version written in her folder; no
    // conflict copy. She drops hers (weft reapply --discard on her synced folder).
    await writeSettled(join(ana.folder, "notes.txt"), "ana's late edit\n");
    const late = await ana.run(["sync", "--once"]);
    expect(late.status, late.stderr).toBe(3);
    expect(late.stderr).toMatch(/notes\.txt: changed elsewhere; your version is kept as refused/);
    expect(await readFile(join(ana.folder, "notes.txt"), "utf8")).toBe(bobBody);
    expect(await readdir(ana.folder)).toEqual(["notes.txt"]);
    const [kept] = (await ana.ok(["refused", folderId]))["refused"] as { id: string }[];
    expect(await ana.ok(["reapply", folderId, kept!.id, "--discard"])).toMatchObject({
      path: "notes.txt",
      discarded: true,
    });
    expect((await ana.ok(["refused", folderId]))["refused"]).toEqual([]);
    expect(await content(ana, "notes.txt")).toBe(bobBody);
    expect(await paths(ana)).toEqual(["notes.txt"]);
    expect((await bob.ok(["refused", folderId]))["refused"]).toEqual([]);
  });

  test("a change made while the relay is down is queued and checked when it is back", async () => {
    // bob's put has caught up and reads stdin when the relay goes away: the change is queued
    // in bob's state for the folder, and the command exits 1.
    const child = bob.spawn(["put", folderId, "notes.txt", "-"]);
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    if (!child.stdin!.write(`offline by bob\n${"o".repeat(MiB)}\n`))
      await new Promise<void>((resolve) => child.stdin!.once("drain", () => resolve()));
    await relay.stop();
    child.stdin!.end();
    expect(await exited, err).toBe(1);
    expect(err).toMatch(/kept here and sent by the next weft command/);
    await relay.start();
    await anaWrites("v3 by ana\n");
    // bob's next command sends the queued change: the file changed elsewhere first.
    const listed = await bob.run(["ls", folderId]);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stderr).toMatch(
      /notes\.txt: changed elsewhere; your version is kept as refused write/,
    );
    expect(await content(ana, "notes.txt")).toBe("v3 by ana\n");
    expect(await paths(ana)).toEqual(["notes.txt"]);
    expect((await bob.ok(["refused", folderId]))["refused"]).toMatchObject([
      { path: "notes.txt", reason: "changed elsewhere" },
    ]);
  });

  test("many files saved at once go up in a few envelopes; the one made from an old version is refused alone", async () => {
    const BATCH = 60;
    // bob replaces notes.txt through the relay (his refused change of the test before dropped);
    // ana's folder has not caught up with it.
    for (const { id } of (await bob.ok(["refused", folderId]))["refused"] as { id: string }[])
      await bob.ok(["reapply", folderId, id, "--discard"]);
    const put = await bob.run(["put", folderId, "notes.txt", "-"], { input: "v4 by bob\n" });
    expect(put.status, put.stderr).toBe(0);
    await mkdir(join(ana.folder, "batch"));
    for (let i = 0; i < BATCH; i++)
      await writeSettled(join(ana.folder, "batch", `f${i}.txt`), `file ${i}\n`);
    await writeSettled(join(ana.folder, "notes.txt"), "ana's edit of an older version\n");
    const before = await appended();
    const synced = await ana.run(["sync", "--once"]);
    expect(synced.status, synced.stderr).toBe(3);
    expect(synced.stderr).toMatch(/notes\.txt: changed elsewhere; your version is kept as refused/);
    // One envelope per file would be 60 log entries; a few batches are what is stored.
    expect((await appended()) - before).toBeLessThan(10);
    const listed = await bob.ok(["ls", folderId, "batch"]);
    expect((listed["entries"] as unknown[]).length).toBe(BATCH);
    expect((await ana.ok(["refused", folderId]))["refused"]).toMatchObject([
      { path: "notes.txt", reason: "changed elsewhere" },
    ]);
    expect(await readFile(join(ana.folder, "notes.txt"), "utf8")).toBe("v4 by bob\n");
    expect(await paths(ana)).toEqual(["batch", "notes.txt"]);
  });

  test("a directory deleted in the synced folder is gone from the folder, not left behind empty", async () => {
    await mkdir(join(ana.folder, "gone", "sub"), { recursive: true });
    await writeSettled(join(ana.folder, "gone", "a.txt"), "a\n");
    await writeSettled(join(ana.folder, "gone", "sub", "b.txt"), "b\n");
    await ana.ok(["sync", "--once"]);
    expect(await paths(bob)).toContain("gone");
    await rm(join(ana.folder, "gone"), { recursive: true });
    await ana.ok(["sync", "--once"]);
    expect(await readdir(ana.folder)).not.toContain("gone");
    expect(await paths(bob)).not.toContain("gone");
  });
});
