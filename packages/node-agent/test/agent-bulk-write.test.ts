// A large download goes on with the folder unwatched (chokidar would read each directory again
// for every file placed in it: ~N²/2 lstats). What a person changes meanwhile must still go
// out promptly, not at the next full rescan: here that rescan is ten minutes away, so only the
// scan that follows the watch's resumption (or the watcher) can send ben's edit.
import type { ChildProcess } from "node:child_process";
import { mkdir, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  shareFolder,
  startDaemon,
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

const DIRS = 3;
const PER_DIR = 100;
const read = (dev: Device, rel: string) =>
  readFile(join(dev.folder, rel), "utf8").catch(() => undefined);
const count = async (dev: Device): Promise<number> => {
  let n = 0;
  for (let d = 0; d < DIRS; d++)
    n += (await readdir(join(dev.folder, `d${d}`)).catch(() => [])).filter((f) =>
      f.endsWith(".txt"),
    ).length;
  return n;
};

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, ben] = await Promise.all([makeDevice("ana"), makeDevice("ben")]);
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await writeSettled(join(ana.folder, "notes.txt"), "v1\n");
  await shareFolder(ana, ben);
  await ana.ok(["sync", "--once"]);
  await ben.ok(["sync", "--once"]);
}, 60_000);

afterAll(async () => {
  await stopProcess(daemon);
  await Promise.all([ana, ben].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("a bulk download into a watched folder", () => {
  test("an edit made while it is written is sent soon after, not at the next rescan", async () => {
    daemon = await startDaemon(ben, ["--rescan", "600"]);
    for (let d = 0; d < DIRS; d++) {
      await mkdir(join(ana.folder, `d${d}`));
      for (let i = 0; i < PER_DIR; i++)
        await writeSettled(join(ana.folder, `d${d}/f${i}.txt`), `file ${d}/${i}\n`);
    }
    await ana.ok(["sync", "--once"]);
    // The download has started being written: ben edits a file of his own meanwhile.
    await waitFor(async () => (await count(ben)) > 0, 20_000, "the download on ben");
    await writeSettled(join(ben.folder, "notes.txt"), "ben's edit during the download\n");
    await waitFor(async () => (await count(ben)) === DIRS * PER_DIR, 30_000, "all files on ben");
    await waitFor(
      async () => {
        await ana.ok(["sync", "--once"]);
        return (await read(ana, "notes.txt")) === "ben's edit during the download\n";
      },
      20_000,
      "ben's edit on ana",
    );
    // And the watch is live again: an edit after the download goes out too.
    await writeSettled(join(ben.folder, "notes.txt"), "ben's edit after the download\n");
    await waitFor(
      async () => {
        await ana.ok(["sync", "--once"]);
        return (await read(ana, "notes.txt")) === "ben's edit after the download\n";
      },
      20_000,
      "ben's second edit on ana",
    );
  });
});
