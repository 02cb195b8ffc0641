/**
 * The same path created apart on two devices is one entry to the user: directories merge,
 * identical files are one file, different files are a conflict listed and settled like a
 * concurrent edit. Later operations on the path act on every id shown there.
 */
import type { DeviceId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import { FolderIndex } from "../src/folder/folder-index.js";
import { hashOf, manifest, paths, replicas } from "./helpers/folder-replicas.js";

const hashAt = (idx: FolderIndex, path: string): string | undefined =>
  idx.stat(path)?.version.manifest?.contentHash;
/** Both replicas show the same tree, built in place and from scratch alike. */
function same(a: FolderIndex, b: FolderIndex): string[] {
  expect(paths(a)).toEqual(paths(b));
  const fresh = FolderIndex.load(a.snapshot(), { device: "FRESH" as DeviceId });
  expect(paths(fresh)).toEqual(paths(a));
  expect(paths(a).join()).not.toContain("name-clash");
  return paths(a);
}

describe("the same path created on two devices", () => {
  test("directories merge, nested ones too; later writes, moves and removes act on all of it", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    a.writeFile("Photos/2026/x.jpg", { manifest: manifest(1) });
    a.writeFile("Photos/a.jpg", { manifest: manifest(2) });
    b.writeFile("Photos/2026/y.jpg", { manifest: manifest(3) });
    b.mkdir("Photos/empty");
    sync();
    expect(same(a, b)).toEqual([
      "Photos",
      "Photos/2026",
      "Photos/2026/x.jpg",
      "Photos/2026/y.jpg",
      "Photos/a.jpg",
      "Photos/empty",
    ]);
    expect(a.conflicts()).toEqual([]);
    // The lowest id is the directory shown; the other is merged into it.
    expect(a.stat("Photos")!.fileId).toBe("d0f0");
    expect(a.stat("Photos")!.merged).toEqual(["d1f0"]);

    // A new file in the merged directory, from either device, lands in it.
    time.now += 1000;
    b.writeFile("Photos/2026/z.jpg", { manifest: manifest(4) });
    sync();
    expect(same(a, b)).toContain("Photos/2026/z.jpg");

    // A rename takes every merged id along: nothing stays behind at the old name.
    a.move("Photos", "Pictures");
    sync();
    expect(same(a, b)).toEqual([
      "Pictures",
      "Pictures/2026",
      "Pictures/2026/x.jpg",
      "Pictures/2026/y.jpg",
      "Pictures/2026/z.jpg",
      "Pictures/a.jpg",
      "Pictures/empty",
    ]);

    // Removing it removes every id: no device brings an empty twin back.
    b.remove("Pictures");
    sync();
    expect(same(a, b)).toEqual([]);
  });

  test("identical files are one file: no copy, no conflict; an edit afterwards is one file too", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    a.writeFile("docs/same.txt", { manifest: manifest(7) });
    b.writeFile("docs/same.txt", { manifest: manifest(7) });
    sync();
    expect(same(a, b)).toEqual(["docs", "docs/same.txt"]);
    expect(a.conflicts()).toEqual([]);

    time.now += 1000;
    b.writeFile("docs/same.txt", { manifest: manifest(8) });
    sync();
    expect(same(a, b)).toEqual(["docs", "docs/same.txt"]);
    expect(hashAt(a, "docs/same.txt")).toBe(hashOf(8));
    expect(a.conflicts()).toEqual([]);
    expect(a.history("docs/same.txt").map((h) => h.manifest?.contentHash)).toContain(hashOf(7));
  });

  test("a rename on one device while the other edits follows the file", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    a.writeFile("same.txt", { manifest: manifest(7) });
    b.writeFile("same.txt", { manifest: manifest(7) });
    sync();
    time.now += 1000;
    a.move("same.txt", "renamed.txt");
    b.writeFile("same.txt", { manifest: manifest(9) });
    sync();
    expect(same(a, b)).toEqual(["renamed.txt"]);
    expect(hashAt(a, "renamed.txt")).toBe(hashOf(9));
    expect(a.conflicts()).toEqual([]);
  });

  test("different files at one path are a conflict: listed, one copy, settled like an edit", () => {
    for (const how of ["keep-copy-version", "drop", "keepCopy", "keepBoth", "merged"] as const) {
      const {
        list: [a, b],
        sync,
        time,
      } = replicas();
      a.writeFile("docs/d.txt", { manifest: manifest(1) });
      time.now += 1000;
      b.writeFile("docs/d.txt", { manifest: manifest(2) });
      sync();
      const copyPath = "docs/d.sync-conflict-20261122-120000-AAAAAAA.txt";
      // The last writer keeps the name; the other file is the conflict copy.
      expect(same(a, b)).toEqual(["docs", copyPath, "docs/d.txt"]);
      expect(hashAt(a, "docs/d.txt")).toBe(hashOf(2));
      expect(hashAt(a, copyPath)).toBe(hashOf(1));
      const [info, ...more] = b.conflicts();
      expect(more).toEqual([]);
      expect(info!.path).toBe("docs/d.txt");
      expect(info!.copies.map((c) => [c.path, c.contentHash])).toEqual([[copyPath, hashOf(1)]]);
      const copy = info!.copies[0]!.version;

      time.now += 1000;
      if (how === "keep-copy-version") {
        a.resolveConflict("docs/d.txt", { keep: copy });
        sync();
        expect(same(a, b)).toEqual(["docs", "docs/d.txt"]);
        expect(hashAt(b, "docs/d.txt")).toBe(hashOf(1));
      } else if (how === "drop") {
        a.resolveConflict("docs/d.txt", { dropCopy: copy });
        sync();
        expect(same(a, b)).toEqual(["docs", "docs/d.txt"]);
        expect(hashAt(b, "docs/d.txt")).toBe(hashOf(2));
      } else if (how === "keepCopy") {
        a.resolveConflict("docs/d.txt", { keepCopy: copy, path: "docs/mine.txt" });
        sync();
        expect(same(a, b)).toEqual(["docs", "docs/d.txt", "docs/mine.txt"]);
        // The rival keeps its own id: its history goes with it.
        expect(b.stat("docs/mine.txt")!.fileId).toBe("d0f1");
      } else if (how === "keepBoth") {
        b.resolveConflict("docs/d.txt", { keepBoth: true });
        sync();
        expect(same(a, b)).toEqual(["docs", copyPath, "docs/d.txt"]);
        expect(a.conflicts()).toEqual([]);
        expect(hashAt(a, copyPath)).toBe(hashOf(1));
      } else {
        b.resolveConflict("docs/d.txt", { merged: { manifest: manifest(3) } });
        sync();
        expect(same(a, b)).toEqual(["docs", "docs/d.txt"]);
        expect(hashAt(a, "docs/d.txt")).toBe(hashOf(3));
      }
      expect(a.conflicts()).toEqual([]);
      expect(b.conflicts()).toEqual([]);
      // Nothing lost: both contents are shown or in some file's history.
      const reachable = new Set<string>();
      for (const e of a.tree().entries.values())
        if (e.version.manifest) reachable.add(e.version.manifest.contentHash);
      for (const id of a.fileIds())
        for (const h of a.historyOf(id)) if (h.manifest) reachable.add(h.manifest.contentHash);
      expect(reachable).toContain(hashOf(1));
      expect(reachable).toContain(hashOf(2));
    }
  });

  test("writing or removing a conflicted path acts on the rival too: it never comes back alone", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    a.writeFile("d.txt", { manifest: manifest(1) });
    b.writeFile("d.txt", { manifest: manifest(2) });
    sync();
    time.now += 1000;
    // Editing the winner keeps the conflict open (as for a concurrent edit of one file).
    a.writeFile("d.txt", { manifest: manifest(3) });
    sync();
    expect(same(a, b)).toHaveLength(2);
    expect(b.conflicts()).toHaveLength(1);
    b.remove("d.txt");
    sync();
    expect(same(a, b)).toEqual([]);
  });

  test("a directory and a file with one name: the directory keeps it, the file is a copy", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    a.writeFile("x/inside.txt", { manifest: manifest(1) });
    b.writeFile("x", { manifest: manifest(2) });
    sync();
    const copyPath = "x.sync-conflict-20261122-120000-BBBBBBB";
    expect(same(a, b)).toEqual(["x", copyPath, "x/inside.txt"]);
    const [info] = a.conflicts();
    expect(info!.path).toBe("x");
    expect(() => a.resolveConflict("x", { keep: info!.copies[0]!.version })).toThrow(/directory/);
    a.resolveConflict("x", { keepCopy: info!.copies[0]!.version });
    sync();
    expect(same(a, b)).toEqual(["x", copyPath, "x/inside.txt"]);
    expect(b.conflicts()).toEqual([]);
  });

  test("three devices: identical files merge, the different one is the only copy", () => {
    const {
      list: [a, b, c],
      sync,
      time,
    } = replicas(3);
    a.writeFile("f", { manifest: manifest(5) });
    time.now += 1000;
    b.writeFile("f", { manifest: manifest(6) });
    time.now += 1000;
    c!.writeFile("f", { manifest: manifest(6) });
    sync();
    expect(same(a, c!)).toEqual(["f", "f.sync-conflict-20261122-120000-AAAAAAA"]);
    expect(hashAt(b, "f")).toBe(hashOf(6));
  });
});
