import type { DeviceId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import { WeftError } from "../src/errors.js";
import { FolderIndex } from "../src/folder/folder-index.js";
import type { FileId } from "../src/ids.js";
import { HybridClock } from "../src/model/hlc.js";
import { VersionVector } from "../src/model/version-vector.js";
import { encodeBucket, encodeSlot } from "../src/folder/records.js";
import { hashOf, manifest, paths, replicas } from "./helpers/folder-replicas.js";

describe("FolderIndex", () => {
  test("files and directories: write, list, move keeps the file id, remove keeps history", () => {
    const [a] = replicas(1).list;
    const id = a.writeFile("docs/notes/plan.md", { manifest: manifest(1) });
    expect(paths(a)).toEqual(["docs", "docs/notes", "docs/notes/plan.md"]);
    a.writeFile("docs/notes/plan.md", { manifest: manifest(2), mode: 0o755 });
    a.move("docs/notes", "archive/2026");
    const moved = a.stat("archive/2026/plan.md")!;
    expect(moved.fileId).toBe(id);
    expect(moved.version.mode).toBe(0o755);
    expect(a.history("archive/2026/plan.md").map((h) => h.manifest?.contentHash)).toEqual([
      hashOf(1),
    ]);
    a.remove("archive");
    expect(paths(a)).toEqual(["docs"]);
    expect(a.historyOf(id).map((h) => h.manifest?.contentHash)).toEqual([hashOf(2), hashOf(1)]);
    expect(() => a.move("docs", "docs/inner")).toThrow(/into itself/);
    expect(() => a.writeFile("../escape", { manifest: manifest(3) })).toThrow(/invalid path/);
    expect(() => a.writeFile("docs", { manifest: manifest(3) })).toThrow(WeftError);
  });

  test("a concurrent edit: one winner by last writer, the loser kept as a named conflict copy", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    a.writeFile("report.txt", { manifest: manifest(1) });
    sync();
    a.writeFile("report.txt", { manifest: manifest(2) });
    time.now += 1500;
    b.writeFile("report.txt", { manifest: manifest(3) });
    sync();
    for (const r of [a, b]) {
      expect(r.stat("report.txt")!.version.manifest!.contentHash).toBe(hashOf(3)); // later write wins
      const copy = r.stat("report.sync-conflict-20261122-120000-AAAAAAA.txt")!;
      expect(copy.version.manifest!.contentHash).toBe(hashOf(2));
      expect(copy.conflictOf).toBe("report.txt");
      expect(r.conflicts()).toHaveLength(1);
    }
    // Editing the winner does not make the conflict copy vanish.
    b.writeFile("report.txt", { manifest: manifest(4) });
    sync();
    expect(a.conflicts()[0]!.copies[0]!.contentHash).toBe(hashOf(2));
    // Keep mine (the copy): the winner goes to history, the conflict is gone everywhere.
    a.resolveConflict("report.txt", { keep: a.conflicts()[0]!.copies[0]!.version });
    sync();
    for (const r of [a, b]) {
      expect(paths(r)).toEqual(["report.txt"]);
      expect(r.stat("report.txt")!.version.manifest!.contentHash).toBe(hashOf(2));
      expect(r.history("report.txt").map((h) => h.manifest!.contentHash)).toContain(hashOf(4));
    }
  });

  test("keep both turns each conflict copy into a file of its own", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    a.writeFile("x.md", { manifest: manifest(1) });
    sync();
    a.writeFile("x.md", { manifest: manifest(2) });
    b.writeFile("x.md", { manifest: manifest(3) });
    sync();
    const copyPath = a.conflicts()[0]!.copies[0]!.path;
    b.resolveConflict("x.md", { keepBoth: true });
    sync();
    expect(a.conflicts()).toEqual([]);
    expect(paths(a)).toEqual(paths(b));
    expect(a.stat(copyPath)!.conflictVersion).toBeUndefined();
    expect(
      new Set([a.stat("x.md")!, a.stat(copyPath)!].map((e) => e.version.manifest!.contentHash)),
    ).toEqual(new Set([hashOf(2), hashOf(3)]));
  });

  /** Three concurrent edits of x.txt: c's (4) wins, a's (2) and b's (3) are conflict copies. */
  function threeWayConflict() {
    const r = replicas(3);
    const [a, b, c] = r.list;
    a.writeFile("x.txt", { manifest: manifest(1) });
    r.sync();
    a.writeFile("x.txt", { manifest: manifest(2) });
    r.time.now += 1000;
    b.writeFile("x.txt", { manifest: manifest(3) });
    r.time.now += 1000;
    c!.writeFile("x.txt", { manifest: manifest(4) });
    r.sync();
    const copies = a.conflicts()[0]!.copies;
    const copy = (tag: number) => copies.find((k) => k.contentHash === hashOf(tag))!;
    expect(copies.map((k) => k.contentHash).sort()).toEqual([hashOf(2), hashOf(3)]);
    return { ...r, copy };
  }

  test("dropping one conflict copy settles it everywhere; the other stays; it is in history", () => {
    const { list, sync, copy } = threeWayConflict();
    const [a, b, c] = list;
    const dropped = copy(3);
    expect(() => a.resolveConflict("x.txt", { dropCopy: "nobody:1" })).toThrow(/no conflict copy/);
    expect(() => a.resolveConflict(dropped.path, { dropCopy: dropped.version })).toThrow(
      /is a conflict copy/,
    );
    a.resolveConflict("x.txt", { dropCopy: dropped.version });
    sync();
    for (const r of [a, b, c!]) {
      expect(paths(r)).toEqual(["x.txt", copy(2).path].sort());
      expect(r.stat("x.txt")!.version.manifest!.contentHash).toBe(hashOf(4));
      expect(r.conflicts()[0]!.copies.map((k) => k.contentHash)).toEqual([hashOf(2)]);
      expect(r.history("x.txt").map((h) => h.manifest!.contentHash)).toContain(hashOf(3));
    }
    // Restorable like any earlier version.
    b.restore("x.txt", dropped.version);
    sync();
    expect(c!.stat("x.txt")!.version.manifest!.contentHash).toBe(hashOf(3));
  });

  test("keeping one conflict copy makes it a file of its own, at a new path or its own name", () => {
    const { list, sync, copy } = threeWayConflict();
    const [a, b, c] = list;
    const [two, three] = [copy(2), copy(3)];
    // A taken path is refused before anything is written.
    expect(() => a.resolveConflict("x.txt", { keepCopy: two.version, path: "x.txt" })).toThrow(
      /already exists/,
    );
    expect(a.conflicts()[0]!.copies).toHaveLength(2);
    a.resolveConflict("x.txt", { keepCopy: two.version, path: "kept/theirs.txt" });
    sync();
    for (const r of [a, b, c!]) {
      expect(paths(r)).toEqual(["kept", "kept/theirs.txt", three.path, "x.txt"].sort());
      expect(r.stat("kept/theirs.txt")!.version.manifest!.contentHash).toBe(hashOf(2));
      expect(r.stat("kept/theirs.txt")!.fileId).not.toBe(r.stat("x.txt")!.fileId);
      expect(r.conflicts()[0]!.copies.map((k) => k.contentHash)).toEqual([hashOf(3)]);
    }
    // Without a path, the copy stays under the name it has, now an ordinary file.
    b.resolveConflict("x.txt", { keepCopy: three.version });
    sync();
    for (const r of [a, b, c!]) {
      expect(r.conflicts()).toEqual([]);
      const kept = r.stat(three.path)!;
      expect(kept.conflictVersion).toBeUndefined();
      expect(kept.version.manifest!.contentHash).toBe(hashOf(3));
      expect(r.stat("x.txt")!.version.manifest!.contentHash).toBe(hashOf(4));
      expect(r.history("x.txt").map((h) => h.manifest!.contentHash)).toEqual(
        expect.arrayContaining([hashOf(2), hashOf(3)]),
      );
    }
    // It is an ordinary file now: it can be written.
    c!.writeFile(three.path, { manifest: manifest(5) });
    expect(c!.stat(three.path)!.version.manifest!.contentHash).toBe(hashOf(5));
  });

  test("edit vs delete: the edit survives", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    a.writeFile("keep.txt", { manifest: manifest(1) });
    sync();
    a.remove("keep.txt");
    b.writeFile("keep.txt", { manifest: manifest(2) });
    sync();
    for (const r of [a, b])
      expect(r.stat("keep.txt")!.version.manifest!.contentHash).toBe(hashOf(2));
  });

  test("a rename and a concurrent edit merge without a conflict", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    a.writeFile("draft.txt", { manifest: manifest(1) });
    sync();
    a.move("draft.txt", "final.txt");
    b.writeFile("draft.txt", { manifest: manifest(2) });
    sync();
    for (const r of [a, b]) {
      expect(paths(r)).toEqual(["final.txt"]);
      expect(r.stat("final.txt")!.version.manifest!.contentHash).toBe(hashOf(2));
      expect(r.conflicts()).toEqual([]);
    }
  });

  test("concurrent moves that would form a cycle: the newest move is undone to the root, nothing lost", () => {
    const {
      list: [a, b],
      sync,
      time,
    } = replicas();
    a.mkdir("x");
    a.writeFile("y/file", { manifest: manifest(1) });
    sync();
    a.move("x", "y/x");
    time.now += 10;
    b.move("y", "x/y");
    sync();
    for (const r of [a, b]) {
      // b's move of y into x came last and would close the cycle x → y → x: it is the one undone.
      expect(paths(r)).toEqual(["y", "y/file", "y/x"]);
      expect(r.stat("y")!.cycleBroken).toBe(true);
    }
  });

  test("two different files created apart under one name: a conflict, not a name clash", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    a.writeFile("todo.txt", { manifest: manifest(1) });
    b.writeFile("todo.txt", { manifest: manifest(2) });
    sync();
    expect(paths(a)).toEqual(paths(b));
    // Same clock: the tie goes to the later device id, b; a's file is the conflict copy.
    expect(paths(a)).toEqual(["todo.sync-conflict-20261122-120000-AAAAAAA.txt", "todo.txt"]);
    expect(a.stat("todo.txt")!.fileId).toBe("d1f0");
  });

  test("a directory removed while a peer created a file in it comes back", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    a.writeFile("photos/old.jpg", { manifest: manifest(1) });
    sync();
    a.remove("photos");
    b.writeFile("photos/new.jpg", { manifest: manifest(2) });
    sync();
    for (const r of [a, b]) {
      expect(paths(r)).toEqual(["photos", "photos/new.jpg"]);
      expect(r.stat("photos")!.resurrected).toBe(true);
    }
  });

  test("restore brings back an earlier version; retention trims history by count", () => {
    const [a] = replicas(1).list;
    const idx = new FolderIndex({
      device: "AAAA" as DeviceId,
      retention: { maxVersions: 3, maxAgeMs: Infinity },
    });
    for (let i = 1; i <= 6; i++) idx.writeFile("f", { manifest: manifest(i) });
    expect(idx.history("f").map((h) => h.manifest!.contentHash)).toEqual([
      hashOf(5),
      hashOf(4),
      hashOf(3),
    ]);
    const v4 = idx.history("f")[1]!;
    idx.restore("f", `${v4.device}:${v4.vv.get(v4.device)}`);
    expect(idx.stat("f")!.version.manifest!.contentHash).toBe(hashOf(4));
    expect(() => idx.restore("f", "nobody:1")).toThrow(/no version/);
    expect(a).toBeDefined();
  });

  test("retention trims history by age, measured from the time of the write", () => {
    let now = Date.UTC(2026, 0, 1);
    const idx = new FolderIndex({
      device: "AAAA" as DeviceId,
      clock: new HybridClock({ now: () => now }),
      retention: { maxVersions: 100, maxAgeMs: 60_000 },
    });
    idx.writeFile("f", { manifest: manifest(1) });
    now += 30_000;
    idx.writeFile("f", { manifest: manifest(2) });
    now += 40_000; // v1 is now 70 s old, v2 40 s
    idx.writeFile("f", { manifest: manifest(3) });
    expect(idx.history("f").map((h) => h.manifest!.contentHash)).toEqual([hashOf(2)]);
  });

  test("snapshots load to the same tree; compaction drops superseded slots and shrinks the snapshot", () => {
    const {
      list: [a, b],
      sync,
    } = replicas();
    for (let i = 0; i < 50; i++) a.writeFile(`f${i}`, { manifest: manifest(i + 1) });
    sync();
    for (let i = 0; i < 50; i++) {
      b.writeFile(`f${i}`, { manifest: manifest(i + 100) });
      b.move(`f${i}`, `g${i}`);
    }
    sync();
    const before = a.snapshot().length;
    expect(a.compact()).toBe(50);
    sync();
    expect(a.snapshot().length).toBeLessThan(before * 0.8);
    const loaded = FolderIndex.load(a.snapshot(), { device: "CCCC" as DeviceId });
    expect(paths(loaded)).toEqual(paths(b));
    expect(loaded.stat("g7")!.version.manifest!.contentHash).toBe(hashOf(107));
  });

  test("malformed updates and forged slots are refused with a clear error, nothing half-applied", () => {
    const [a] = replicas(1).list;
    a.writeFile("ok.txt", { manifest: manifest(1) });
    expect(() => a.applyDelta(new Uint8Array([1, 2, 3, 250, 251]))).toThrow(
      /malformed index update/,
    );
    // A truncated snapshot does not load at all (no half-loaded index is ever returned).
    const snapshot = a.snapshot();
    const cut = snapshot.subarray(0, snapshot.length - 9);
    expect(() => FolderIndex.load(cut, { device: "CCCC" as DeviceId })).toThrow(WeftError);
    // A peer writing a slot with a path-traversal name and one whose vector does not count its
    // own device (in a well-formed bucket), a garbled bucket, a value that is not bytes, and a
    // key that is not a bucket key at all.
    const evil = new FolderIndex({ device: "EVIL" as DeviceId });
    const map = evil.doc.getMap("records");
    const hlc = { wall: 1, logical: 0 };
    const place = (name: string, vv: VersionVector) =>
      encodeSlot({
        content: null,
        place: { parent: "root" as FileId, name, vv, hlc, device: "EVIL" as DeviceId },
      });
    map.set(
      "s.0/EVIL",
      encodeBucket([
        ["bad1" as FileId, place("..", VersionVector.from([["EVIL", 1]]))],
        ["bad2" as FileId, place("fine", VersionVector.from([["AAAA", 1]]))],
        ["good" as FileId, place("visible.txt", VersionVector.from([["EVIL", 1]]))],
      ]),
    );
    map.set("s.1/EVIL", new Uint8Array([1, 2, 0xff, 0xff, 0xff]));
    map.set("s.2/EVIL", { looks: "like a record" });
    map.set("not-a-bucket", new Uint8Array([1, 0]));
    const result = a.applyDelta(evil.snapshot());
    expect(result.rejected.map((r) => `${r.key} ${r.message}`).sort()).toEqual([
      'bad1/EVIL invalid name "..": ".." is not a valid name',
      "bad2/EVIL a version's vector must count its own device",
      "not-a-bucket not a bucket key (session.bucket/deviceId)",
      expect.stringMatching(/^s\.1\/EVIL malformed bucket/),
      "s.2/EVIL a bucket value must be bytes",
    ]);
    // A placement without content is not a file: nothing of the forged data shows.
    expect(paths(a)).toEqual(["ok.txt"]);
    expect(a.rejectedSlots()).toHaveLength(5);
  });
});
