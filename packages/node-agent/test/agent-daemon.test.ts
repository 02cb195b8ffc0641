// The sync daemon (`weft sync`) on two devices through a real relay: changes arrive without any
// command, `weft status` shows the running daemon and its peer, a second `weft sync` is refused,
// SIGTERM stops it with exit 0. And a chunk tampered with on the relay's disk is refused: no
// corrupt file appears, and `weft status` says why.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  startRelayProcess,
  waitFor,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
let folderId: string;
const daemons: ChildProcess[] = [];

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const contentIs = (path: string, text: string) =>
  readFile(path, "utf8").then(
    (t) => t === text,
    () => false,
  );

function stopped(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  ({ folderId } = (await ana.ok(["folder", "create", ana.folder])) as { folderId: string });
  const { invite } = await ana.ok(["folder", "invite", folderId]);
  await ben.ok(["folder", "join", "-", ben.folder], { input: invite as string });
}, 60_000);

afterAll(async () => {
  for (const d of daemons) if (d.exitCode === null) d.kill("SIGKILL");
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("weft sync as a daemon", () => {
  test("changes on either device arrive on the other while both run; SIGTERM exits 0", async () => {
    const a = ana.spawn(["sync", "--rescan", "600"]);
    const b = ben.spawn(["sync", "--rescan", "600"]);
    daemons.push(a, b);
    await waitFor(
      async () => (await ana.run(["status", "--json"])).json?.["daemon"] === a.pid,
      20_000,
      "ana's daemon",
    );
    await waitFor(
      async () => (await ben.run(["status", "--json"])).json?.["daemon"] === b.pid,
      20_000,
      "ben's daemon",
    );

    await writeFile(join(ana.folder, "from-ana.txt"), "written while both run\n");
    await waitFor(
      () => contentIs(join(ben.folder, "from-ana.txt"), "written while both run\n"),
      30_000,
      "ana's file on ben",
    );
    // Edited at once after it arrived: the watcher must take this as ben's change (with a
    // rescan only every 10 minutes, nothing else would find it).
    await writeFile(join(ben.folder, "from-ana.txt"), "ben answers\n");
    await waitFor(
      () => contentIs(join(ana.folder, "from-ana.txt"), "ben answers\n"),
      30_000,
      "ben's edit on ana",
    );

    // The watcher's reports are scanned path by path: a new directory tree, a file moved
    // between directories, a directory renamed and a removal all arrive, and the moves
    // send no content again.
    await mkdir(join(ana.folder, "photos/2024"), { recursive: true });
    await writeFile(join(ana.folder, "photos/2024/a.jpg"), randomBytes(5000));
    await mkdir(join(ana.folder, "inbox"));
    await writeFile(join(ana.folder, "inbox/note.txt"), randomBytes(5000));
    await writeFile(join(ana.folder, "drop.txt"), "to be removed\n");
    const arrived = (paths: string[]) => async () =>
      (await Promise.all(paths.map((p) => exists(join(ben.folder, p))))).every(Boolean);
    await waitFor(arrived(["photos/2024/a.jpg", "inbox/note.txt", "drop.txt"]), 30_000, "a tree");
    const anaStatus = async () =>
      ((await ana.ok(["status"])).folders as { pendingOut: number; bytesUploaded: number }[])[0]!;
    await waitFor(async () => (await anaStatus()).pendingOut === 0, 30_000, "ana idle");
    const uploaded = (await anaStatus()).bytesUploaded;
    expect(uploaded).toBeGreaterThan(10_000);
    await rename(join(ana.folder, "inbox/note.txt"), join(ana.folder, "photos/note.txt"));
    await rename(join(ana.folder, "photos/2024"), join(ana.folder, "photos/2025"));
    await rm(join(ana.folder, "drop.txt"));
    await waitFor(
      async () =>
        (await arrived(["photos/note.txt", "photos/2025/a.jpg"])()) &&
        !(await exists(join(ben.folder, "inbox/note.txt"))) &&
        !(await exists(join(ben.folder, "photos/2024"))) &&
        !(await exists(join(ben.folder, "drop.txt"))),
      30_000,
      "the moves and the removal on ben",
    ).catch(async (error: Error) => {
      // Failed once in a clean-clone CI run and never since: say what each side had.
      const tree = async (root: string): Promise<string> =>
        (await readdir(root, { recursive: true })).sort().join(", ");
      const said = async (dev: typeof ana): Promise<string> =>
        JSON.stringify((await dev.run(["status", "--json"])).json?.["folders"]);
      throw new Error(
        `${error.message}\nana's folder: ${await tree(ana.folder)}\nben's folder: ${await tree(ben.folder)}` +
          `\nana's status: ${await said(ana)}\nben's status: ${await said(ben)}`,
      );
    });
    expect((await anaStatus()).bytesUploaded).toBe(uploaded);

    // A second daemon of the same home would share its state: refused, with the reason.
    const second = await ana.run(["sync"]);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/weft sync is running \(pid \d+\)/);
    // sync --once goes through the running daemon instead (agent-service.test.ts has more).
    expect((await ana.run(["sync", "--once", "--timeout", "30"])).status).toBe(0);

    const status = (await ana.run(["status", "--json"])).json as {
      folders: { folderId: string; peers: { online: boolean }[]; connection: string }[];
    };
    expect(status.folders[0]).toMatchObject({ folderId, connection: "online" });
    expect(status.folders[0]!.peers.some((p) => p.online)).toBe(true);

    a.kill("SIGTERM");
    b.kill("SIGTERM");
    expect(await stopped(a)).toBe(0);
    expect(await stopped(b)).toBe(0);
  }, 90_000);

  test("a chunk tampered with on the relay is refused: nothing corrupt on disk, and status says so", async () => {
    // No daemon of the test before may still run (it would fetch the chunk before the tampering).
    const running = daemons.filter((d) => d.exitCode === null && d.signalCode === null);
    for (const d of running) d.kill("SIGKILL");
    await Promise.all(running.map(stopped));
    const secret = randomBytes(300 * 1024);
    await writeFile(join(ana.folder, "payload.bin"), secret);
    const before = Date.now();
    // Dated back: a finished write, which the scan takes at once (it leaves files modified in
    // the last second for a later pass).
    await utimes(join(ana.folder, "payload.bin"), new Date(before - 5000), new Date(before - 5000));
    await ana.ok(["sync", "--once"]);

    // Flip a byte in every chunk the relay stored since the write.
    const chunkDir = join(relay.dir, "data", "chunks", folderId);
    const tampered: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) await walk(path);
        else if ((await stat(path)).mtimeMs >= before - 1000) {
          const bytes = await readFile(path);
          const at = bytes.length - 20;
          bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
          await writeFile(path, bytes);
          tampered.push(path);
        }
      }
    };
    await walk(chunkDir);
    expect(tampered.length).toBeGreaterThan(0);

    const run = await ben.run(["sync", "--once", "--timeout", "15", "--json"]);
    expect(await exists(join(ben.folder, "payload.bin"))).toBe(false);
    const leftovers = (await readdir(ben.folder)).filter((n) => n.startsWith(".weft-tmp-"));
    expect(leftovers).toEqual([]);
    expect(run.stderr + run.stdout).toMatch(/does not open|integrity|corrupt|tamper/i);
    const status = (await ben.run(["status", "--json"])).json as {
      folders: { errors: { message: string }[] }[];
    };
    expect(JSON.stringify(status.folders[0]!.errors)).toMatch(
      /does not open|integrity|corrupt|tamper/i,
    );
  }, 60_000);
});
