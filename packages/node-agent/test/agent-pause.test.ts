// `weft folder pause|resume` against a relay process: ana pauses her folder while her `weft sync`
// runs; it disconnects at once, nothing she writes leaves and nothing ben writes arrives, also
// after her daemon restarts (the pause is kept under WEFT_HOME). Resumed, both edits cross.
import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  firstFolder,
  makeDevice,
  shareFolder,
  startRelayProcess,
  stopProcess,
  waitFor,
  writeSettled,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };
let relay: RelayProcess;
let ana: TestDevice;
let ben: TestDevice;
let daemon: ChildProcess | undefined;

const read = (dev: Device, rel: string) =>
  readFile(join(dev.folder, rel), "utf8").catch(() => undefined);

type Status = { state: string; connection: string; paused: number | null };
async function anaStatus(): Promise<{ daemon: number | null; folder: Status }> {
  const json = await ana.ok(["status"]);
  return {
    daemon: json["daemon"] as number | null,
    folder: (json["folders"] as Status[])[0]!,
  };
}

async function startDaemon(): Promise<void> {
  daemon = ana.spawn(["sync", "--rescan", "600"]);
  await waitFor(async () => (await anaStatus()).daemon === daemon!.pid, 20_000, "ana's daemon");
}

async function stopDaemon(): Promise<void> {
  expect(await stopProcess(daemon, "SIGTERM")).toBe(0);
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, ben] = await Promise.all([makeDevice("ana"), makeDevice("ben")]);
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await writeSettled(join(ana.folder, "a.txt"), "a v1\n");
  await shareFolder(ana, ben);
  await ana.ok(["sync", "--once"]);
  await ben.ok(["sync", "--once"]);
}, 60_000);

afterAll(async () => {
  await stopProcess(daemon);
  await Promise.all([ana, ben].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("weft folder pause|resume", () => {
  test("a running weft sync stops sending and fetching at once, and stays paused across a restart", async () => {
    await startDaemon();
    await waitFor(
      async () => (await anaStatus()).folder.connection === "online",
      20_000,
      "ana online",
    );
    const paused = await ana.ok(["folder", "pause", ana.folder]);
    expect(paused["paused"]).toEqual(expect.any(Number));
    let status = (await anaStatus()).folder;
    expect(status).toMatchObject({ state: "paused", connection: "stopped" });
    expect(status.paused).toBe(paused["paused"]);
    const human = await ana.run(["status"]);
    expect(human.stdout).toMatch(/paused on this device .*weft folder resume PATH/);

    await writeSettled(join(ben.folder, "from-ben.txt"), "ben's, sent while ana is paused\n");
    await ben.ok(["sync", "--once"]);
    await writeSettled(join(ana.folder, "a.txt"), "a v2, ana's while paused\n");
    await stopDaemon();
    await startDaemon();
    // A new daemon reads the pause from WEFT_HOME: it never connects, scans or writes.
    status = (await anaStatus()).folder;
    expect(status).toMatchObject({ state: "paused", connection: "stopped" });
    expect(await ben.ok(["sync", "--once"])).toMatchObject({
      folders: [expect.objectContaining({ bytesDownloaded: 0 })],
    });
    expect(await read(ben, "a.txt")).toBe("a v1\n");
    expect(await read(ana, "from-ben.txt")).toBeUndefined();
  }, 60_000);

  test("resumed, the daemon fetches what came meanwhile and sends what changed here", async () => {
    const resumed = await ana.ok(["folder", "resume", ana.folder]);
    expect(resumed["paused"]).toBeNull();
    await waitFor(
      async () => (await read(ana, "from-ben.txt")) === "ben's, sent while ana is paused\n",
      20_000,
      "ben's file on ana",
    );
    await waitFor(
      async () => {
        await ben.ok(["sync", "--once"]);
        return (await read(ben, "a.txt")) === "a v2, ana's while paused\n";
      },
      20_000,
      "ana's edit on ben",
    );
    expect((await anaStatus()).folder).toMatchObject({ connection: "online", paused: null });
    await stopDaemon();
    // Without a daemon, weft sync --once syncs it as any folder.
    expect(firstFolder(await ana.ok(["sync", "--once"])).errors).toEqual([]);
  }, 60_000);
});
