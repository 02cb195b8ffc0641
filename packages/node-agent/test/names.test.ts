// names/: untrusted folder-relative paths made safe, and the portability checks and
// conflict-copy names the agent uses when a path works here but not on every device.
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { WeftError } from "@weft/core";
import {
  clashKey,
  findClashes,
  localConflictName,
  safeJoin,
  windowsProblem,
} from "../src/names/index.js";

const root = resolve("/srv/weft/folder");

function expectUnsafe(relPath: string): void {
  let caught: unknown;
  try {
    safeJoin(root, relPath);
  } catch (error) {
    caught = error;
  }
  expect(caught, `safeJoin accepted ${JSON.stringify(relPath)}`).toBeInstanceOf(WeftError);
  expect((caught as WeftError).code).toBe("UNSAFE_PATH");
  expect((caught as WeftError).message).toContain(JSON.stringify(relPath));
}

describe("safeJoin", () => {
  test("joins a relative path under the root", () => {
    expect(safeJoin(root, "notes.txt")).toBe(join(root, "notes.txt"));
    expect(safeJoin(root, "a/b/c.txt")).toBe(join(root, "a", "b", "c.txt"));
    expect(safeJoin("/srv/weft/folder/", "a")).toBe(join(root, "a"));
  });

  test("names that merely look like traversal are fine", () => {
    expect(safeJoin(root, "..foo")).toBe(join(root, "..foo"));
    expect(safeJoin(root, "a/...")).toBe(join(root, "a", "..."));
    expect(safeJoin(root, ".bashrc")).toBe(join(root, ".bashrc"));
  });

  test.each([
    ["..", "parent"],
    ["../etc/passwd", "leading .."],
    ["a/../../etc/passwd", "inner .."],
    ["a/..", "trailing .."],
    [".", "dot"],
    ["a/./b", "inner dot"],
  ])("refuses traversal: %s (%s)", (relPath) => expectUnsafe(relPath));

  test.each(["/etc/passwd", "//server/share", "/"])("refuses an absolute path: %s", (p) =>
    expectUnsafe(p),
  );

  test.each(["a\\b", "..\\..\\windows", "C:\\x"])("refuses a backslash: %s", (p) =>
    expectUnsafe(p),
  );

  test.each(["", "a//b", "a/", "a/b/"])("refuses an empty path or segment: %j", (p) =>
    expectUnsafe(p),
  );

  test.each(["a\0b", "a\nb", "tab\there", "\u001b[31mred", "del\u007f", "csi\u009b2J"])(
    "refuses NUL and control characters: %j",
    (p) => expectUnsafe(p),
  );
});

describe("clashKey and findClashes", () => {
  const nfc = "caf\u00e9.txt";
  const nfd = "cafe\u0301.txt";

  test("paths differing only in case or Unicode form share a key", () => {
    expect(clashKey("A.txt")).toBe(clashKey("a.txt"));
    expect(clashKey("Docs/README.md")).toBe(clashKey("docs/readme.md"));
    expect(nfc).not.toBe(nfd);
    expect(clashKey(nfc)).toBe(clashKey(nfd));
    expect(clashKey("\u00c9T\u00c9.txt")).toBe(clashKey(nfd.replace("cafe", "e\u0301te")));
    expect(clashKey("a.txt")).not.toBe(clashKey("b.txt"));
  });

  test("groups colliding paths, each group and the groups sorted", () => {
    const clashes = findClashes(["b.txt", "a.txt", "A.txt", nfd, "other", nfc, "B.TXT", "a.txt"]);
    expect(clashes).toEqual([["A.txt", "a.txt"], ["B.TXT", "b.txt"], [nfc, nfd].sort()]);
  });

  test("no clashes among distinct names, and a repeated path is not a clash", () => {
    expect(findClashes(["a", "b", "a/b", "a"])).toEqual([]);
    expect(findClashes([])).toEqual([]);
  });
});

describe("windowsProblem", () => {
  test.each([
    "CON",
    "con",
    "con.txt",
    "Nul.tar.gz",
    "AUX",
    "prn.log",
    "COM1",
    "com9.dat",
    "LPT1",
    "lpt9.x",
    "CON .txt",
    "COM\u00b9",
  ])("reserved device name: %s", (name) => {
    expect(windowsProblem(name)).toMatch(/reserved device name/);
  });

  test.each(["a<b", "a>b", "a:b", 'a"b', "a|b", "a?b", "a*b", "a\\b", "a\u0001b"])(
    "forbidden character: %j",
    (name) => {
      expect(windowsProblem(name)).toMatch(/does not allow the character/);
    },
  );

  test.each([
    ["trailing.", /end with a dot/],
    ["trailing ", /end with a space/],
    ["x".repeat(256), /longer than 255/],
    ["", /empty/],
  ])("%j", (name, reason) => {
    expect(windowsProblem(name)).toMatch(reason);
  });

  test.each(["notes.txt", "CONSOLE", "com0", "com10", "context.txt", "lpt", ".bashrc", "a b.c"])(
    "fine on Windows: %s",
    (name) => {
      expect(windowsProblem(name)).toBeNull();
    },
  );
});

describe("localConflictName", () => {
  const when = new Date(Date.UTC(2026, 10, 22, 19, 30, 5, 999));

  test("keeps the extension and names the device and the UTC time, without colons", () => {
    const name = localConflictName("notes.txt", "laptop", when);
    expect(name).toBe("notes (conflict, laptop, 2026-11-22 19-30-05).txt");
    expect(name).not.toContain(":");
  });

  test("stays in the same directory", () => {
    expect(localConflictName("a/b/notes.txt", "laptop", when)).toBe(
      "a/b/notes (conflict, laptop, 2026-11-22 19-30-05).txt",
    );
  });

  test("keeps only the last extension", () => {
    expect(localConflictName("archive.tar.gz", "pc", when)).toBe(
      "archive.tar (conflict, pc, 2026-11-22 19-30-05).gz",
    );
  });

  test("a dotfile, a name without extension, or one ending in a dot get the suffix last", () => {
    expect(localConflictName(".bashrc", "pc", when)).toBe(
      ".bashrc (conflict, pc, 2026-11-22 19-30-05)",
    );
    expect(localConflictName("dir/Makefile", "pc", when)).toBe(
      "dir/Makefile (conflict, pc, 2026-11-22 19-30-05)",
    );
    expect(localConflictName("odd.", "pc", when)).toBe("odd. (conflict, pc, 2026-11-22 19-30-05)");
    expect(localConflictName("Report v2.final draft", "pc", when)).toBe(
      "Report v2.final draft (conflict, pc, 2026-11-22 19-30-05)",
    );
  });

  test("sanitizes the label to safe characters", () => {
    const name = localConflictName("n.txt", "Ana's Mac/Book: (2), ../x\u0000", when);
    expect(name).toBe("n (conflict, Ana-s Mac-Book- -2- ..-x, 2026-11-22 19-30-05).txt");
    const label = name.slice("n (conflict, ".length, name.indexOf(", 2026"));
    expect(label).toMatch(/^[\p{L}\p{M}\p{N} ._-]+$/u);
    expect(localConflictName("n.txt", "Zoë's Ноутбук", when)).toBe(
      "n (conflict, Zoë-s Ноутбук, 2026-11-22 19-30-05).txt",
    );
    expect(localConflictName("n.txt", "///", when)).toBe(
      "n (conflict, device, 2026-11-22 19-30-05).txt",
    );
    const long = localConflictName("n.txt", "x".repeat(100), when);
    expect(long).toContain(`, ${"x".repeat(32)}, `);
  });

  describe("in another time zone", () => {
    const saved = process.env.TZ;
    beforeEach(() => {
      // Node applies a change of TZ at once; UTC+14 moves this time to the next day.
      process.env.TZ = "Pacific/Kiritimati";
    });
    afterEach(() => {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    });

    test("the name is the same: it depends only on the arguments", () => {
      expect(when.getDate()).toBe(23);
      expect(localConflictName("n.txt", "pc", new Date(when.getTime()))).toBe(
        "n (conflict, pc, 2026-11-22 19-30-05).txt",
      );
    });
  });

  test("shortens a long stem to fit 255 UTF-8 bytes, keeping suffix and extension", () => {
    const name = localConflictName(`d/${"é".repeat(200)}.txt`, "laptop", when);
    const base = name.slice(2);
    expect(new TextEncoder().encode(base).length).toBeLessThanOrEqual(255);
    expect(base).toMatch(/^é+ \(conflict, laptop, 2026-11-22 19-30-05\)\.txt$/);
  });

  test("refuses a path without a name and an invalid date", () => {
    expect(() => localConflictName("dir/", "pc", when)).toThrow(WeftError);
    expect(() => localConflictName("n.txt", "pc", new Date(NaN))).toThrow(/valid Date/);
  });
});
