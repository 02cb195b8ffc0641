// The write policy (materialize/plan.ts) in process, no disk: what an apply writes, leaves
// alone, removes and puts beside a local change, given the tree and what this device last saw.
// One applyPlan test per outcome that touches the disk, on a temp directory.
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type FolderEvent, FolderEvents } from "../src/activity/index.js";
import { type TreeItem, applyPlan, planMaterialize } from "../src/materialize/index.js";
import { type LocalFileState, hashFile } from "../src/scan/index.js";
import { DiskState } from "../src/state/index.js";

const WALL = Date.UTC(2024, 4, 6, 7, 8, 9);
const DEVICE = "abcdef1234567890";
const none = (): boolean => false;

function file(path: string, hash: string, mode = 0o644): TreeItem {
  return {
    path,
    kind: "file",
    size: hash.length,
    contentHash: hash,
    version: { mode: 0o100000 | mode, mtime: WALL - 1000, hlc: { wall: WALL }, device: DEVICE },
  };
}
const dir = (path: string): TreeItem => ({ path, kind: "dir", size: 0, contentHash: null });

function rec(
  path: string,
  hash: string | null,
  over: Partial<LocalFileState> = {},
): LocalFileState {
  return {
    path,
    kind: hash === null ? "dir" : "file",
    size: hash?.length ?? 0,
    mtimeMs: 1000,
    ino: 7,
    mode: hash === null ? 0o755 : 0o644,
    hash,
    ...over,
  };
}
const disk = (...records: LocalFileState[]) => new Map(records.map((r) => [r.path, r]));
const what = (actions: { do: string; path: string }[]) => actions.map((a) => `${a.do} ${a.path}`);

describe("planMaterialize", () => {
  test("a file this device never saw is written, with permission bits only, and no expectation", () => {
    const plan = planMaterialize([file("a.txt", "h1", 0o755)], disk(), none);
    expect(plan.files).toEqual([
      {
        do: "write",
        path: "a.txt",
        size: 2,
        contentHash: "h1",
        mode: 0o755,
        mtimeMs: WALL - 1000,
        recorded: undefined,
        conflictCopy: "a.sync-conflict-20240506-070809-abcdef1.txt",
      },
    ]);
    expect(plan.stale).toEqual([]);
  });

  test("a file as recorded is left alone; only a mode change is a chmod", () => {
    const tree = [file("same.txt", "h1"), file("exec.sh", "h2", 0o755)];
    const plan = planMaterialize(tree, disk(rec("same.txt", "h1"), rec("exec.sh", "h2")), none);
    expect(plan.files).toEqual([
      { do: "chmod", path: "exec.sh", mode: 0o755, recorded: rec("exec.sh", "h2") },
    ]);
  });

  test("new content replaces only what was recorded; the conflict copy goes beside the file", () => {
    const seen = rec("docs/notes.md", "old");
    const plan = planMaterialize([dir("docs"), file("docs/notes.md", "new")], disk(seen), none);
    expect(plan.files).toMatchObject([
      {
        do: "write",
        path: "docs/notes.md",
        recorded: seen,
        conflictCopy: "docs/notes.sync-conflict-20240506-070809-abcdef1.md",
      },
    ]);
  });

  test("what left the tree is removed, children before their directories", () => {
    const records = disk(rec("keep.txt", "k"), rec("d", null), rec("d/e", null), rec("d/e/f", "f"));
    const plan = planMaterialize([file("keep.txt", "k")], records, none);
    expect(what(plan.stale)).toEqual(["remove-file d/e/f", "remove-dir d/e", "remove-dir d"]);
    expect(plan.stale[0]).toMatchObject({ recorded: rec("d/e/f", "f") });
  });

  test("directories are made parents first, once; symlinks and files without a version are not written", () => {
    const tree: TreeItem[] = [
      dir("a"),
      dir("a/b"),
      dir("made"),
      { path: "link", kind: "symlink", size: 0, contentHash: null },
      { path: "no-version", kind: "file", size: 1, contentHash: "x" },
    ];
    const plan = planMaterialize(tree, disk(rec("made", null)), none);
    expect(what(plan.dirs)).toEqual(["mkdir a", "mkdir a/b"]);
    expect(plan.files).toEqual([]);
    expect(plan.stale).toEqual([]);
  });

  test("names that clash by case: the one already here is kept, the other left out and reported, nothing removed", () => {
    const tree = [file("Readme.md", "theirs"), file("README.md", "ours")];
    const plan = planMaterialize(tree, disk(rec("README.md", "ours")), none);
    expect(plan.clashes).toEqual([["README.md", "Readme.md"]]);
    expect(plan.files).toEqual([]);
    expect(plan.stale).toEqual([]);
  });

  test("names that clash and none is here yet: the first (by code unit) is written", () => {
    const plan = planMaterialize([file("b.txt", "2"), file("B.txt", "1")], disk(), none);
    expect(plan.clashes).toEqual([["B.txt", "b.txt"]]);
    expect(what(plan.files)).toEqual(["write B.txt"]);
  });

  test("ignored paths are not written, and a recorded one that became ignored counts as gone", () => {
    const ignores = (path: string) => path.endsWith(".tmp");
    const tree = [file("x.tmp", "1"), file("y.txt", "2")];
    const plan = planMaterialize(tree, disk(rec("x.tmp", "1")), ignores);
    expect(what(plan.files)).toEqual(["write y.txt"]);
    expect(what(plan.stale)).toEqual(["remove-file x.tmp"]);
  });

  test("names a Windows device cannot hold are written and reported", () => {
    const plan = planMaterialize([file("con.txt", "1"), file("ok.txt", "2")], disk(), none);
    expect(plan.unportable.map((u) => u.path)).toEqual(["con.txt"]);
    expect(what(plan.files)).toEqual(["write con.txt", "write ok.txt"]);
  });
});

describe("applyPlan", () => {
  let root: string;
  let state: DiskState;
  const events: FolderEvent[] = [];
  const folderEvents = new FolderEvents(() => 0);
  folderEvents.on(({ time: _, ...e }) => events.push(e));
  const text = (s: string) => new TextEncoder().encode(s);
  const contents: Record<string, string> = {};
  /** The paths whose content the apply read from the replica (fetched, or copied). */
  const reads: string[] = [];
  const apply = (tree: TreeItem[]) =>
    applyPlan(
      {
        root,
        disk: state,
        // eslint-disable-next-line @typescript-eslint/require-await
        read: async function* (path) {
          reads.push(path);
          yield text(contents[path]!);
        },
        ignores: none,
        writing: () => undefined,
        events: folderEvents,
      },
      planMaterialize(tree, state.map, none),
    );
  const content = async (path: string, body: string): Promise<TreeItem> => {
    contents[path] = body;
    const item = file(path, "");
    const probe = join(root, ".probe");
    await writeFile(probe, body);
    const hash = (await hashFile(probe)).hash;
    await rm(probe);
    return { ...item, size: body.length, contentHash: hash };
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "weft-apply-"));
    state = await DiskState.open(join(root, "..", `${root.split("/").pop()}.sqlite`));
    events.length = 0;
    reads.length = 0;
  });
  afterEach(async () => {
    await state.close();
    await rm(root, { recursive: true, force: true });
    await rm(`${root}.sqlite`, { force: true });
    await rm(`${root}.sqlite-wal`, { force: true });
    await rm(`${root}.sqlite-shm`, { force: true });
  });

  test("writes the tree and records what it wrote; a second apply changes nothing", async () => {
    const tree = [dir("d"), await content("d/a.txt", "alpha")];
    expect(await apply(tree)).toBe(2);
    expect(await readFile(join(root, "d/a.txt"), "utf8")).toBe("alpha");
    expect(state.get("d/a.txt")).toMatchObject({ kind: "file", size: 5 });
    expect(events).toEqual([{ kind: "received", path: "d/a.txt" }]);
    expect(await apply(tree)).toBe(0);
  });

  test("a file edited here since it was recorded stays; theirs goes to a conflict copy", async () => {
    await apply([await content("a.txt", "v1")]);
    await writeFile(join(root, "a.txt"), "local edit");
    const changed = await apply([await content("a.txt", "v2 from them")]);
    expect(changed).toBe(1);
    expect(await readFile(join(root, "a.txt"), "utf8")).toBe("local edit");
    const copy = "a.sync-conflict-20240506-070809-abcdef1.txt";
    expect(await readFile(join(root, copy), "utf8")).toBe("v2 from them");
    expect(events.at(-1)).toEqual({
      kind: "error",
      path: "a.txt",
      detail: `changed here and on another device; theirs is in ${copy}`,
    });
  });

  test("a file renamed elsewhere is renamed here: the same file, nothing read, the old name gone", async () => {
    const before = await content("d/old.bin", "the same bytes");
    await apply([dir("d"), before, await content("keep.txt", "k")]);
    const ino = (await stat(join(root, "d/old.bin"))).ino;
    reads.length = 0;
    events.length = 0;
    const after = { ...before, path: "e/new.bin" };
    expect(await apply([dir("e"), after, await content("keep.txt", "k")])).toBe(3);
    expect(reads).toEqual([]);
    expect((await stat(join(root, "e/new.bin"))).ino).toBe(ino);
    expect(await readFile(join(root, "e/new.bin"), "utf8")).toBe("the same bytes");
    expect((await stat(join(root, "e/new.bin"))).mtimeMs).toBe(WALL - 1000);
    expect((await readdir(root)).sort()).toEqual(["e", "keep.txt"]);
    expect(state.get("d/old.bin")).toBeUndefined();
    expect(state.get("e/new.bin")).toMatchObject({ hash: before.contentHash, ino });
    expect(events).toContainEqual({ kind: "received", path: "e/new.bin" });
    expect(await apply([dir("e"), after, await content("keep.txt", "k")])).toBe(0);
  });

  test("a rename onto a name taken here since, or of a file edited here, is not a move: nothing lost", async () => {
    const a = await content("a.txt", "content a");
    const b = await content("b.txt", "content b");
    await apply([a, b]);
    // a.txt is renamed to x.txt elsewhere, but a file appeared at x.txt here meanwhile; b.txt is
    // renamed to y.txt elsewhere, but was edited here.
    await writeFile(join(root, "x.txt"), "mine at x");
    await writeFile(join(root, "b.txt"), "b edited here");
    contents["x.txt"] = "content a";
    contents["y.txt"] = "content b";
    await apply([
      { ...a, path: "x.txt" },
      { ...b, path: "y.txt" },
    ]);
    expect(await readFile(join(root, "x.txt"), "utf8")).toBe("mine at x");
    expect(await readFile(join(root, "b.txt"), "utf8")).toBe("b edited here");
    expect(await readFile(join(root, "y.txt"), "utf8")).toBe("content b");
    expect(reads).toContain("y.txt");
    // a.txt, as recorded, is gone; its content went beside the local x.txt as a conflict copy,
    // as for any file written where one appeared here.
    const copy = "x.sync-conflict-20240506-070809-abcdef1.txt";
    expect((await readdir(root)).sort()).toEqual(["b.txt", copy, "x.txt", "y.txt"]);
    expect(await readFile(join(root, copy), "utf8")).toBe("content a");
  });

  test("a file gone from the tree is removed if unchanged, kept if edited here; both are forgotten", async () => {
    await apply([await content("gone.txt", "g"), await content("edited.txt", "e")]);
    await writeFile(join(root, "edited.txt"), "edited here");
    expect(await apply([])).toBe(1);
    expect(await readdir(root)).toEqual(["edited.txt"]);
    expect((await stat(join(root, "edited.txt"))).size).toBe(11);
    expect(state.map.size).toBe(0);
    expect(events.at(-1)).toEqual({
      kind: "deleted",
      path: "gone.txt",
      detail: "by another device",
    });
  });
});
