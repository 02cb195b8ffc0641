// Resolving a conflict the way `weft conflicts --help` says, with the files themselves: real
// `weft` processes on two devices and a real relay process. Concurrent edits of four files leave
// a conflict copy of each on both devices; then the user deletes one copy, renames another, edits
// the third and moves the fourth over its file, and every device follows: the copy is gone (or an
// ordinary file), `weft conflicts` no longer lists it, and no version is lost.
import { readFile, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  shareFolder,
  startRelayProcess,
  writeSettled,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };

const FILES = ["deleted.txt", "renamed.txt", "edited.txt", "replaced.txt"] as const;
type Name = (typeof FILES)[number];
/** Different lengths, so `weft history` tells the versions apart by size. */
const ANA = (name: Name) => `ana's edit of ${name}\n`;
const BEN = (name: Name) => `ben's longer, concurrent edit of ${name}\n`;
/** Which edit won each file (the later writer), and so which one is in the conflict copy. */
const winner = new Map<Name, string>();
const loser = new Map<Name, string>();

interface ConflictsJson {
  conflicts: { path: string; copies: { path: string }[] }[];
}
interface HistoryJson {
  versions: { n: number; size: number }[];
}

/** `weft sync --once` on `device`; fails the test with its output unless it exits 0. */
async function syncOnce(device: Device): Promise<void> {
  const r = await device.run(["sync", "--once", "--json"]);
  expect(r.status, `${device.name}: weft sync --once\n${r.stderr}${r.stdout}`).toBe(0);
}

/** The conflict copies of `name` on disk in `dir`. */
async function copiesOf(dir: string, name: Name): Promise<string[]> {
  const stem = name.slice(0, name.lastIndexOf("."));
  return (await readdir(dir)).filter((n) => n.startsWith(`${stem}.sync-conflict-`));
}

/** The paths `weft conflicts --json` lists on `device`. */
async function listed(device: Device): Promise<string[]> {
  const { conflicts } = (await device.ok(["conflicts"])) as unknown as ConflictsJson;
  return conflicts.map((c) => c.path).sort();
}

/** Restores the earlier version of `name` that has `content`'s length; returns the file's text. */
async function restoreBySize(device: Device, name: Name, content: string): Promise<string> {
  const file = join(device.folder, name);
  const { versions } = (await device.ok(["history", file])) as unknown as HistoryJson;
  const v = versions.find((x) => x.size === Buffer.byteLength(content));
  expect(v, `${device.name}: history of ${name}: ${JSON.stringify(versions)}`).toBeDefined();
  await device.ok(["restore", file, "--version", String(v!.n)]);
  return readFile(file, "utf8");
}

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  for (const name of FILES) await writeSettled(join(ana.folder, name), `${name}, version 0\n`);
  await shareFolder(ana, ben);
  await syncOnce(ana);
  await syncOnce(ben);
}, 60_000);

afterAll(async () => {
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("a conflict copy deleted, renamed or edited on disk resolves the conflict everywhere", () => {
  test("concurrent edits leave a conflict copy of each file on both devices", async () => {
    for (const name of FILES) {
      await writeSettled(join(ana.folder, name), ANA(name));
      await writeSettled(join(ben.folder, name), BEN(name));
    }
    await syncOnce(ana);
    await syncOnce(ben);
    await syncOnce(ana);

    for (const name of FILES) {
      const shown = await readFile(join(ana.folder, name), "utf8");
      expect([ANA(name), BEN(name)]).toContain(shown);
      winner.set(name, shown);
      loser.set(name, shown === ANA(name) ? BEN(name) : ANA(name));
      for (const d of [ana, ben]) {
        expect(await readFile(join(d.folder, name), "utf8"), d.name).toBe(shown);
        const copies = await copiesOf(d.folder, name);
        expect(copies, d.name).toHaveLength(1);
        expect(await readFile(join(d.folder, copies[0]!), "utf8")).toBe(loser.get(name));
      }
    }
    expect(await listed(ana)).toEqual([...FILES].sort());
    expect(await listed(ben)).toEqual([...FILES].sort());
  }, 60_000);

  test("deleting the copy on one device: gone on both, not listed, the loser restorable", async () => {
    const name = "deleted.txt";
    const [copy] = await copiesOf(ben.folder, name);
    await rm(join(ben.folder, copy!));
    await syncOnce(ben);
    await syncOnce(ana);
    await syncOnce(ben);

    for (const d of [ana, ben]) {
      expect(await copiesOf(d.folder, name), d.name).toEqual([]);
      expect(await readFile(join(d.folder, name), "utf8"), d.name).toBe(winner.get(name));
      expect(await listed(d), d.name).not.toContain(name);
    }
    // A later sync does not bring the copy back.
    await syncOnce(ana);
    await syncOnce(ben);
    expect(await copiesOf(ana.folder, name)).toEqual([]);
    expect(await copiesOf(ben.folder, name)).toEqual([]);

    // The deleted copy's version is in the file's history on the other device: restore it there.
    expect(await restoreBySize(ana, name, loser.get(name)!)).toBe(loser.get(name));
    await syncOnce(ben);
    expect(await readFile(join(ben.folder, name), "utf8")).toBe(loser.get(name));
  }, 90_000);

  test("renaming the copy: a file of its own at the new name on both, the conflict resolved", async () => {
    const name = "renamed.txt";
    const [copy] = await copiesOf(ana.folder, name);
    await rename(join(ana.folder, copy!), join(ana.folder, "renamed-theirs.txt"));
    await syncOnce(ana);
    await syncOnce(ben);
    await syncOnce(ana);

    for (const d of [ana, ben]) {
      expect(await copiesOf(d.folder, name), d.name).toEqual([]);
      expect(await readFile(join(d.folder, "renamed-theirs.txt"), "utf8"), d.name).toBe(
        loser.get(name),
      );
      expect(await readFile(join(d.folder, name), "utf8"), d.name).toBe(winner.get(name));
      expect(await listed(d), d.name).not.toContain(name);
    }
    // The new file is ordinary: an edit of it syncs like any other.
    await writeSettled(join(ben.folder, "renamed-theirs.txt"), "edited under its new name\n");
    await syncOnce(ben);
    await syncOnce(ana);
    expect(await readFile(join(ana.folder, "renamed-theirs.txt"), "utf8")).toBe(
      "edited under its new name\n",
    );
  }, 90_000);

  test("editing the copy: it becomes an ordinary file with the edit, on both devices", async () => {
    const name = "edited.txt";
    const [copy] = await copiesOf(ben.folder, name);
    const EDIT = "ben kept the other version and edited it\n";
    await writeSettled(join(ben.folder, copy!), EDIT);
    await syncOnce(ben);
    await syncOnce(ana);
    await syncOnce(ben);

    for (const d of [ana, ben]) {
      expect(await readFile(join(d.folder, copy!), "utf8"), d.name).toBe(EDIT);
      expect(await readFile(join(d.folder, name), "utf8"), d.name).toBe(winner.get(name));
      expect(await listed(d), d.name).not.toContain(name);
    }
    // Nothing is lost: the copy's version before the edit is in the history of both files.
    for (const file of [name, copy!]) {
      const { versions } = (await ana.ok([
        "history",
        join(ana.folder, file),
      ])) as unknown as HistoryJson;
      expect(
        versions.map((v) => v.size),
        file,
      ).toContain(Buffer.byteLength(loser.get(name)!));
    }
  }, 90_000);

  test("moving the copy over the file keeps the copy's version there, on both devices", async () => {
    const name = "replaced.txt";
    const [copy] = await copiesOf(ana.folder, name);
    await rename(join(ana.folder, copy!), join(ana.folder, name));
    await syncOnce(ana);
    await syncOnce(ben);
    await syncOnce(ana);

    for (const d of [ana, ben]) {
      expect(await copiesOf(d.folder, name), d.name).toEqual([]);
      expect(await readFile(join(d.folder, name), "utf8"), d.name).toBe(loser.get(name));
      expect(await listed(d), d.name).toEqual([]); // the last of the four conflicts
      const { versions } = (await d.ok([
        "history",
        join(d.folder, name),
      ])) as unknown as HistoryJson;
      expect(versions.map((v) => v.size)).toContain(Buffer.byteLength(winner.get(name)!));
    }
  }, 90_000);
});
