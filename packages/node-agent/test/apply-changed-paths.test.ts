// The pass after a remote change plans only the paths the change touched, not the whole folder
// (issue 14: at 20,000 files a full pass cost each remote edit a comparison of the whole tree
// with the disk state), and still writes what a full pass would: an edit, a directory renamed,
// a directory and a file removed, a new directory, a conflict copy.
//
// Both devices run in this process (the agent's own FolderSync, connected to a real relay
// process), so each pass's statistics can be read; the folder is shared with the real `weft` CLI.
import { readFile, readdir, rename, rm, utimes, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ready } from "@weft/crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Home } from "../src/home/index.js";
import type { FolderSync } from "../src/sync/folder-sync.js";
import { openFolders } from "../src/sync/run.js";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  shareFolder,
  startRelayProcess,
  writeSettled,
} from "@weft/test-support";

const DIRS = 20;
const PER_DIR = 50;
const name = (d: number, f: number) => `d${String(d).padStart(2, "0")}/f${d * PER_DIR + f}.txt`;

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
let s: FolderSync;
let a: FolderSync;

/** Every file and directory under `dir` with its content ("/" for a directory), sorted. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const rel = join(e.parentPath, e.name).slice(dir.length + 1);
    if (rel.startsWith(".weft")) continue;
    out.push(e.isDirectory() ? `${rel}/` : `${rel}: ${await readFile(join(dir, rel), "utf8")}`);
  }
  return out.sort();
}

/** A device of this process, syncing with the relay. */
async function open(device: Device): Promise<FolderSync> {
  const home = new Home(device.home);
  const [sync] = await openFolders(home, await home.device(), await home.folders(), true);
  return sync!;
}

/** Ana's changes reach the relay; ben takes them in and runs the daemon's pass after a remote change. */
async function benReceives(): Promise<void> {
  await a.scan();
  await a.replica.syncOnce();
  await s.replica.syncOnce();
  await s.apply({ onlyChanged: true });
}

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  const past = new Date(Date.now() - 5000);
  for (let d = 0; d < DIRS; d++) {
    await mkdir(join(ana.folder, name(d, 0), ".."), { recursive: true });
    for (let f = 0; f < PER_DIR; f++) {
      const path = join(ana.folder, name(d, f));
      await writeFile(path, `file ${d}/${f}\n`);
      await utimes(path, past, past);
    }
  }
  await shareFolder(ana, ben);
  await ready();
  a = await open(ana);
  await a.syncOnce();
  s = await open(ben);
  await s.syncOnce();
}, 120_000);

afterAll(async () => {
  await s?.close();
  await a?.close();
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("the apply pass after a remote change", () => {
  test("the first pass looks at the whole folder", async () => {
    expect(s.lastPass).toEqual({ full: true, paths: DIRS * PER_DIR + DIRS });
    expect(await listing(ben.folder)).toEqual(await listing(ana.folder));
  });

  test("an edit: only its path (and its directory) is planned", async () => {
    await writeSettled(join(ana.folder, name(3, 7)), "edited on ana\n");
    await benReceives();
    expect(s.lastPass).toEqual({ full: false, paths: 2 }); // the file and its directory
    expect(await readFile(join(ben.folder, name(3, 7)), "utf8")).toBe("edited on ana\n");
  });

  test("a directory renamed, a directory and a file removed, a new directory: as a full pass", async () => {
    await mkdir(join(ana.folder, "moved"));
    await rename(join(ana.folder, "d05"), join(ana.folder, "moved", "d05-renamed"));
    await rm(join(ana.folder, "d06"), { recursive: true });
    await rm(join(ana.folder, name(7, 0)));
    await mkdir(join(ana.folder, "new", "deep"), { recursive: true });
    await writeSettled(join(ana.folder, "new", "deep", "x.txt"), "new on ana\n");
    await benReceives();
    // The two directories' contents, the file, the new paths: not the other 900 entries.
    expect(s.lastPass?.full).toBe(false);
    expect(s.lastPass?.paths).toBeLessThan(2 * PER_DIR * 2 + 20);
    expect(await listing(ben.folder)).toEqual(await listing(ana.folder));
  });

  test("a file changed on both devices: the conflict copy is written, and reaches ana", async () => {
    await writeSettled(join(ben.folder, name(1, 0)), "ben's version\n");
    await s.scan(); // recorded and queued on ben, not yet sent
    await writeSettled(join(ana.folder, name(1, 0)), "ana's version\n");
    await benReceives();
    expect(s.lastPass?.full).toBe(false);
    const copies = (await readdir(join(ben.folder, "d01"))).filter((n) =>
      n.includes(".sync-conflict-"),
    );
    expect(copies).toHaveLength(1);
    const versions = [
      await readFile(join(ben.folder, name(1, 0)), "utf8"),
      await readFile(join(ben.folder, "d01", copies[0]!), "utf8"),
    ].sort();
    expect(versions).toEqual(["ana's version\n", "ben's version\n"]);
    await s.syncOnce();
    await a.syncOnce();
    expect(await listing(ben.folder)).toEqual(await listing(ana.folder));
  });
});
