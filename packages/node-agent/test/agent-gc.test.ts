// `weft gc` through the CLI frees space on a real relay process: once a file has been edited more
// often than history keeps (20 earlier versions), the chunks of the versions that fell out are
// unreferenced; after the relay's grace period (`WEFT_RELAY_GC_GRACE=1` here) `weft gc` deletes
// exactly those from the relay's chunk directory, and a device that joins afterwards still gets
// the current file and can restore the oldest version history kept.
//
// A second case: a GC request that names current content (the relay cannot tell; here with no
// grace left and no quarantine, so the chunks are gone at once) loses nothing a device holds:
// the next `weft sync --once` of a device with the files has-checks the current tree's chunks
// and uploads what the relay lacks, and a device that joins afterwards gets every file.
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
  call,
  enroll,
  makeDevice,
  startRelayProcess,
  waitFor,
  writeSettled,
} from "@weft/test-support";

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
    if (!rel.startsWith(".") && (await stat(join(dir, rel))).isFile()) out.push(rel);
  return out;
}

beforeAll(async () => {
  relay = await startRelayProcess({ WEFT_RELAY_GC_GRACE: "1", WEFT_RELAY_GC_QUARANTINE: "0" });
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

test("after an owner's GC request deletes current chunks, a device re-uploads them and a new device gets every file", async () => {
  const files = { "a.txt": "alpha\n".repeat(500), "b.txt": "bravo\n".repeat(3000) };
  for (const [path, text] of Object.entries(files))
    await writeSettled(join(ana.folder, path), text);
  await ana.ok(["sync", "--once"]);
  await ben.ok(["sync", "--once"]);
  expect(await readFile(join(ben.folder, "b.txt"), "utf8")).toBe(files["b.txt"]);

  // The owner's account asks the relay to delete every chunk it lists, current content too,
  // until the grace period (a second) has passed for all of them.
  const login = await call(relay.url, "POST", "/v1/auth/login", {
    user: "ana",
    password: "ana-correct-horse",
  });
  const token = login.json["accessToken"] as string;
  const blobs = `/v1/folders/${folderId}/blobs`;
  const { json: listing } = await call(relay.url, "GET", `${blobs}/ids`, undefined, token);
  const ids = listing["ids"] as string[];
  await waitFor(
    async () =>
      (await call(relay.url, "POST", `${blobs}/delete`, { ids }, token)).status === 200 &&
      (await chunkFiles()).length === 0,
    30_000,
    "the relay to delete every chunk",
  );

  // Ben still holds the current files: his next sync finds the relay lacks their chunks and
  // puts them back (the log.txt of the first test, a.txt and b.txt).
  await ben.ok(["sync", "--once"]);
  expect((await chunkFiles()).length).toBe(3);

  // A device that joins now gets every file, byte for byte.
  const cleo = await makeDevice("cleo");
  try {
    await enroll(cleo, relay.url);
    const { invite } = await ana.ok(["folder", "invite", folderId, "--role", "viewer"]);
    await cleo.ok(["folder", "join", "-", cleo.folder], { input: `${invite as string}\n` });
    await cleo.ok(["sync", "--once"]);
    for (const [path, text] of Object.entries(files))
      expect(await readFile(join(cleo.folder, path), "utf8")).toBe(text);
    // The version ben restored at the end of the first test.
    expect(await readFile(join(cleo.folder, "log.txt"), "utf8")).toBe(version(DROPPED));
  } finally {
    await cleo.dispose();
  }
}, 120_000);
