// `weft gc` through the CLI frees space on a real relay process: once a file has been edited more
// often than history keeps (20 earlier versions), the chunks of the versions that fell out are
// unreferenced; after the relay's grace period (`WEFT_RELAY_GC_GRACE=1` here) `weft gc` deletes
// exactly those from the relay's chunk directory, and a device that joins afterwards still gets
// the current file and can restore the oldest version history kept.
//
// The edits run in this process (the agent's own FolderSync on ana's home, one pass per edit:
// 23 `weft sync --once` processes would take most of a minute); gc and everything a user checks
// afterwards run as `weft` processes.
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ready } from "@weft/crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Home } from "../src/home/index.js";
import type { FolderSync } from "../src/sync/folder-sync.js";
import { openFolders } from "../src/sync/run.js";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  startRelayProcess,
  waitFor,
  writeSettled,
} from "./helpers/agent-process.js";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
let anaSync: FolderSync | undefined;
let folderId: string;

/** Versions written; the agent keeps 20 earlier ones, so the first two fall out of history. */
const VERSIONS = 23;
const DROPPED = 2;
/** One chunk each, all different (and of different sizes, which `weft history` shows). */
const version = (i: number) => `version ${i} of the log\n${"x".repeat(100 + i)}\n`;

/** The chunk files the relay holds for the folder (paths relative to its chunk directory). */
async function chunkFiles(): Promise<string[]> {
  const dir = join(relay.dir, "data", "chunks", folderId);
  const out: string[] = [];
  for (const rel of await readdir(dir, { recursive: true }))
    if ((await stat(join(dir, rel))).isFile()) out.push(rel);
  return out;
}

beforeAll(async () => {
  relay = await startRelayProcess({ WEFT_RELAY_GC_GRACE: "1" });
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  ({ folderId } = (await ana.ok(["folder", "create", ana.folder])) as { folderId: string });
}, 60_000);

afterAll(async () => {
  await anaSync?.close();
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

test("weft gc deletes the chunks of versions that fell out of history, and only those", async () => {
  await ready();
  const home = new Home(ana.home);
  [anaSync] = await openFolders(home, await home.device(), await home.folders(), true);
  const file = join(ana.folder, "log.txt");
  for (let i = 0; i < VERSIONS; i++) {
    await writeSettled(file, version(i));
    await anaSync!.syncOnce();
  }
  await anaSync!.close();
  anaSync = undefined;
  const { versions } = (await ana.ok(["history", file])) as { versions: { size: number }[] };
  expect(versions).toHaveLength(VERSIONS - DROPPED - 1);
  const before = await chunkFiles();
  expect(before.length).toBeGreaterThanOrEqual(VERSIONS);

  // The relay keeps chunks used within its grace period (a second here): ask until it is over.
  let deleted = 0;
  let last: { live: number; unreferenced: number; deleted: number } | undefined;
  await waitFor(
    async () => {
      const { folders } = (await ana.ok(["gc"])) as { folders: NonNullable<typeof last>[] };
      last = folders[0]!;
      deleted += last.deleted;
      return deleted >= DROPPED;
    },
    60_000,
    "weft gc to delete the dropped versions' chunks",
  );
  expect(deleted).toBe(DROPPED);
  expect(last!.live).toBe(VERSIONS - DROPPED);
  expect(last!.unreferenced).toBe(last!.deleted); // nothing left over for a later run
  const after = await chunkFiles();
  expect(after).toHaveLength(before.length - DROPPED);
  expect(before).toEqual(expect.arrayContaining(after));

  // Nothing live went: a device that joins now gets the file, and the oldest kept version.
  const { invite } = await ana.ok(["folder", "invite", folderId, "--role", "editor"]);
  await ben.ok(["folder", "join", "-", ben.folder], { input: `${invite as string}\n` });
  await ben.ok(["sync", "--once"]);
  const benFile = join(ben.folder, "log.txt");
  expect(await readFile(benFile, "utf8")).toBe(version(VERSIONS - 1));
  const listed = (await ben.ok(["history", benFile])) as { versions: { size: number }[] };
  expect(listed.versions).toHaveLength(VERSIONS - DROPPED - 1);
  await ben.ok(["restore", benFile, "--version", String(VERSIONS - DROPPED - 1)]);
  expect(await readFile(benFile, "utf8")).toBe(version(DROPPED));
}, 180_000);
