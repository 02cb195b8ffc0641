import { describe, expect, test } from "vitest";
import { HybridClock, compareHlc } from "../src/model/hlc.js";
import { fitName, normalizePath, splitPath } from "../src/model/path.js";
import { conflictCopyName } from "../src/folder/registers.js";

describe("HybridClock", () => {
  test("never runs backwards, even when the wall clock does", () => {
    let now = 1000;
    const clock = new HybridClock({ now: () => now });
    const a = clock.tick();
    now = 500; // the system clock stepped back
    const b = clock.tick();
    expect(compareHlc(b, a)).toBeGreaterThan(0);
    expect(b.wall).toBe(1000);
    now = 2000;
    expect(clock.tick()).toEqual({ wall: 2000, logical: 0 });
  });

  test("orders after observed remote timestamps, but ignores a wildly future clock", () => {
    const clock = new HybridClock({ now: () => 1000, maxDriftMs: 10_000 });
    clock.observe({ wall: 5000, logical: 7 });
    expect(clock.tick()).toEqual({ wall: 5000, logical: 8 });
    clock.observe({ wall: 10_000_000, logical: 0 });
    expect(clock.tick().wall).toBe(5000);
  });
});

describe("paths", () => {
  test("normalises what a user types and refuses what escapes the folder", () => {
    expect(normalizePath("/docs/report.txt/")).toBe("docs/report.txt");
    expect(normalizePath("cafe\u0301")).toBe("caf\u00e9");
    for (const bad of [
      "../etc/passwd",
      "a/../../b",
      "a//b",
      "a/./b",
      "a\0b",
      "x/" + "n".repeat(256),
    ]) {
      expect(() => splitPath(bad), bad).toThrow(/invalid path/);
    }
    expect(() => splitPath("a/".repeat(3000))).toThrow(/exceeds 4096 bytes/);
  });

  test("conflict copy names follow Syncthing's pattern and fit the name limit", () => {
    const loser = { hlc: { wall: Date.UTC(2026, 10, 22, 9, 5, 7) }, device: "ABCD-EFGH-IJKL" };
    expect(conflictCopyName("report.final.txt", loser)).toBe(
      "report.final.sync-conflict-20261122-090507-ABCDEFG.txt",
    );
    expect(conflictCopyName(".bashrc", loser)).toBe(
      ".bashrc.sync-conflict-20261122-090507-ABCDEFG",
    );
    const long = conflictCopyName("é".repeat(127) + ".md", loser);
    expect(new TextEncoder().encode(long).length).toBeLessThanOrEqual(255);
    expect(long.endsWith("-ABCDEFG.md")).toBe(true);
    expect(fitName("x", ".s", "." + "e".repeat(300)).length).toBeLessThanOrEqual(255);
  });
});
