// Issue 14, end to end (real relay process, real `weft` processes): after a folder's first sync,
// WEFT_HOME holds the agent's bookkeeping, not a second copy of the folder. The sender's chunks
// wait in its store only until the relay has them; the receiver writes each chunk straight
// into the file it belongs to. A rename and a copy on one device then reach the other without
// fetching content again: it reads the chunks from the files it has.
import { createHash, randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  backdate,
  enroll,
  firstFolder,
  makeDevice,
  scratchRoot,
  shareFolder,
  startRelayProcess,
  writeRandomFile,
  writeSettled,
} from "@weft/test-support";

const KiB = 1024;
const MiB = 1024 * KiB;

let relay: RelayProcess;
const devices: (Device & { dispose(): Promise<void> })[] = [];

beforeAll(async () => {
  relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.dispose()));
  await relay?.dispose();
});

async function device(name: string): Promise<Device> {
  const d = await makeDevice(name, await mkdtemp(join(scratchRoot(), `weft-${name}-`)));
  devices.push(d);
  await enroll(d, relay.url);
  return d;
}

/** Bytes of every file under `dir` (what `du --apparent-size` counts). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

const syncOnce = async (d: Device) => firstFolder(await d.ok(["sync", "--once", d.folder]));

test("after a first sync WEFT_HOME is a small fraction of the folder on both devices; a rename and a copy move no content", async () => {
  const [ana, ben] = await Promise.all([device("ana"), device("ben")]);
  await shareFolder(ana, ben);
  // One large file and many small ones: incompressible, so nothing hides in compression.
  await mkdir(join(ana.folder, "media"), { recursive: true });
  const bigHash = await writeRandomFile(join(ana.folder, "media/big.bin"), 6 * MiB);
  await backdate(join(ana.folder, "media/big.bin"));
  for (let i = 0; i < 40; i++) {
    const path = join(ana.folder, `docs/d${i % 4}/f${i}.bin`);
    await mkdir(dirname(path), { recursive: true });
    await writeSettled(path, randomBytes(32 * KiB));
  }
  const folderBytes = await bytesUnder(ana.folder);

  const sent = await syncOnce(ana);
  expect(sent.errors).toEqual([]);
  const got = await syncOnce(ben);
  expect(got.errors).toEqual([]);
  expect(await bytesUnder(ben.folder)).toBe(folderBytes);

  // The goal of issue 14: WEFT_HOME ≤ 10% of the folder after the first sync (it was ~100%:
  // every chunk kept in chunks.sqlite on both sides).
  const [anaHome, benHome] = await Promise.all([bytesUnder(ana.home), bytesUnder(ben.home)]);
  console.log(
    `folder ${folderBytes} B; WEFT_HOME after the first sync: ana ${anaHome} B, ben ${benHome} B`,
  );
  expect(anaHome).toBeLessThan(folderBytes / 10);
  expect(benHome).toBeLessThan(folderBytes / 10);

  // Renamed and copied on ana: ben builds both from what it has, fetching no content.
  await rename(join(ana.folder, "media/big.bin"), join(ana.folder, "media/renamed.bin"));
  await copyFile(join(ana.folder, "docs/d1/f1.bin"), join(ana.folder, "docs/copy.bin"));
  await backdate(join(ana.folder, "docs/copy.bin"));
  expect((await syncOnce(ana)).errors).toEqual([]);
  const moved = await syncOnce(ben);
  expect(moved.errors).toEqual([]);
  expect(moved.bytesDownloaded).toBeLessThan(64 * KiB);
  const benBig = await readFile(join(ben.folder, "media/renamed.bin"));
  expect(benBig.length).toBe(6 * MiB);
  expect(createHash("sha256").update(benBig).digest("hex")).toBe(bigHash);
  expect(await readFile(join(ben.folder, "docs/copy.bin"))).toEqual(
    await readFile(join(ana.folder, "docs/d1/f1.bin")),
  );
  await expect(stat(join(ben.folder, "media/big.bin"))).rejects.toThrow();
  expect(await bytesUnder(ben.home)).toBeLessThan(folderBytes / 10);
}, 60_000);
