// Issue 22, end to end: the same project folder already sits on two machines and the person
// sets up sync between them (real relay process, real `weft` processes). Ana creates the folder
// from her tree; Ben joins it into his existing, overlapping tree. Both end with one tree: the
// directories merged, identical files once (and not uploaded a second time), each file that
// differs as the file plus one conflict copy, listed by `weft conflicts` and settled with the
// files (a copy deleted, a copy renamed) like any conflict.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  firstFolder,
  makeDevice,
  scratchRoot,
  startRelayProcess,
  writeSettled,
} from "@weft/test-support";

let relay: RelayProcess;
const disposers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(disposers.map((d) => d()));
  await relay?.dispose();
});

async function device(name: string): Promise<Device> {
  const d = await makeDevice(name, await mkdtemp(join(scratchRoot(), `weft-${name}-`)));
  disposers.push(() => d.dispose());
  await enroll(d, relay.url);
  return d;
}

async function put(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [path, data] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeSettled(join(root, path), data);
  }
}

/** Every file under `dir` with its bytes as text (hex for the big one), sorted by path. */
async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const paths = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
  for (const p of paths) {
    const bytes = await readFile(join(dir, p));
    out[p] = p.endsWith(".bin") ? `${bytes.length} bytes` : bytes.toString("utf8");
  }
  return out;
}

const syncOnce = async (d: Device, path: string) =>
  firstFolder(await d.ok(["sync", "--once", path]));

test("joining a folder into an overlapping tree merges it: one tree, one copy per differing file", async () => {
  const [ana, ben] = await Promise.all([device("ana"), device("ben")]);
  const anaPath = join(ana.folder, "..", "project");
  const benPath = join(ben.folder, "..", "project");
  // Large enough that sending it a second time would show in the byte count.
  const big = randomBytes(600 * 1024);
  await put(anaPath, {
    "docs/x.txt": "only on ana",
    "docs/same.txt": "the same on both",
    "docs/same.bin": big,
    "docs/diff.txt": "ana's version",
    "docs/deep/a/one.txt": "ana's nested file",
    "docs/deep/shared.txt": "nested, the same",
    "docs/deep/b/notes.md": "ana's notes",
  });
  await put(benPath, {
    "docs/y.txt": "only on ben",
    "docs/same.txt": "the same on both",
    "docs/same.bin": big,
    "docs/diff.txt": "ben's version",
    "docs/deep/a/two.txt": "ben's nested file",
    "docs/deep/shared.txt": "nested, the same",
    "docs/deep/b/notes.md": "ben's notes",
  });

  const { folderId } = (await ana.ok(["folder", "create", anaPath])) as { folderId: string };
  await syncOnce(ana, anaPath);
  const { invite } = await ana.ok(["folder", "invite", folderId, "--role", "editor"]);
  const joined = await ben.run(["folder", "join", "-", benPath], {
    input: `${invite as string}\n`,
  });
  expect(joined.status, joined.stderr).toBe(0);
  expect(joined.stdout).toContain("7 files already here will be compared, not replaced");

  const first = await syncOnce(ben, benPath);
  // Identical files are not sent again, nor fetched: Ben uploads only the chunks of his own
  // different files (a few hundred bytes), never the 600 KiB Ana sent already, and adopts his
  // copy of it by hash.
  expect(first.bytesUploaded).toBeLessThan(4096);
  expect(first.bytesDownloaded).toBeLessThan(big.length / 2);
  expect(first.errors).toEqual([]);
  const back = await syncOnce(ana, anaPath);
  expect(back.bytesDownloaded).toBeLessThan(4096);
  expect(back.errors).toEqual([]);
  await syncOnce(ben, benPath);

  const [onAna, onBen] = await Promise.all([files(anaPath), files(benPath)]);
  expect(onBen).toEqual(onAna);
  const paths = Object.keys(onAna);
  expect(paths.join("\n")).not.toContain("name-clash");
  const copies = paths.filter((p) => p.includes(".sync-conflict-"));
  expect(copies).toHaveLength(2);
  expect(paths.filter((p) => !p.includes(".sync-conflict-"))).toEqual([
    "docs/deep/a/one.txt",
    "docs/deep/a/two.txt",
    "docs/deep/b/notes.md",
    "docs/deep/shared.txt",
    "docs/diff.txt",
    "docs/same.bin",
    "docs/same.txt",
    "docs/x.txt",
    "docs/y.txt",
  ]);
  // Each differing file: one version at its path, the other beside it as the copy.
  for (const [path, versions] of [
    ["docs/diff.txt", ["ana's version", "ben's version"]],
    ["docs/deep/b/notes.md", ["ana's notes", "ben's notes"]],
  ] as const) {
    const stem = path.slice(0, path.lastIndexOf("."));
    const copy = copies.find((c) => c.startsWith(`${stem}.sync-conflict-`))!;
    expect([onAna[path], onAna[copy]].sort()).toEqual([...versions]);
  }
  expect(onAna["docs/same.bin"]).toBe(`${big.length} bytes`);

  const listed = await Promise.all(
    [
      [ana, anaPath],
      [ben, benPath],
    ].map(async ([d, path]) => {
      const { conflicts } = (await (d as Device).ok(["conflicts", path as string])) as {
        conflicts: { path: string; copies: { path: string }[] }[];
      };
      return conflicts.map((c) => [c.path, c.copies.length]).sort();
    }),
  );
  for (const l of listed)
    expect(l).toEqual([
      ["docs/deep/b/notes.md", 1],
      ["docs/diff.txt", 1],
    ]);

  // Settled with the files, as any conflict: Ben deletes one copy (the file stays as shown)
  // and renames the other (a file of its own); Ana's disk follows, nothing comes back.
  const diffCopy = copies.find((c) => c.startsWith("docs/diff.sync-conflict-"))!;
  const notesCopy = copies.find((c) => c.startsWith("docs/deep/b/notes.sync-conflict-"))!;
  await rm(join(benPath, diffCopy));
  await rename(join(benPath, notesCopy), join(benPath, "docs/deep/b/other-notes.md"));
  await syncOnce(ben, benPath);
  await syncOnce(ana, anaPath);
  const [endAna, endBen] = await Promise.all([files(anaPath), files(benPath)]);
  expect(endBen).toEqual(endAna);
  expect(Object.keys(endAna).filter((p) => p.includes(".sync-conflict-"))).toEqual([]);
  expect(endAna["docs/diff.txt"]).toBe(onAna["docs/diff.txt"]);
  expect(endAna["docs/deep/b/other-notes.md"]).toBe(onAna[notesCopy]);
  expect(((await ana.ok(["conflicts", anaPath])) as { conflicts: unknown[] }).conflicts).toEqual(
    [],
  );
}, 60_000);
