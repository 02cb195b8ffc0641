// Running `weft sync` daemons (keepalive 1 s) where timing is against them:
// - a file edited in place the moment it arrives: the edit is synced back (the watcher does not
//   see a file the agent has just renamed into place; the agent looks again);
// - a daemon stopped with SIGSTOP for longer than its keepalive (a laptop lid closed) while the
//   other device writes: after SIGCONT it catches up by itself, both ways;
// - the relay stopped with SIGSTOP: the daemons notice the silence by their keepalive and say
//   they are offline, and after SIGCONT they are back and sync what was written meanwhile;
// - a daemon whose wall clock is set back an hour, then forward two days (libfaketime, when
//   installed): it still notices a silent relay, and its edits still win over older ones.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  killHard,
  makeDevice,
  shareFolder,
  startRelayProcess,
  waitFor as waitForCondition,
} from "@weft/test-support";

const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
/** Debian's libfaketime (`apt-get install faketime`; scripts/system-packages.sh installs it). */
const FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const haveFaketime = existsSync(FAKETIME_LIB);
if (!haveFaketime)
  console.warn(`agent-daemon-timing: the clock test is skipped: no ${FAKETIME_LIB}`);
const KEEPALIVE_S = 1;

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
/** Ben's clock offset, read by libfaketime at every call ("+0", "-1h", "+2d"). */
let benClock: string;
const daemons = new Map<string, ChildProcess>();

/**
 * Starts `weft sync` for `device`; ben's under libfaketime when it is installed (the monotonic
 * clock stays true: only the wall clock is moved, as NTP or a person would move it).
 */
function startDaemon(device: Device): ChildProcess {
  const clock =
    device === ben && haveFaketime
      ? {
          LD_PRELOAD: FAKETIME_LIB,
          FAKETIME_TIMESTAMP_FILE: benClock,
          FAKETIME_NO_CACHE: "1",
          FAKETIME_DONT_FAKE_MONOTONIC: "1",
        }
      : {};
  const child = spawn(
    process.execPath,
    [cli, "sync", "--rescan", "600", "--keepalive", String(KEEPALIVE_S), "--reconnect-max", "1"],
    { env: { ...process.env, ...device.env, ...clock }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.resume();
  child.stderr?.resume();
  daemons.set(device.name, child);
  return child;
}

/** The connection state `device`'s running daemon reports ("online", "connecting", …). */
async function connection(device: Device): Promise<string | undefined> {
  const json = (await device.run(["status", "--json"])).json;
  const folders = json?.["folders"] as { connection?: string }[] | undefined;
  return json?.["daemon"] === daemons.get(device.name)?.pid ? folders?.[0]?.connection : undefined;
}

const online = async (device: Device) => (await connection(device)) === "online";
const offline = async (device: Device) => {
  const c = await connection(device);
  return c !== undefined && c !== "online";
};
const contentIs = (path: string, text: string) =>
  readFile(path, "utf8").then(
    (t) => t === text,
    () => false,
  );

/** {@link waitForCondition}; on a timeout, with what both daemons reported last. */
async function waitFor(check: () => Promise<boolean> | boolean, ms: number, what: string) {
  try {
    await waitForCondition(check, ms, what);
  } catch (error) {
    const said = await Promise.all(
      [ana, ben].map(async (d) => {
        const f = ((await d.run(["status", "--json"])).json?.["folders"] as unknown[])?.[0] as
          { connection?: string; state?: string; errors?: { message: string }[] } | undefined;
        return `${d.name}: ${f?.connection}/${f?.state}, errors ${JSON.stringify(f?.errors?.slice(-3).map((e) => e.message))}`;
      }),
    );
    throw new Error(`${(error as Error).message}; ${said.join("; ")}`);
  }
}

/** Waits until `ms` have passed since `since`: how long a process stays frozen (the scenario). */
const frozenFor = (since: number, ms: number) => () => Date.now() - since >= ms;

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  benClock = join(ben.home, "..", "clock");
  await writeFile(benClock, "+0\n");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await shareFolder(ana, ben);
  startDaemon(ana);
  startDaemon(ben);
  await waitFor(() => online(ana), 30_000, "ana online");
  await waitFor(() => online(ben), 30_000, "ben online");
}, 90_000);

afterAll(async () => {
  relay?.child.kill("SIGCONT");
  for (const d of daemons.values()) d.kill("SIGCONT");
  await Promise.all([...daemons.values()].map(killHard));
  // libfaketime leaves a shared-memory segment and a semaphore per process it ran in.
  const benPid = daemons.get("ben")?.pid;
  if (haveFaketime && benPid !== undefined)
    await Promise.all(
      [`/dev/shm/faketime_shm_${benPid}`, `/dev/shm/sem.faketime_sem_${benPid}`].map((p) =>
        rm(p, { force: true }),
      ),
    );
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("a file edited the moment a new version arrives", () => {
  test("each such edit is synced back, with no rescan to find it", async () => {
    // Edited in place a few ms after a new version replaced it, as an editor that had it open
    // and saved would: the delays sweep the moment in which the watcher cannot see the file.
    const delays = [0, 5, 10, 15, 20, 25, 30, 40, 50, 70];
    const arrived = async (path: string, text: string) => {
      const deadline = Date.now() + 30_000;
      while (!(await contentIs(path, text))) {
        if (Date.now() > deadline) throw new Error(`${path} did not get ${JSON.stringify(text)}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    };
    for (const [i] of delays.entries())
      await writeFile(join(ana.folder, `arrived-${i}.txt`), `from ana ${i}\n`);
    for (const [i] of delays.entries())
      await arrived(join(ben.folder, `arrived-${i}.txt`), `from ana ${i}\n`);
    for (const [i, ms] of delays.entries()) {
      const name = `arrived-${i}.txt`;
      await writeFile(join(ana.folder, name), `ana's second version ${i}\n`);
      await arrived(join(ben.folder, name), `ana's second version ${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      await writeFile(join(ben.folder, name), `ben edited ${i} ${ms} ms after\n`);
    }
    for (const [i, ms] of delays.entries())
      await waitFor(
        () => contentIs(join(ana.folder, `arrived-${i}.txt`), `ben edited ${i} ${ms} ms after\n`),
        15_000,
        `ben's edit ${i} (${ms} ms after arrival) on ana`,
      );
  }, 90_000);
});

describe("frozen processes", () => {
  test("a daemon stopped beyond its keepalive catches up by itself after SIGCONT", async () => {
    const b = daemons.get("ben")!;
    b.kill("SIGSTOP");
    const stoppedAt = Date.now();
    await writeFile(join(ana.folder, "while-ben-slept.txt"), "written while ben was stopped\n");
    // Ben's own edit, made while its daemon is frozen: the watcher hears of it on waking.
    await writeFile(join(ben.folder, "ben-offline.txt"), "ben wrote this with the lid closed\n");
    await waitFor(frozenFor(stoppedAt, 3 * KEEPALIVE_S * 1000), 10_000, "the stop to last");
    b.kill("SIGCONT");
    await waitFor(
      async () =>
        (await contentIs(
          join(ben.folder, "while-ben-slept.txt"),
          "written while ben was stopped\n",
        )) &&
        (await contentIs(
          join(ana.folder, "ben-offline.txt"),
          "ben wrote this with the lid closed\n",
        )),
      30_000,
      "both edits on both devices",
    );
    expect(b.exitCode).toBeNull();
  }, 60_000);

  test("the relay stopped: daemons go offline by keepalive, and come back after SIGCONT", async () => {
    relay.child.kill("SIGSTOP");
    try {
      await waitFor(() => offline(ana), 20_000, "ana to notice the silent relay");
      await waitFor(() => offline(ben), 20_000, "ben to notice the silent relay");
      await writeFile(
        join(ana.folder, "relay-frozen.txt"),
        "written while the relay was stopped\n",
      );
    } finally {
      relay.child.kill("SIGCONT");
    }
    await waitFor(() => online(ana), 20_000, "ana back online");
    await waitFor(() => online(ben), 20_000, "ben back online");
    await waitFor(
      () =>
        contentIs(join(ben.folder, "relay-frozen.txt"), "written while the relay was stopped\n"),
      30_000,
      "the file written during the stop on ben",
    );
  }, 90_000);

  test.skipIf(!haveFaketime)(
    "a wall clock set back an hour, then forward two days: keepalive still works, edits still win",
    async () => {
      await writeFile(join(ana.folder, "clock.txt"), "ana's version\n");
      await waitFor(
        () => contentIs(join(ben.folder, "clock.txt"), "ana's version\n"),
        30_000,
        "clock.txt on ben",
      );
      await writeFile(benClock, "-1h\n");
      // A silent relay is noticed by elapsed time, not by a wall clock that went back.
      relay.child.kill("SIGSTOP");
      try {
        await waitFor(
          () => offline(ben),
          20_000,
          "ben (clock set back) to notice the silent relay",
        );
      } finally {
        relay.child.kill("SIGCONT");
      }
      await waitFor(() => online(ben), 20_000, "ben back online");
      // Ben's edit is later than ana's, whatever its clock says: it must win.
      await writeFile(join(ben.folder, "clock.txt"), "ben's edit, clock an hour behind\n");
      await waitFor(
        () => contentIs(join(ana.folder, "clock.txt"), "ben's edit, clock an hour behind\n"),
        30_000,
        "ben's edit on ana",
      );
      await writeFile(benClock, "+2d\n");
      await writeFile(join(ana.folder, "clock.txt"), "ana again\n");
      await waitFor(
        () => contentIs(join(ben.folder, "clock.txt"), "ana again\n"),
        30_000,
        "ana's edit on ben (ben two days ahead)",
      );
      await writeFile(join(ben.folder, "future.txt"), "from two days ahead\n");
      await waitFor(
        () => contentIs(join(ana.folder, "future.txt"), "from two days ahead\n"),
        30_000,
        "ben's new file on ana",
      );
      expect(daemons.get("ben")!.exitCode).toBeNull();
    },
    120_000,
  );
});
