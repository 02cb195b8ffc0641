// Remote file commands through the CLI against a relay process (issue 20): ana syncs a real
// folder (`weft sync --once`); bob is a member with no synced folder and uses weft ls, get, put,
// rm and mv, and ana's folder shows the result, and the other way round; cat is a viewer, refused
// a write; paths that leave the folder are refused; --no-state leaves no folder state behind.
import { createHash } from "node:crypto";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  sha256File,
  startRelayProcess,
  writeRandomFile,
  writeSettled,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };
let relay: RelayProcess;
let ana: TestDevice;
let bob: TestDevice;
let cat: TestDevice;
let folderId: string;
let bigSha: string;

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Runs `weft ...args` as `dev` and keeps stdout as bytes (a file fetched with `-`). */
function runRaw(
  dev: Device,
  args: string[],
): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = dev.spawn(args);
    const out: Buffer[] = [];
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout: Buffer.concat(out), stderr }));
    child.stdin!.end();
  });
}

/** Joins `guest` to the folder as `role`, synced nowhere (no PATH). */
async function joinRemote(guest: Device, role: "editor" | "viewer"): Promise<void> {
  const { invite } = await ana.ok(["folder", "invite", folderId, "--role", role]);
  const joined = await guest.ok(["folder", "join", "-"], { input: `${invite as string}\n` });
  expect(joined).toMatchObject({ folderId, path: null, role });
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, bob, cat] = await Promise.all([makeDevice("ana"), makeDevice("bob"), makeDevice("cat")]);
  await Promise.all([ana, bob, cat].map((d) => enroll(d, relay.url)));
  await writeSettled(join(ana.folder, "hello.txt"), "hello from ana\n");
  await writeFile(join(ana.folder, "old.txt"), "to be removed\n");
  bigSha = await writeRandomFile(join(ana.folder, "big.bin"), 3 * MiB + 17);
  ({ folderId } = (await ana.ok(["folder", "create", ana.folder])) as { folderId: string });
  await ana.ok(["sync", "--once"]);
  await joinRemote(bob, "editor");
  await joinRemote(cat, "viewer");
}, 60_000);

afterAll(async () => {
  await Promise.all([ana, bob, cat].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("weft ls/get/put/rm/mv on a folder this device does not sync", () => {
  test("a file written in the synced folder is listed, and fetched byte-identical to stdout and to a file", async () => {
    const listed = await bob.ok(["ls", folderId]);
    expect(listed).toMatchObject({ folderId, dir: "" });
    const entries = listed["entries"] as { path: string; kind: string; size: number }[];
    expect(entries.map((e) => [e.path, e.kind, e.size])).toEqual([
      ["big.bin", "file", 3 * MiB + 17],
      ["hello.txt", "file", 15],
      ["old.txt", "file", 14],
    ]);
    const piped = await runRaw(bob, ["get", folderId, "big.bin", "-"]);
    expect(piped.status, piped.stderr).toBe(0);
    expect(sha(piped.stdout)).toBe(bigSha);
    const out = join(bob.home, "..", "fetched.bin");
    const got = await bob.ok(["get", folderId, "big.bin", out]);
    expect(got).toMatchObject({ path: "big.bin", out, size: 3 * MiB + 17 });
    // Only the file's chunks moved (sealing and padding add under 1/32 to chunks of 64 KiB and
    // up), not the rest of the folder.
    expect(got["bytesDownloaded"] as number).toBeLessThan((3 * MiB + 17) * (1 + 1 / 32));
    expect(await sha256File(out)).toBe(bigSha);
  });

  test("put, mv and rm through the relay show up in the synced folder after its next sync", async () => {
    const local = join(bob.home, "..", "report.bin");
    const reportSha = await writeRandomFile(local, 2 * MiB + 5);
    const put = await bob.ok(["put", folderId, "reports/2025/report.bin", local]);
    expect(put).toMatchObject({
      path: "reports/2025/report.bin",
      size: 2 * MiB + 5,
      created: true,
    });
    const piped = await bob.ok(["put", folderId, "notes/from-bob.txt", "-"], {
      input: "typed into a pipe\n",
    });
    expect(piped).toMatchObject({ path: "notes/from-bob.txt", size: 18 });
    expect(await bob.ok(["mv", folderId, "hello.txt", "notes"])).toMatchObject({
      from: "hello.txt",
      to: "notes/hello.txt",
    });
    expect(await bob.ok(["rm", folderId, "old.txt"])).toMatchObject({ removed: true });

    await ana.ok(["sync", "--once"]);
    expect(await sha256File(join(ana.folder, "reports/2025/report.bin"))).toBe(reportSha);
    expect(await readFile(join(ana.folder, "notes/from-bob.txt"), "utf8")).toBe(
      "typed into a pipe\n",
    );
    expect(await readFile(join(ana.folder, "notes/hello.txt"), "utf8")).toBe("hello from ana\n");
    expect(await stat(join(ana.folder, "hello.txt")).catch(() => null)).toBeNull();
    expect(await stat(join(ana.folder, "old.txt")).catch(() => null)).toBeNull();

    // Bob synced nothing: no folder of his, only the small remote state (no content).
    expect((await bob.ok(["folder", "list"]))["folders"]).toEqual([]);
    expect(await readdir(join(bob.home, "remote", folderId))).toEqual(["replica.sqlite"]);
    const listed = await bob.ok(["ls", folderId, "-r"]);
    expect((listed["entries"] as { path: string }[]).map((e) => e.path)).toEqual([
      "big.bin",
      "notes",
      "notes/from-bob.txt",
      "notes/hello.txt",
      "reports",
      "reports/2025",
      "reports/2025/report.bin",
    ]);
  });

  test("a viewer's put is refused; paths outside the folder and a folder synced here are refused", async () => {
    const viewer = await cat.run(["put", folderId, "x.txt", "-", "--json"], { input: "no\n" });
    expect(viewer.status).toBe(1);
    expect(viewer.json?.["error"]).toMatchObject({ code: "FORBIDDEN" });
    expect(viewer.stderr).toMatch(/viewer/);
    const outside: [string[], RegExp][] = [
      [["get", folderId, "../../etc/passwd", join(bob.home, "..", "x")], /"\.\." is not a valid/],
      [["put", folderId, "notes/../../x.txt", "-"], /"\.\." is not a valid/],
      [["rm", folderId, "/etc/passwd"], /not an absolute one/],
    ];
    for (const [args, why] of outside) {
      const r = await bob.run([...args, "--json"], { input: "x\n" });
      expect(r.status, args.join(" ")).toBe(2);
      const error = r.json?.["error"] as { code: string; message: string } | undefined;
      expect(error?.code).toBe("USAGE");
      expect(error?.message).toMatch(why);
    }
    const missing = await bob.run(["get", folderId, "nope.txt", "--json"]);
    expect(missing.status).toBe(1);
    expect(missing.json?.["error"]).toMatchObject({ code: "NOT_FOUND" });
    // Ana syncs the folder: she changes its files on disk, not through the relay.
    const synced = await ana.run(["rm", folderId, "notes/hello.txt"]);
    expect(synced.status).toBe(2);
    expect(synced.stderr).toMatch(/synced on this device/);
  });

  test("--no-state reads and writes, and leaves no folder state behind", async () => {
    const read = await runRaw(cat, ["get", folderId, "notes/hello.txt", "-", "--no-state"]);
    expect(read.status, read.stderr).toBe(0);
    expect(read.stdout.toString()).toBe("hello from ana\n");
    // Two writes from throw-away states of one device: the second must not be taken for a
    // replay of the first.
    await bob.ok(["put", folderId, "one.txt", "-", "--no-state"], { input: "one\n" });
    await bob.ok(["put", folderId, "two.txt", "-", "--no-state"], { input: "two\n" });
    // cat keeps only the folder key (and settings) it joined with; no index, no content.
    expect(await readdir(cat.home)).not.toContain("remote");
    expect((await readdir(join(cat.home, "folders", folderId))).sort()).toEqual([
      "keys.json",
      "member.json",
      "settings.json",
    ]);
    await ana.ok(["sync", "--once"]);
    expect(await readFile(join(ana.folder, "one.txt"), "utf8")).toBe("one\n");
    expect(await readFile(join(ana.folder, "two.txt"), "utf8")).toBe("two\n");
  });

  test("weft folder list shows a folder joined without PATH; weft folder remove forgets it", async () => {
    const listed = await cat.ok(["folder", "list"]);
    expect(listed).toMatchObject({ folders: [], members: [{ folderId, role: "viewer" }] });
    expect((await cat.run(["folder", "list"])).stdout).toContain(`(not synced here)  ${folderId}`);
    // Ana syncs it: hers is listed as a synced folder, not again as a member.
    expect(await ana.ok(["folder", "list"])).toMatchObject({ members: [] });
    expect(await cat.ok(["folder", "remove", folderId])).toMatchObject({ removed: true });
    expect(await cat.ok(["folder", "list"])).toMatchObject({ folders: [], members: [] });
    expect(await readdir(join(cat.home, "folders"))).toEqual([]);
  });

  // Last: it stops the relay.
  test("with the relay gone, a command says it cannot reach it and exits 1", async () => {
    await relay.stop();
    const r = await bob.run(["ls", folderId, "--json"]);
    expect(r.status).toBe(1);
    expect(r.json?.["error"]).toMatchObject({ code: "RELAY" });
    expect(r.stderr).toMatch(/cannot reach the relay/);
  });
});
