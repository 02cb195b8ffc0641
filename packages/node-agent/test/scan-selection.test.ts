// A scan under a selection (weft folder select): files the person moves out of the selection are
// moves, found by inode without reading them, not removals; what only looks like them is not.
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { IgnoreRules } from "../src/ignore/index.js";
import { type LocalFileState, type ScanResult, scanFolder } from "../src/scan/index.js";
import { Selection } from "../src/select/index.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function put(root: string, rel: string, text: string): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), text);
}

/** A scan under `selection` (stableMs 0), counting the files it hashed. */
async function scan(
  root: string,
  selection: Selection,
  previous: ReadonlyMap<string, LocalFileState>,
  paths?: ReadonlySet<string>,
): Promise<ScanResult & { hashed: number }> {
  let hashed = 0;
  const result = await scanFolder({
    root,
    ignore: await IgnoreRules.load(root),
    previous,
    stableMs: 0,
    selected: (p, isDir) => selection.includes(p, isDir),
    unselected: (p, isDir) => selection.leavesOut(p, isDir),
    onProgress: (p) => (hashed = p.files),
    ...(paths ? { paths } : {}),
  });
  return Object.assign(result, { hashed });
}

const moves = (r: ScanResult): string[] =>
  r.moved.map((m) => `${m.from.path} -> ${m.to.path}${m.leftSelection ? " (left)" : ""}`);

test("files and a directory moved out of --only docs are moves, found unread, also from the watcher's paths alone", async () => {
  const root = await mkdtemp(join(tmpdir(), "weft-scan-sel-"));
  dirs.push(root);
  const only = Selection.of({ only: ["docs"] });
  await put(root, "docs/a.txt", "a");
  await put(root, "docs/sub/b.txt", "b");
  await put(root, "docs/gone.txt", "deleted");
  await put(root, "docs/copied.txt", "copied, then deleted");
  await put(root, "other/old.txt", "there before");
  const first = await scan(root, only, new Map());
  expect([...first.current.keys()].filter((p) => p.startsWith("other"))).toEqual([]);

  await rename(join(root, "docs/a.txt"), join(root, "other/a.txt"));
  await rename(join(root, "docs/sub"), join(root, "other/sub"));
  await rm(join(root, "docs/gone.txt"));
  await copyFile(join(root, "docs/copied.txt"), join(root, "other/copied.txt"));
  await rm(join(root, "docs/copied.txt"));
  // The watcher reports only the paths inside the selection: the scan looks outside itself.
  const watched = new Set(["docs/a.txt", "docs/sub", "docs/gone.txt", "docs/copied.txt"]);
  const after = await scan(root, only, first.current, watched);
  expect(moves(after)).toEqual([
    "docs/a.txt -> other/a.txt (left)",
    "docs/sub -> other/sub (left)",
    "docs/sub/b.txt -> other/sub/b.txt (left)",
  ]);
  // A copy has another inode: its source was deleted. Nothing outside was read.
  expect(after.removed.map((r) => r.path)).toEqual(["docs/copied.txt", "docs/gone.txt"]);
  expect(after.added).toEqual([]);
  expect(after.hashed).toBe(0);
  expect(after.current.get("other/a.txt")?.hash).toBe(first.current.get("docs/a.txt")?.hash);
  // What was outside before, and a file moved within it, are not found again next time.
  await rename(join(root, "other/a.txt"), join(root, "other/a2.txt"));
  const again = await scan(root, only, after.current);
  expect(moves(again)).toEqual([]);
  expect(again.removed).toEqual([]);
});

test("under --except, only the left-out directory is looked in", async () => {
  const root = await mkdtemp(join(tmpdir(), "weft-scan-sel-"));
  dirs.push(root);
  const except = Selection.of({ except: ["archive/old"] });
  expect(except.leavesOut("archive", true)).toBe(true);
  expect(except.leavesOut("docs", true)).toBe(false);
  expect(except.leavesOut("archive/new.txt", false)).toBe(false);
  await put(root, "docs/a.txt", "a");
  await put(root, "archive/old/keep.txt", "k");
  const first = await scan(root, except, new Map());
  await rename(join(root, "docs/a.txt"), join(root, "archive/old/a.txt"));
  const after = await scan(root, except, first.current);
  expect(moves(after)).toEqual(["docs/a.txt -> archive/old/a.txt (left)"]);
  expect(after.removed).toEqual([]);
});
