// A strong folder's mode comes from its owner-signed metadata, not from the invite or the
// device's settings (issue 20), through the CLI against a relay process. ana creates a strong
// folder; bob joins with her invite edited to drop the mode, and is strong anyway: his put of a
// change made from a version ana replaced first exits 3 (an eventual device would write it and
// make a conflict copy). An invite edited to claim strong for an eventual folder is refused at
// join, and a settings.json edited to eventual is refused at the next remote command.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  startRelayProcess,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };
let relay: RelayProcess;
let ana: TestDevice;
let bob: TestDevice;
const MiB = 1024 * 1024;

/** `invite` with its JSON edited by `edit` (what anyone passing it on could do). */
function edited(invite: string, edit: (json: Record<string, unknown>) => void): string {
  const json = JSON.parse(
    Buffer.from(invite.slice("weft1:".length), "base64url").toString("utf8"),
  ) as Record<string, unknown>;
  edit(json);
  return "weft1:" + Buffer.from(JSON.stringify(json)).toString("base64url");
}

async function createShared(
  consistency: "strong" | "eventual",
  dir: string = consistency,
): Promise<{
  folderId: string;
  invite: string;
}> {
  const created = await ana.ok([
    "folder",
    "create",
    join(ana.folder, dir),
    "--consistency",
    consistency,
  ]);
  const folderId = created["folderId"] as string;
  const { invite } = await ana.ok(["folder", "invite", folderId]);
  return { folderId, invite: invite as string };
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, bob] = await Promise.all([makeDevice("ana"), makeDevice("bob")]);
  await Promise.all([ana, bob].map((d) => enroll(d, relay.url)));
}, 60_000);

afterAll(async () => {
  await Promise.all([ana, bob].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("a folder's mode from its signed metadata", () => {
  test("a device joining with an invite edited to drop the mode is strong anyway: its stale put exits 3", async () => {
    const { folderId, invite } = await createShared("strong");
    const plain = edited(invite, (json) => delete json["consistency"]);
    expect(plain).not.toBe(invite);
    // A member only (no synced copy): weft put, get, ls work on the folder from its state.
    await bob.ok(["folder", "join", "-"], { input: `${plain}\n` });
    // ana syncs the folder: she saves in it and sends with weft sync --once.
    const anaSaves = async (text: string) => {
      await writeFile(join(ana.folder, "strong", "notes.txt"), text);
      await ana.ok(["sync", "--once", "--timeout", "30"]);
    };
    await anaSaves("v1 by ana\n");

    // bob's put has caught up (head v1) and reads stdin, more than any pipe buffer holds, while
    // ana's write lands: a strong device's change is refused; an eventual one would be written.
    const child = bob.spawn(["put", folderId, "notes.txt", "-", "--json"]);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    if (!child.stdin!.write(`v2 by bob\n${"b".repeat(MiB)}\n`))
      await new Promise<void>((resolve) => child.stdin!.once("drain", () => resolve()));
    await anaSaves("v2 by ana\n");
    child.stdin!.end();
    expect(await exited, err).toBe(3);
    expect(err).toMatch(/notes\.txt: changed elsewhere; your version is kept as/);
    expect(JSON.parse(out)).toMatchObject({ error: { code: "REFUSED" } });
    const listed = await ana.ok(["ls", folderId]);
    expect((listed["entries"] as { path: string }[]).map((e) => e.path)).toEqual(["notes.txt"]);

    // bob's settings edited to eventual: the next command refuses to go on.
    const settings = join(bob.home, "folders", folderId, "settings.json");
    const kept = JSON.parse(await readFile(settings, "utf8")) as Record<string, unknown>;
    expect(kept["consistency"]).toBe("strong");
    await writeFile(settings, JSON.stringify({ ...kept, consistency: "eventual" }));
    const put = await bob.run(["put", folderId, "other.txt", "-"], { input: "x\n" });
    expect(put.status).toBe(1);
    expect(put.stderr).toContain("signed metadata says strong consistency");
  });

  test("weft sync refuses a synced strong folder whose settings.json was edited to eventual", async () => {
    const { folderId } = await createShared("strong", "strong-synced");
    expect((await ana.run(["sync", "--once", "--timeout", "30"])).status).toBe(0);
    const settings = join(ana.home, "folders", folderId, "settings.json");
    const kept = JSON.parse(await readFile(settings, "utf8")) as Record<string, unknown>;
    await writeFile(settings, JSON.stringify({ ...kept, consistency: "eventual" }));
    const run = await ana.run(["sync", "--once", "--timeout", "30"]);
    expect(run.status).not.toBe(0);
    expect(run.stderr + run.stdout).toContain("signed metadata says strong consistency");
  });

  test("an invite edited to claim strong for an eventual folder is refused at join", async () => {
    const { folderId, invite } = await createShared("eventual");
    const claimed = edited(invite, (json) => (json["consistency"] = "strong"));
    const joined = await bob.run(["folder", "join", "-", join(bob.folder, "eventual")], {
      input: `${claimed}\n`,
    });
    expect(joined.status).toBe(1);
    expect(joined.stderr).toContain("its signed metadata says eventual");
    const listed = await bob.ok(["folder", "list"]);
    expect(JSON.stringify(listed)).not.toContain(folderId);
  });
});
