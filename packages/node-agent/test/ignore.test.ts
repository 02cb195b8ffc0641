// Ignore rules: the built-in defaults, the folder's root .weftignore (gitignore syntax), and the
// two things no pattern changes (the agent's temp files, the .weftignore file itself).
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WeftError } from "@weft/core";
import { afterEach, describe, expect, test } from "vitest";
import { DEFAULT_IGNORES, IgnoreRules, WEFTIGNORE, isAgentTempName } from "../src/ignore/index.js";
import { withUserPermissions } from "./helpers/unprivileged.js";

let root: string | undefined;
afterEach(async () => {
  if (root) {
    await chmod(join(root, WEFTIGNORE), 0o644).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
  root = undefined;
});

async function folderWith(weftignore?: string): Promise<string> {
  root = await mkdtemp(join(tmpdir(), "weft-ignore-"));
  if (weftignore !== undefined) await writeFile(join(root, WEFTIGNORE), weftignore);
  return root;
}

describe("defaults", () => {
  test("OS junk and the agent's own files are ignored anywhere in the folder", async () => {
    const rules = await IgnoreRules.load(await folderWith());
    expect(rules.source).toBe("");
    const files = [
      ".DS_Store",
      "photos/.DS_Store",
      "Thumbs.db",
      "desktop.ini",
      "._holiday.jpg",
      ".weft-tmp-0123456789abcdef",
      "docs/report.pdf.weft-partial",
      "~$report.docx",
      ".~lock.budget.ods#",
      ".notes.txt.swp",
      ".notes.txt.swo",
      "docs/.plan.md.swx",
    ];
    for (const f of files) expect(rules.ignores(f, false), f).toBe(true);
    for (const d of [".Trash-1000", "$RECYCLE.BIN", "System Volume Information", ".Trashes"]) {
      expect(rules.ignores(d, true), d).toBe(true);
      expect(rules.ignores(`${d}/inside.txt`, false), d).toBe(true);
    }
  });

  test("ordinary files are not ignored, and neither is the root", async () => {
    const rules = await IgnoreRules.load(await folderWith());
    for (const f of ["notes.txt", "a/b/c.md", "report.docx", "lock.txt", ".bashrc", "swp"]) {
      expect(rules.ignores(f, false), f).toBe(false);
    }
    expect(rules.ignores("photos", true)).toBe(false);
    expect(rules.ignores("", true)).toBe(false);
  });

  test("DEFAULT_IGNORES lists the patterns and cannot be changed", () => {
    expect(DEFAULT_IGNORES).toContain(".DS_Store");
    expect(DEFAULT_IGNORES).toContain("*.swp");
    expect(Object.isFrozen(DEFAULT_IGNORES)).toBe(true);
  });
});

describe(".weftignore", () => {
  test("patterns apply with gitignore semantics: dir-only, anchored, nested, negated", async () => {
    const text = [
      "# build output",
      "build/",
      "*.log",
      "!keep.log",
      "/only-at-root.tmp",
      "node_modules",
      "docs/**/*.bak",
      "",
    ].join("\n");
    const rules = await IgnoreRules.load(await folderWith(text));
    expect(rules.source).toBe(text);
    // "build/" matches directories only, at any depth, and everything under them.
    expect(rules.ignores("build", true)).toBe(true);
    expect(rules.ignores("src/build", true)).toBe(true);
    expect(rules.ignores("build/out.js", false)).toBe(true);
    expect(rules.ignores("build", false)).toBe(false); // a file named build
    expect(rules.ignores("debug.log", false)).toBe(true);
    expect(rules.ignores("a/b/debug.log", false)).toBe(true);
    expect(rules.ignores("keep.log", false)).toBe(false);
    expect(rules.ignores("a/keep.log", false)).toBe(false);
    expect(rules.ignores("only-at-root.tmp", false)).toBe(true);
    expect(rules.ignores("sub/only-at-root.tmp", false)).toBe(false);
    expect(rules.ignores("node_modules", true)).toBe(true);
    expect(rules.ignores("pkg/node_modules/x/index.js", false)).toBe(true);
    expect(rules.ignores("docs/a/b/old.bak", false)).toBe(true);
    expect(rules.ignores("other/old.bak", false)).toBe(false);
  });

  test("a `!` line un-ignores a default, but never the agent's temp files", async () => {
    const rules = await IgnoreRules.load(
      await folderWith("!*.swp\n!.DS_Store\n!.weft-tmp-*\n!*.weft-partial\n"),
    );
    expect(rules.ignores(".notes.txt.swp", false)).toBe(false);
    expect(rules.ignores(".DS_Store", false)).toBe(false);
    expect(rules.ignores("Thumbs.db", false)).toBe(true); // not un-ignored
    expect(rules.ignores(".weft-tmp-0123456789abcdef", false)).toBe(true);
    expect(rules.ignores("a/b.weft-partial", false)).toBe(true);
    expect(rules.ignores("x.weft-partial/inside", false)).toBe(true);
  });

  test("the root .weftignore itself is never ignored, so it syncs to every device", async () => {
    const rules = await IgnoreRules.load(await folderWith(".*\n*\n"));
    expect(rules.ignores(WEFTIGNORE, false)).toBe(false);
    expect(rules.ignores(".hidden", false)).toBe(true);
    // Only the root one is special: a nested .weftignore is an ordinary file.
    expect(rules.ignores(`sub/${WEFTIGNORE}`, false)).toBe(true);
  });

  test("only the root .weftignore is read", async () => {
    const dir = await folderWith("");
    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "sub", WEFTIGNORE), "*.txt\n");
    const rules = await IgnoreRules.load(dir);
    expect(rules.ignores("sub/a.txt", false)).toBe(false);
    expect(rules.ignores(`sub/${WEFTIGNORE}`, false)).toBe(false);
  });

  test("matching is case-insensitive, so every device answers the same", async () => {
    const rules = await IgnoreRules.load(await folderWith("*.JPG\n"));
    expect(rules.ignores("a.jpg", false)).toBe(true);
    expect(rules.ignores("THUMBS.DB", false)).toBe(true);
  });

  test("a byte-order mark does not swallow the first pattern", async () => {
    const rules = await IgnoreRules.load(await folderWith("\uFEFF*.log\n"));
    expect(rules.ignores("x.log", false)).toBe(true);
    expect(IgnoreRules.parse("\uFEFF*.tmp").ignores("a.tmp", false)).toBe(true);
  });

  test("a missing .weftignore is fine; an unreadable one is a WeftError naming the file", async () => {
    const dir = await folderWith();
    await expect(IgnoreRules.load(dir)).resolves.toBeInstanceOf(IgnoreRules);
    await mkdir(join(dir, WEFTIGNORE)); // a directory by that name cannot be read as text
    const err = await IgnoreRules.load(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeftError);
    expect(err).toMatchObject({ code: "STORAGE" });
    expect((err as Error).message).toContain(WEFTIGNORE);
    expect((err as Error).cause).toBeDefined();
  });

  test("a .weftignore without read permission is a WeftError", async () => {
    const dir = await folderWith("*.log\n");
    await chmod(join(dir, WEFTIGNORE), 0o000);
    await expect(withUserPermissions([dir], () => IgnoreRules.load(dir))).rejects.toMatchObject({
      name: "WeftError",
      code: "STORAGE",
    });
  });
});

test("isAgentTempName recognises .weft-tmp-* and *.weft-partial only", () => {
  expect(isAgentTempName(".weft-tmp-0123456789abcdef")).toBe(true);
  expect(isAgentTempName(".weft-tmp-anything")).toBe(true);
  expect(isAgentTempName("movie.mkv.weft-partial")).toBe(true);
  expect(isAgentTempName("weft-tmp-x")).toBe(false);
  expect(isAgentTempName("notes.weft-partial.txt")).toBe(false);
  expect(isAgentTempName(".weftignore")).toBe(false);
});
