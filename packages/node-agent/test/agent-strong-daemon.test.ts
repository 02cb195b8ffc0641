// A strong-consistency folder synced by two `weft sync` daemons against a relay process (issue
// 20): ana and bob edit notes.txt from the same version. Exactly one edit is accepted; the
// other is refused, reported by `weft status` as "changed elsewhere; your version is kept as …",
// and its bytes are kept (in the refused change) while the winner's version is written to that
// device's disk; no conflict copy ever appears on either disk. `weft refused` and `weft reapply`
// reach the running daemon; re-applied, the loser's version is on top on both disks. Edits made
// while the relay is down stay on disk as written, queue, and are checked when it is back; the
// loser's dashboard lists its refused change and drops it.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  type UiProcess,
  rawRequest,
  startRelayProcess,
  startUi,
  stopProcess,
  waitFor,
  writeSettled,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };
type Refused = { id: string; path: string; kind: string; reason: string; message: string };
type Status = { connection: string; queued: number; refused: Refused[]; conflicts: number };

let relay: RelayProcess;
let ana: TestDevice;
let bob: TestDevice;
let folderId: string;
/** Each device's `weft sync --ui`: the daemon, with its dashboard. */
const uis = new Map<Device, UiProcess>();
const bobsEdit = "bob's edit\n";

const read = (dev: Device, rel: string) =>
  readFile(join(dev.folder, rel), "utf8").catch(() => undefined);

/** Every name on disk under the folder (conflict copies would show here). */
async function names(dev: Device): Promise<string[]> {
  return (await readdir(dev.folder, { recursive: true })).sort();
}

async function status(dev: Device): Promise<Status> {
  return ((await dev.ok(["status"]))["folders"] as Status[])[0]!;
}

/** Fails the test at once if either disk shows a conflict copy. */
async function noConflictCopy(): Promise<void> {
  for (const dev of [ana, bob])
    expect((await names(dev)).filter((n) => /sync-conflict|conflict/i.test(n))).toEqual([]);
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, bob] = await Promise.all([makeDevice("ana"), makeDevice("bob")]);
  await Promise.all([ana, bob].map((d) => enroll(d, relay.url)));
  const created = await ana.ok(["folder", "create", ana.folder, "--consistency", "strong"]);
  folderId = created["folderId"] as string;
  const { invite } = await ana.ok(["folder", "invite", folderId]);
  await bob.ok(["folder", "join", "-", bob.folder], { input: `${invite as string}\n` });
  for (const dev of [ana, bob]) {
    const ui = await startUi(dev, ["sync", "--ui", "--rescan", "600", "--reconnect-max", "1"]);
    uis.set(dev, ui);
    await waitFor(
      async () => (await dev.ok(["status"]))["daemon"] === ui.child.pid,
      20_000,
      `${dev.name}'s daemon`,
    );
  }
  await writeSettled(join(ana.folder, "notes.txt"), "v1 by ana\n");
  await waitFor(async () => (await read(bob, "notes.txt")) === "v1 by ana\n", 20_000, "v1 at bob");
}, 60_000);

afterAll(async () => {
  await Promise.all([...uis.values()].map((ui) => stopProcess(ui.child)));
  await Promise.all([ana, bob].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("a strong folder synced by weft sync", () => {
  test("two devices edit one file from the same version: one wins, the other's edit is reported and kept, and re-applied on top", async () => {
    // bob's daemon is paused while both edit: his edit is made from v1, as ana's is.
    await bob.ok(["folder", "pause", bob.folder]);
    await writeSettled(join(bob.folder, "notes.txt"), bobsEdit);
    await writeSettled(join(ana.folder, "notes.txt"), "ana's edit\n");
    await ana.ok(["sync", "--once"]); // through ana's daemon: the relay has her edit
    await bob.ok(["folder", "resume", bob.folder]);

    await waitFor(async () => (await status(bob)).refused.length === 1, 20_000, "bob refused");
    const [refused] = (await status(bob)).refused;
    expect(refused).toMatchObject({
      path: "notes.txt",
      kind: "write",
      reason: "changed elsewhere",
    });
    const human = await bob.run(["status"]);
    expect(human.stdout).toMatch(
      new RegExp(
        `notes\\.txt: changed elsewhere; your version is kept as refused write ${refused!.id}`,
      ),
    );
    // The winner's version on both disks, never a conflict copy; bob's bytes are in the refused
    // change, listed by the daemon.
    await waitFor(
      async () => (await read(bob, "notes.txt")) === "ana's edit\n",
      20_000,
      "ana's at bob",
    );
    expect(await read(ana, "notes.txt")).toBe("ana's edit\n");
    await noConflictCopy();
    expect((await bob.ok(["refused", folderId]))["refused"]).toMatchObject([
      { id: refused!.id, path: "notes.txt" },
    ]);

    const done = await bob.ok(["reapply", folderId, refused!.id]);
    expect(done).toMatchObject({ path: "notes.txt", discarded: false, sent: true });
    for (const dev of [bob, ana])
      await waitFor(
        async () => (await read(dev, "notes.txt")) === bobsEdit,
        20_000,
        `bob's edit at ${dev.name}`,
      );
    await noConflictCopy();
    expect((await status(bob)).refused).toEqual([]);
    expect(await names(ana)).toEqual(await names(bob));
  });

  test("edits made while the relay is down stay on disk, queue, and are checked when it is back", async () => {
    await relay.stop();
    for (const dev of [ana, bob])
      await waitFor(async () => (await status(dev)).connection !== "online", 20_000, "offline");
    await writeSettled(join(ana.folder, "notes.txt"), "ana offline\n");
    await writeSettled(join(bob.folder, "notes.txt"), "bob offline\n");
    await writeSettled(join(bob.folder, "new.txt"), "new by bob\n");
    await waitFor(async () => (await status(ana)).queued === 1, 20_000, "ana's edit queued");
    await waitFor(async () => (await status(bob)).queued === 2, 20_000, "bob's edits queued");
    // bob pauses and resumes meanwhile: the folder is written from the tree again, which shows
    // a queued change only once the relay accepts it. The sync --once after it (it fails: the
    // relay is away) runs once that write is done.
    await bob.ok(["folder", "pause", bob.folder]);
    await bob.ok(["folder", "resume", bob.folder]);
    expect((await bob.run(["sync", "--once"])).status).toBe(1);
    // Queued, not accepted: the folder on disk keeps what each person wrote.
    expect(await read(ana, "notes.txt")).toBe("ana offline\n");
    expect(await read(bob, "notes.txt")).toBe("bob offline\n");

    await relay.start();
    const settled = async (): Promise<boolean> => {
      const [a, b] = [await status(ana), await status(bob)];
      return (
        a.queued + b.queued === 0 &&
        a.refused.length + b.refused.length === 1 &&
        (await read(ana, "notes.txt")) === (await read(bob, "notes.txt")) &&
        (await read(ana, "new.txt")) === "new by bob\n"
      );
    };
    await waitFor(settled, 30_000, "both checked and converged");
    // Exactly one of the two notes.txt edits won; the other device kept its own as refused.
    const [a, b] = [await status(ana), await status(bob)];
    const loser = a.refused.length === 1 ? a : b;
    const winner = loser === a ? "bob offline\n" : "ana offline\n";
    expect(await read(ana, "notes.txt")).toBe(winner);
    expect(loser.refused).toMatchObject([{ path: "notes.txt", reason: "changed elsewhere" }]);
    await noConflictCopy();
    expect(await names(ana)).toEqual(await names(bob));

    // The loser's dashboard lists the refused change, and drops it: the winner's version stays.
    const ui = uis.get(loser === a ? ana : bob)!;
    const signIn = await rawRequest(ui.url);
    const headers = {
      host: new URL(ui.origin).host,
      cookie: (signIn.headers["set-cookie"] as string[])[0]!.split(";")[0]!,
    };
    const view = await rawRequest(`${ui.origin}/api/state`, { headers });
    const [card] = (JSON.parse(view.body) as { folders: { status: Status }[] }).folders;
    expect(card!.status.refused).toMatchObject([{ id: loser.refused[0]!.id, path: "notes.txt" }]);
    const dropped = await rawRequest(`${ui.origin}/api/reapply`, {
      method: "POST",
      headers: {
        ...headers,
        origin: ui.origin,
        "x-weft-ui": "1",
        "content-type": "application/json",
      },
      body: JSON.stringify({ folder: folderId, id: loser.refused[0]!.id, discard: true }),
    });
    expect(dropped.status, dropped.body).toBe(200);
    expect(JSON.parse(dropped.body)).toMatchObject({ path: "notes.txt", discarded: true });
    expect((await status(loser === a ? ana : bob)).refused).toEqual([]);
    expect(await read(ana, "notes.txt")).toBe(winner);
    expect(await read(bob, "notes.txt")).toBe(winner);
  });
});
