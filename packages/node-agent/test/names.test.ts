// names/: untrusted folder-relative paths made safe, and the portability checks the agent uses
// when a path works here but not on every device.
import { join, resolve } from "node:path";
import { describe, expect, test } from "vitest";
import { WeftError } from "@weft/core";
import { clashKey, findClashes, safeJoin, windowsProblem } from "../src/names/index.js";

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
