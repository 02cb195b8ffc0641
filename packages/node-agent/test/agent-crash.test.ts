// `weft sync --once` killed with SIGKILL in the middle of an upload and of a download, at several
// points, through a real relay process: the file under its real name is never partial or corrupt
// (absent, or byte-identical to the source), a restart finishes the transfer without starting
// over, the temp files a killed download leaves are removed, and both devices end with the file.
//
// Progress is watched, never guessed with sleeps: the relay's chunk directory
// (`<relay>/data/chunks/<id>`) while the sender uploads (it spools nothing: each chunk is read
// from the file at upload time, so its WEFT_HOME stays small throughout, checked at every look),
// the receiver's `.weft-tmp-*` file while it downloads (each chunk goes straight into it: the
// receiver keeps no chunk store).
import type { ChildProcess } from "node:child_process";
import { stat } from "node:fs/promises";
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
  shareFolder,
  startRelayProcess,
  tempFiles,
  treeSize,
  waitFor,
  writeRandomFile,
} from "@weft/test-support";

const MiB = 1024 * 1024;
const SIZE = 128 * MiB;
const NAME = "payload.bin";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
let folderId: string;
let sourceHash: string;
const running: ChildProcess[] = [];

/** The most bytes ana's WEFT_HOME held at any look during the upload. */
let anaHomePeak = 0;

/** Bytes on the relay so far; also notes the size of ana's WEFT_HOME at this moment. */
async function relayChunks(): Promise<number> {
  anaHomePeak = Math.max(anaHomePeak, await treeSize(ana.home).catch(() => 0));
  return treeSize(join(relay.dir, "data", "chunks", folderId));
}

/** Size of the largest `.weft-tmp-*` file in `device`'s folder not in `except` (0: none). */
async function largestTemp(device: Device, except: ReadonlySet<string>): Promise<number> {
  let largest = 0;
  for (const rel of (await tempFiles(device.folder)).filter((r) => !except.has(r)))
    largest = Math.max(
      largest,
      await stat(join(device.folder, rel)).then(
        (s) => s.size,
        () => 0,
      ),
    );
  return largest;
}

/**
 * Starts `weft sync --once` on `device`, waits until `reached()` says the transfer got to the
 * point wanted, and kills it with SIGKILL there. Fails if the process ends first (the point was
 * never reached: the test would prove nothing).
 */
async function killWhen(
  device: Device,
  what: string,
  reached: () => Promise<boolean>,
): Promise<number> {
  const started = Date.now();
  const child = device.spawn(["sync", "--once", "--json"]);
  running.push(child);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  await waitFor(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`weft sync ended (${child.exitCode}) before ${what}: ${output}`);
      return reached();
    },
    60_000,
    what,
  );
  await killHard(child);
  return Date.now() - started;
}

/** The file under its real name on `device`: absent, or exactly the source. Never anything else. */
async function neverPartial(device: Device): Promise<void> {
  const hash = await sha256File(join(device.folder, NAME));
  expect([null, sourceHash]).toContain(hash);
}

/** `weft sync --once --json` on `device` to the end; its folder's counters. */
async function syncToEnd(device: Device) {
  const started = Date.now();
  const counters = firstFolder(await device.ok(["sync", "--once"]));
  return { ...counters, ms: Date.now() - started };
}

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  folderId = await shareFolder(ana, ben);
}, 60_000);

afterAll(async () => {
  await Promise.all(running.map(killHard));
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("weft sync killed mid-transfer", () => {
  test("upload: killed between the scan and the upload, early and late in it; a restart finishes it, WEFT_HOME never holding the file", async () => {
    sourceHash = await writeRandomFile(join(ana.folder, NAME), SIZE);

    // 1. Between the scan and the upload: the change is recorded, the first chunks are just
    //    going up. (An earlier kill here, while chunks were sealed into the local store, found
    //    a bug: they were never uploaded after a restart. Now the restart reads each chunk
    //    from the place stored with the change.)
    const t1 = await killWhen(ana, "the upload started", async () => (await relayChunks()) > 0);
    const sealed = await relayChunks();
    expect(sealed).toBeLessThan(SIZE);
    // 2. Early in the upload.
    const t2 = await killWhen(
      ana,
      "15% on the relay",
      async () => (await relayChunks()) > 0.15 * SIZE,
    );
    const early = await relayChunks();
    // 3. Late in the upload.
    const t3 = await killWhen(
      ana,
      "75% on the relay",
      async () => (await relayChunks()) > 0.75 * SIZE,
    );
    const late = await relayChunks();
    console.log(
      `upload killed at ${(sealed / MiB).toFixed(1)} MiB (${t1} ms), ${(early / MiB).toFixed(1)} MiB (${t2} ms) and ${(late / MiB).toFixed(1)} MiB (${t3} ms) on the relay`,
    );
    await neverPartial(ana);

    // The other device sees nothing of it yet: changes are sent only once their chunks are up.
    const before = await syncToEnd(ben);
    expect(before.bytesDownloaded).toBe(0);
    await neverPartial(ben);

    const finish = await syncToEnd(ana);
    // Resumed, not started over: only what the relay still lacked moved (measured: 12–28 MB
    // of the 128 MiB after the late kill).
    expect(finish.bytesUploaded).toBeGreaterThan(0);
    expect(finish.bytesUploaded).toBeLessThan(SIZE / 2);
    expect(finish.errors).toEqual([]);
    console.log(
      `upload restart: ${finish.bytesUploaded} B in ${finish.ms} ms; ana's WEFT_HOME peaked at ${anaHomePeak} B`,
    );
    // The sender's home never held a second copy of the file (it spooled all of it before).
    expect(anaHomePeak).toBeLessThan(SIZE / 20);
    expect(await sha256File(join(ana.folder, NAME))).toBe(sourceHash);
  }, 90_000);

  test("download: killed early and late; never a partial file, resumed from its temp file", async () => {
    // The chunks go straight into the file's temp file (named after the file and its content,
    // so a restart finds it and reads the chunks in it, each verified, instead of fetching them).
    const none = new Set<string>();
    // 1. Early in the download.
    const t1 = await killWhen(
      ben,
      "15% downloaded",
      async () => (await largestTemp(ben, none)) > 0.15 * SIZE,
    );
    await neverPartial(ben);
    const leftEarly = await tempFiles(ben.folder);
    expect(leftEarly).toHaveLength(1);
    // 2. Late in it: this run went on with the same temp file.
    const t2 = await killWhen(
      ben,
      "75% downloaded",
      async () => (await largestTemp(ben, none)) > 0.75 * SIZE,
    );
    await neverPartial(ben);
    expect(await tempFiles(ben.folder)).toEqual(leftEarly);
    console.log(`download killed after ${t1} ms and ${t2} ms`);

    const finish = await syncToEnd(ben);
    expect(finish.errors).toEqual([]);
    expect(await tempFiles(ben.folder)).toEqual([]);
    expect(await sha256File(join(ben.folder, NAME))).toBe(sourceHash);
    // Resumed, not started over: the chunks downloaded before the kills did not move again.
    expect(finish.bytesDownloaded).toBeLessThan(SIZE / 2);
    console.log(`download restart: ${finish.bytesDownloaded} B in ${finish.ms} ms`);

    // And the sender still has it, unchanged.
    await syncToEnd(ana);
    expect(await sha256File(join(ana.folder, NAME))).toBe(sourceHash);
  }, 90_000);
});
