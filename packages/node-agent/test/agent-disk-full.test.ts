// A full disk under a running `weft sync` daemon, on the synced folder and on WEFT_HOME (its
// SQLite state and chunk cache): the daemon says so in `weft status` in plain words, never puts
// a half-written file in place of a good one, keeps running, and catches up by itself once
// space is freed — no restart, no new change needed to wake it. Each disk is a small tmpfs the
// test mounts (root only: CI runs as root; elsewhere the file is skipped and says why).
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  firstFolder,
  killHard,
  makeDevice,
  sha256File,
  startRelayProcess,
  tempFiles,
  waitFor,
  writeRandomFile,
} from "@weft/test-support";
import { cannotMount, fillDisk, freeDisk, mountSmallDisk } from "./helpers/small-disk.js";

const MiB = 1024 * 1024;
const noMount = cannotMount();
if (noMount) console.warn(`agent-disk-full: skipped: ${noMount}`);

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
/** Ben's folder is on a small disk of its own. */
let ben: Device & { dispose(): Promise<void> };
let benFolder: string;
let benDisk: string;
/** Cyd's WEFT_HOME is on a small disk of its own. */
let cyd: Device & { dispose(): Promise<void> };
let cydDisk: string;
const mounts: { unmount(): void }[] = [];
const daemons = new Map<string, ChildProcess>();

/** What `device`'s running daemon reports (its errors and state). */
async function statusOf(device: Device) {
  const json = (await device.run(["status", "--json"])).json;
  return json?.["folders"] ? firstFolder(json) : undefined;
}

/** The problems each device's status listed when last asked (printed when a wait fails). */
const lastErrors = new Map<string, string[]>();

/** Whether `device`'s status names a full disk among its problems (for `path`, if given). */
async function saysDiskFull(device: Device, path?: string): Promise<boolean> {
  const s = await statusOf(device);
  lastErrors.set(device.name, s?.errors.map((e) => `${e.path ?? ""}: ${e.message}`) ?? []);
  return Boolean(
    s?.errors.some(
      (e) => /the disk is full/.test(e.message) && (path === undefined || e.path === path),
    ),
  );
}

/** {@link waitFor}, and on a timeout the problems the devices' statuses listed last. */
async function waitSaying(check: () => Promise<boolean>, what: string): Promise<void> {
  try {
    await waitFor(check, 30_000, what);
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; statuses said ${JSON.stringify([...lastErrors])}`,
    );
  }
}

const contentIs = (path: string, text: string) =>
  readFile(path, "utf8").then(
    (t) => t === text,
    () => false,
  );

function startDaemon(device: Device): ChildProcess {
  // A rescan every 10 minutes: only the daemon's own retry can bring it back within the test.
  const child = device.spawn(["sync", "--rescan", "600", "--keepalive", "2"]);
  daemons.set(device.name, child);
  return child;
}

async function waitDaemon(device: Device, child: ChildProcess): Promise<void> {
  await waitFor(
    async () => {
      const r = (await device.run(["status", "--json"])).json;
      const f = r?.["folders"] as { connection?: string }[] | undefined;
      return r?.["daemon"] === child.pid && f?.[0]?.connection === "online";
    },
    30_000,
    `${device.name}'s daemon online`,
  );
}

beforeAll(async () => {
  if (noMount) return;
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  cyd = await makeDevice("cyd");
  // Ben: the synced folder inside a 24 MiB disk (the filler goes beside it, not synced).
  benDisk = join(ben.home, "..", "disk");
  await mkdir(benDisk);
  mounts.push(mountSmallDisk(benDisk, "24m"));
  benFolder = join(benDisk, "folder");
  // Cyd: WEFT_HOME on a 32 MiB disk.
  cydDisk = cyd.home;
  await mkdir(cydDisk);
  mounts.push(mountSmallDisk(cydDisk, "32m"));
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url), enroll(cyd, relay.url)]);
  const { folderId } = (await ana.ok(["folder", "create", ana.folder])) as { folderId: string };
  for (const [guest, path] of [
    [ben, benFolder],
    [cyd, cyd.folder],
  ] as const) {
    const { invite } = await ana.ok(["folder", "invite", folderId, "--role", "editor"]);
    await guest.ok(["folder", "join", "-", path], { input: `${invite as string}\n` });
  }
  for (const d of [ana, ben, cyd]) startDaemon(d);
  for (const d of [ana, ben, cyd]) await waitDaemon(d, daemons.get(d.name)!);
}, 90_000);

afterAll(async () => {
  await Promise.all([...daemons.values()].map(killHard));
  for (const m of mounts) m.unmount();
  await ana?.dispose();
  await ben?.dispose();
  await cyd?.dispose();
  await relay?.dispose();
});

describe.skipIf(noMount !== undefined)("a full disk under a running daemon", () => {
  test("synced folder full: status says so, the old file stays whole, sync resumes when space returns", async () => {
    const doc = join(ana.folder, "doc.bin");
    const v1 = await writeRandomFile(doc, 1 * MiB);
    await waitFor(
      async () => (await sha256File(join(benFolder, "doc.bin"))) === v1,
      30_000,
      "v1 on ben",
    );

    const filler = join(benDisk, "filler");
    await fillDisk(filler);
    const v2 = await writeRandomFile(doc, 3 * MiB);
    await waitSaying(() => saysDiskFull(ben, "doc.bin"), "ben's status to say the disk is full");
    // Then one more change, and its failure too: after that no change is on its way to ben,
    // so nothing but the daemon's own retry can bring these files once space returns.
    await writeFile(join(ana.folder, "new.txt"), "written while ben's disk was full\n");
    await waitSaying(() => saysDiskFull(ben, "new.txt"), "ben's status to say the disk is full");

    // Nothing half-written in place of the good file, the failed attempt's temp file removed,
    // the daemon still up.
    expect(await sha256File(join(benFolder, "doc.bin"))).toBe(v1);
    await waitFor(async () => (await tempFiles(benFolder)).length === 0, 10_000, "no temp file");
    expect(await sha256File(join(benFolder, "doc.bin"))).toBe(v1);
    expect(daemons.get("ben")!.exitCode).toBeNull();

    // Space comes back; nothing else happens: the daemon must retry by itself.
    await freeDisk(filler);
    await waitFor(
      async () =>
        (await sha256File(join(benFolder, "doc.bin"))) === v2 &&
        (await contentIs(join(benFolder, "new.txt"), "written while ben's disk was full\n")),
      30_000,
      "ben to catch up after space returned",
    );
    expect(await tempFiles(benFolder)).toEqual([]);
    expect(daemons.get("ben")!.exitCode).toBeNull();
  }, 120_000);

  test("WEFT_HOME full: status says so, state intact, both directions resume when space returns", async () => {
    const filler = join(cydDisk, "filler");
    const big = join(ana.folder, "big.bin");
    await fillDisk(filler);
    // Down: ana's new file needs room in cyd's chunk cache. Up: cyd's own new file needs room
    // for its sealed chunks and its index update.
    const hash = await writeRandomFile(big, 4 * MiB);
    const mine = randomBytes(2 * MiB).toString("base64");
    await writeFile(join(cyd.folder, "from-cyd.txt"), mine);
    await waitSaying(() => saysDiskFull(cyd), "cyd's status to say the disk is full");
    expect(daemons.get("cyd")!.exitCode).toBeNull();
    expect(await sha256File(join(cyd.folder, "big.bin"))).toBeNull();

    await freeDisk(filler);
    await waitSaying(
      async () =>
        (await saysDiskFull(cyd)) !== undefined &&
        (await sha256File(join(cyd.folder, "big.bin"))) === hash &&
        (await contentIs(join(ana.folder, "from-cyd.txt"), mine)),
      "cyd to catch up both ways after space returned",
    );

    // The state survived: a fresh process opens it and finds nothing left to do.
    await killHard(daemons.get("cyd")!);
    const after = firstFolder(await cyd.ok(["sync", "--once"]));
    expect(after.errors).toEqual([]);
    expect(await sha256File(join(cyd.folder, "big.bin"))).toBe(hash);
    expect(await contentIs(join(cyd.folder, "from-cyd.txt"), mine)).toBe(true);
    expect(await tempFiles(cyd.folder)).toEqual([]);
  }, 120_000);
});
