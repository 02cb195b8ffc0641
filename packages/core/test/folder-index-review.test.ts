/**
 * Regression tests for bugs a review found in the folder index: each reproduces the original
 * report (a hang, lost versions, divergent replicas, crashes on odd but legal states).
 */
import type { ChunkId, DeviceId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import type { Manifest } from "../src/chunking/index.js";
import { WeftError } from "../src/errors.js";
import { FolderIndex } from "../src/folder/folder-index.js";
import { encodeBucket, encodeSlot } from "../src/folder/records.js";
import type { FileId } from "../src/ids.js";
import { HybridClock } from "../src/model/hlc.js";
import { VersionVector } from "../src/model/version-vector.js";

const m = (t: number): Manifest => {
  const hex = t.toString(16).padStart(64, "0");
  return { chunks: [{ id: hex as ChunkId, size: 1 }], size: 1, contentHash: hex };
};
const E = "EVIL" as DeviceId;
const paths = (x: FolderIndex): string[] => [...x.tree().entries.keys()].sort();
const hashAt = (x: FolderIndex, p: string): string | undefined =>
  x.stat(p)?.version.manifest?.contentHash;

describe("folder index: review regressions", () => {
  test("a slot claiming to be the root is refused instead of hanging tree()", () => {
    const a = new FolderIndex({ device: "AAAA" as DeviceId });
    a.writeFile("ok.txt", { manifest: m(1) });
    const evil = new FolderIndex({ device: E });
    const vv = VersionVector.from([["EVIL", 1]]);
    const hlc = { wall: 1, logical: 0 };
    const slot = encodeSlot({
      content: {
        kind: "dir",
        deleted: false,
        manifest: null,
        target: null,
        mode: 0o755,
        mtime: 1,
        vv,
        hlc,
        device: E,
        history: [],
        conflicts: [],
      },
      place: { parent: "root" as FileId, name: "x", vv, hlc, device: E },
    });
    evil.doc.getMap("records").set("s.0/EVIL", encodeBucket([["root" as FileId, slot]]));
    expect(a.applyDelta(evil.snapshot()).rejected.map((r) => r.key)).toEqual(["s.0/EVIL"]);
    expect(paths(FolderIndex.load(a.snapshot(), { device: "BBBB" as DeviceId }))).toEqual([
      "ok.txt",
    ]);
  });

  test("a version superseded after more than the retention age still goes to history", () => {
    let now = Date.UTC(2026, 0, 1);
    const idx = new FolderIndex({
      device: "AAAA" as DeviceId,
      clock: new HybridClock({ now: () => now }),
    });
    idx.writeFile("report.docx", { manifest: m(1) });
    const notes = idx.writeFile("notes.txt", { manifest: m(2) });
    now += 31 * 24 * 3600 * 1000;
    idx.writeFile("report.docx", { manifest: m(3) });
    idx.remove("notes.txt");
    expect(idx.history("report.docx").map((h) => h.manifest!.contentHash)).toEqual([
      m(1).contentHash,
    ]);
    expect(idx.historyOf(notes).map((h) => h.manifest!.contentHash)).toEqual([m(2).contentHash]);
  });

  test("a device restarted from a stale snapshot loses none of its writes", () => {
    let now = Date.UTC(2026, 0, 1);
    const clock = (): HybridClock => new HybridClock({ now: () => now });
    const a = new FolderIndex({ device: "AAAA" as DeviceId, clock: clock() });
    const b = new FolderIndex({ device: "BBBB" as DeviceId, clock: clock() });
    a.writeFile("old.txt", { manifest: m(1) });
    const saved = a.snapshot();
    now += 1000;
    a.writeFile("f1.txt", { manifest: m(2) });
    b.applyDelta(a.encodeDelta(b.stateVector()));
    now += 1000;
    const restarted = FolderIndex.load(saved, { device: "AAAA" as DeviceId, clock: clock() });
    restarted.writeFile("f2.txt", { manifest: m(3) });
    restarted.writeFile("old.txt", { manifest: m(4) });
    restarted.applyDelta(b.encodeDelta(restarted.stateVector()));
    b.applyDelta(restarted.encodeDelta(b.stateVector()));
    for (const x of [b, restarted]) {
      expect(paths(x)).toEqual(["f1.txt", "f2.txt", "old.txt"]);
      expect(hashAt(x, "old.txt")).toBe(m(4).contentHash);
    }
  });

  test("replicas agree whatever order a device's buckets arrive in, even when they disagree", () => {
    const upd = (key: string, tag: number): Uint8Array => {
      const d = new FolderIndex({ device: E });
      const hlc = { wall: 1000, logical: 0 };
      const vv = VersionVector.from([["EVIL", 1]]);
      const slot = encodeSlot({
        content: {
          kind: "file",
          deleted: false,
          manifest: m(tag),
          target: null,
          mode: 0o644,
          mtime: 1,
          vv,
          hlc,
          device: E,
          history: [],
          conflicts: [],
        },
        place: { parent: "root" as FileId, name: "f.txt", vv, hlc, device: E },
      });
      d.doc.getMap("records").set(key, encodeBucket([["file1" as FileId, slot]]));
      return d.snapshot();
    };
    const u0 = upd("s.0/EVIL", 1);
    const u1 = upd("s.1/EVIL", 2);
    const a = new FolderIndex({ device: "AAAA" as DeviceId });
    const b = new FolderIndex({ device: "BBBB" as DeviceId });
    a.applyDelta(u0);
    a.applyDelta(u1);
    b.applyDelta(u1);
    b.applyDelta(u0);
    expect(hashAt(a, "f.txt")).toBe(hashAt(b, "f.txt"));
    expect(a.applyDelta(upd("s.00/EVIL", 3)).rejected.map((r) => r.key)).toEqual(["s.00/EVIL"]);
  });

  test("a forged history entry cannot hide a version that is still current", () => {
    const b = new FolderIndex({
      device: "BBBB" as DeviceId,
      clock: new HybridClock({ now: () => Date.UTC(2026, 0, 1) }),
    });
    const id = b.writeFile("f.txt", { manifest: m(1) });
    const mine = b.file(id)!.winner!;
    const evil = new FolderIndex({ device: E });
    const vv = VersionVector.from([["EVIL", 1]]); // has not seen B's version
    const slot = encodeSlot({
      content: {
        kind: "file",
        deleted: false,
        manifest: m(9),
        target: null,
        mode: 0o644,
        mtime: 0,
        vv,
        hlc: { wall: Date.UTC(2026, 0, 1) + 5, logical: 0 },
        device: E,
        history: [{ ...mine, manifest: m(8) }],
        conflicts: [],
      },
      place: null,
    });
    evil.doc.getMap("records").set("s.0/EVIL", encodeBucket([[id, slot]]));
    expect(b.applyDelta(evil.snapshot()).rejected[0]?.message).toMatch(/not seen/);
    expect(hashAt(b, "f.txt")).toBe(m(1).contentHash);
  });

  // A quadratic naming pass took minutes for this forged slot (one 210 KB update); the test
  // timeout is what would catch a regression, not a timing assertion.
  test("thousands of conflict copies that want one name all get distinct names", () => {
    const idx = new FolderIndex({ device: "AAAA" as DeviceId });
    idx.writeFile("x.txt", { manifest: m(1) });
    const f = idx.file(idx.stat("x.txt")!.fileId)!;
    // Exercise the naming directly through many same-second conflict copies of one device.
    const evil = new FolderIndex({ device: E });
    const hlc = { wall: Date.UTC(2026, 0, 1), logical: 0 };
    const conflicts = Array.from({ length: 3000 }, (_, i) => ({
      kind: "file" as const,
      manifest: m(100 + i),
      target: null,
      mode: 0o644,
      mtime: 0,
      vv: VersionVector.from([["OTHR", i + 1]]),
      hlc,
      device: "OTHR" as DeviceId,
    }));
    let vv = VersionVector.from([["EVIL", 1]]).merge(f.winner!.vv);
    for (const c of conflicts) vv = vv.merge(c.vv);
    const slot = encodeSlot({
      content: {
        kind: "file",
        deleted: false,
        manifest: m(5),
        target: null,
        mode: 0o644,
        mtime: 0,
        vv,
        hlc: { wall: hlc.wall + 1, logical: 0 },
        device: E,
        history: [],
        conflicts,
      },
      place: null,
    });
    evil.doc.getMap("records").set("s.0/EVIL", encodeBucket([[f.fileId, slot]]));
    idx.applyDelta(evil.snapshot());
    const copies = [...idx.tree().entries.values()].filter((e) => e.conflictVersion !== undefined);
    expect(copies).toHaveLength(3000);
    expect(new Set(copies.map((e) => e.name)).size).toBe(3000);
  });

  test("removing, restoring or resolving a directory whose content has not arrived works or fails cleanly", () => {
    let n = 0;
    const mk = (d: string): FolderIndex =>
      new FolderIndex({
        device: d as DeviceId,
        clock: new HybridClock({ now: () => 1e12 }),
        newFileId: () => `${d}${n++}` as FileId,
      });
    const a = mk("AAAA");
    const b = mk("BBBB");
    const c = mk("CCCC");
    const fromB: Uint8Array[] = [];
    b.onLocalUpdate((u) => fromB.push(u));
    a.mkdir("D");
    b.applyDelta(a.snapshot());
    b.move("D", "E");
    b.writeFile("E/y.txt", { manifest: m(1) });
    for (const u of fromB) c.applyDelta(u); // C has B's updates, not A's creation of D
    expect(() => c.restore("E", "AAAA:1")).toThrow(WeftError);
    expect(() => c.resolveConflict("E", { keepBoth: true })).toThrow(WeftError);
    c.remove("E");
    expect(paths(c)).toEqual([]);
    // A's creation of the directory was never seen by C's deletion: the two are concurrent, and
    // as everywhere a version that keeps something beats a deletion. Every replica agrees.
    for (const x of [a, b, c])
      for (const y of [a, b, c]) if (x !== y) y.applyDelta(x.encodeDelta(y.stateVector()));
    expect(paths(a)).toEqual(paths(c));
    expect(paths(b)).toEqual(paths(c));
    expect(c.stat("E/y.txt")).toBeUndefined();
  });

  test("bad arguments are refused before anything is written", () => {
    const idx = new FolderIndex({ device: "AAAA" as DeviceId });
    expect(() => idx.symlink("d1/link", "")).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    const bad = { ...m(1), size: 99 };
    expect(() => idx.writeFile("d2/f", { manifest: bad })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(paths(idx)).toEqual([]);
    idx.writeFile("d3/f", { manifest: m(1), mtime: 1700000000123.456 }); // fs.stat().mtimeMs
    expect(idx.stat("d3/f")!.version.mtime).toBe(1700000000123);
  });

  test("an edit made from an older version than the current one is a conflict, not a silent overwrite", () => {
    // A wrote v1 (on A's disk); B wrote v2, which reached A's index but not yet A's disk; A's
    // user then edited the file as it was on disk (v1). Recorded as an edit of v2, v2 would be
    // superseded unseen (only in history); recorded from v1 it is a conflict, on every replica.
    const a = new FolderIndex({ device: "AAAA" as DeviceId });
    a.writeFile("plan.txt", { manifest: m(1) });
    const b = new FolderIndex({ device: "BBBB" as DeviceId }, a.snapshot());
    b.writeFile("plan.txt", { manifest: m(2) });
    a.applyDelta(b.encodeDelta(a.stateVector()));
    expect(hashAt(a, "plan.txt")).toBe(m(2).contentHash);
    a.writeFile("plan.txt", { manifest: m(3), basedOn: m(1).contentHash });
    b.applyDelta(a.encodeDelta(b.stateVector()));
    for (const x of [a, b]) {
      expect(hashAt(x, "plan.txt")).toBe(m(3).contentHash); // the newest shown at the path
      const [c] = x.conflicts();
      expect(c?.copies.map((k) => k.contentHash)).toEqual([m(2).contentHash]); // v2 kept beside it
    }
    expect(paths(a)).toEqual(paths(b));
    // An edit of what is current (its hash is the winner's) is an ordinary edit.
    a.writeFile("other.txt", { manifest: m(4) });
    a.writeFile("other.txt", { manifest: m(5), basedOn: m(4).contentHash });
    expect(a.conflicts().filter((c) => c.path === "other.txt")).toEqual([]);
    expect(a.history("other.txt").map((v) => v.manifest?.contentHash)).toContain(m(4).contentHash);
  });
});
