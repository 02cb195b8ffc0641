// materialize/ on real temp directories: downloads land only whole, verified and over the
// version the caller expected; nothing goes through a symlink; leftovers of a kill are cleaned.
import { type ChildProcess, spawn } from "node:child_process";
import {
  lstat,
  mkdir,
  mkdtemp,
  open,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { WeftError } from "@weft/core";
import { expectWeftError } from "@weft/core/conformance";
import {
  type Expected,
  type PlaceOptions,
  TEMP_PREFIX,
  cleanTempFiles,
  makeDir,
  placeFile,
  removeDirIfEmpty,
  removeFile,
  statExpected,
} from "../src/materialize/index.js";

const MTIME = Date.UTC(2020, 0, 2, 3, 4, 5, 678);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The parts as chunks, one event-loop turn apart as from a network. */
async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) {
    await setImmediate();
    yield text(part);
  }
}

/** A source that yields `before`, then fails the way a chunk that does not verify would. */
async function* failingAfter(before: string, error: Error): AsyncGenerator<Uint8Array> {
  yield text(before);
  await setImmediate();
  throw error;
}

const opts = (over: Partial<PlaceOptions> = {}): PlaceOptions => ({
  mode: 0o644,
  mtimeMs: MTIME,
  expected: null,
  ...over,
});

let root: string;
let outside: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "weft-materialize-"));
  outside = await mkdtemp(join(tmpdir(), "weft-outside-"));
});
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  vi.restoreAllMocks();
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

/** Every temp file anywhere under `dir`. */
async function tempFiles(dir: string): Promise<string[]> {
  const all = await readdir(dir, { recursive: true });
  return all.filter((p) => p.split("/").pop()?.startsWith(TEMP_PREFIX));
}

async function existing(relPath: string, content: string): Promise<NonNullable<Expected>> {
  const path = join(root, relPath);
  await writeFile(path, content);
  await utimes(path, new Date(MTIME - 60_000), new Date(MTIME - 60_000));
  return (await statExpected(path)) as NonNullable<Expected>;
}

describe("placeFile", () => {
  test("places the content with its mode and mtime, and reports the placed file", async () => {
    const result = await placeFile(
      root,
      "run.sh",
      chunks("#!/bin/sh\n", "echo hi\n"),
      opts({ mode: 0o755 }),
    );
    const path = join(root, "run.sh");
    expect(await readFile(path, "utf8")).toBe("#!/bin/sh\necho hi\n");
    const s = await stat(path);
    expect(s.mode & 0o777).toBe(0o755);
    expect(Math.floor(s.mtimeMs)).toBe(MTIME);
    expect(result).toEqual({
      placed: true,
      stat: { size: 18, mtimeMs: MTIME, ino: s.ino, mode: 0o755 },
    });
    expect(await statExpected(path)).toEqual({ size: 18, mtimeMs: MTIME, ino: s.ino });
  });

  test("keeps only permission bits: no setuid from a peer", async () => {
    await placeFile(root, "a", chunks("x"), opts({ mode: 0o4755 }));
    expect((await stat(join(root, "a"))).mode & 0o7777).toBe(0o755);
    await placeFile(root, "b", chunks("x"), opts({ mode: 0o600 }));
    expect((await stat(join(root, "b"))).mode & 0o7777).toBe(0o600);
  });

  test("creates missing parent directories and places an empty file", async () => {
    const result = await placeFile(root, "a/b/c/empty", chunks(), opts({ size: 0 }));
    expect(result.placed).toBe(true);
    expect(await readFile(join(root, "a/b/c/empty"))).toHaveLength(0);
    expect((await lstat(join(root, "a/b"))).isDirectory()).toBe(true);
  });

  test("replaces the file the caller expected", async () => {
    const expected = await existing("notes.txt", "old");
    const result = await placeFile(root, "notes.txt", chunks("new content"), opts({ expected }));
    expect(result.placed).toBe(true);
    expect(await readFile(join(root, "notes.txt"), "utf8")).toBe("new content");
    expect(await tempFiles(root)).toEqual([]);
  });

  test("someone edited the file: the edit stays, nothing is left behind, 'changed'", async () => {
    const expected = await existing("notes.txt", "old");
    await writeFile(join(root, "notes.txt"), "edited locally");
    const current = await statExpected(join(root, "notes.txt"));
    const result = await placeFile(root, "notes.txt", chunks("remote"), opts({ expected }));
    expect(result).toEqual({ placed: false, reason: "changed", current });
    expect(await readFile(join(root, "notes.txt"), "utf8")).toBe("edited locally");
    expect(await tempFiles(root)).toEqual([]);
  });

  test("only the mtime changed (same size, same inode): still 'changed'", async () => {
    const expected = await existing("n", "abc");
    await utimes(join(root, "n"), new Date(), new Date());
    const result = await placeFile(root, "n", chunks("xyz"), opts({ expected }));
    expect(result.placed).toBe(false);
    expect(await readFile(join(root, "n"), "utf8")).toBe("abc");
  });

  test("expected nothing but a file appeared: 'changed', the file stays", async () => {
    await writeFile(join(root, "new.txt"), "created locally");
    const result = await placeFile(root, "new.txt", chunks("remote"), opts({ expected: null }));
    expect(result).toMatchObject({ placed: false, reason: "changed" });
    expect(result.placed === false && result.current?.size).toBe(15);
    expect(await readFile(join(root, "new.txt"), "utf8")).toBe("created locally");
  });

  test("expected a file but it was deleted: 'changed' with current null", async () => {
    const expected = await existing("gone", "x");
    await rm(join(root, "gone"));
    const result = await placeFile(root, "gone", chunks("remote"), opts({ expected }));
    expect(result).toEqual({ placed: false, reason: "changed", current: null });
    await expect(stat(join(root, "gone"))).rejects.toThrow();
  });

  test("a directory or a symlink at the target is never replaced", async () => {
    await mkdir(join(root, "dir"));
    await writeFile(join(root, "dir", "keep"), "x");
    expect(await placeFile(root, "dir", chunks("f"), opts())).toMatchObject({ placed: false });
    expect(await readFile(join(root, "dir", "keep"), "utf8")).toBe("x");

    await writeFile(join(outside, "target"), "outside");
    await symlink(join(outside, "target"), join(root, "link"));
    const asIfFile = await statExpected(join(root, "link"));
    for (const expected of [null, asIfFile]) {
      expect(await placeFile(root, "link", chunks("f"), opts({ expected }))).toMatchObject({
        placed: false,
        reason: "changed",
      });
    }
    expect((await lstat(join(root, "link"))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(outside, "target"), "utf8")).toBe("outside");
    expect(await tempFiles(root)).toEqual([]);
  });

  test("a source that throws midway: its error, the original untouched, no temp file", async () => {
    const expected = await existing("doc", "original");
    const failure = new Error("chunk 2 does not match its id");
    await expect(
      placeFile(root, "doc", failingAfter("partial", failure), opts({ expected })),
    ).rejects.toBe(failure);
    expect(await readFile(join(root, "doc"), "utf8")).toBe("original");
    expect(await statExpected(join(root, "doc"))).toEqual(expected);
    expect(await tempFiles(root)).toEqual([]);
  });

  test("too few or too many bytes for the size: INTEGRITY, the original untouched", async () => {
    const expected = await existing("doc", "original");
    await expectWeftError(
      placeFile(root, "doc", chunks("short"), opts({ expected, size: 6 })),
      "INTEGRITY",
    );
    await expectWeftError(
      placeFile(root, "doc", chunks("much", "too long"), opts({ expected, size: 6 })),
      "INTEGRITY",
    );
    expect(await readFile(join(root, "doc"), "utf8")).toBe("original");
    expect(await tempFiles(root)).toEqual([]);
    expect(
      (await placeFile(root, "doc", chunks("abc", "def"), opts({ expected, size: 6 }))).placed,
    ).toBe(true);
  });

  test("a symlinked parent directory: UNSAFE_PATH, nothing written outside the root", async () => {
    await symlink(outside, join(root, "link"));
    await expectWeftError(placeFile(root, "link/evil.txt", chunks("x"), opts()), "UNSAFE_PATH");
    await mkdir(join(root, "a"));
    await symlink(outside, join(root, "a", "deeper"));
    await expectWeftError(
      placeFile(root, "a/deeper/new/evil.txt", chunks("x"), opts()),
      "UNSAFE_PATH",
    );
    expect(await readdir(outside)).toEqual([]);
    expect(await tempFiles(root)).toEqual([]);
  });

  test("a parent that is a file: NOT_A_DIRECTORY, the file untouched", async () => {
    await writeFile(join(root, "plain"), "i am a file");
    await expectWeftError(
      placeFile(root, "plain/child.txt", chunks("x"), opts()),
      "NOT_A_DIRECTORY",
    );
    expect(await readFile(join(root, "plain"), "utf8")).toBe("i am a file");
  });

  test("an unsafe or reserved path is refused before anything is created", async () => {
    for (const p of [
      "../escape.txt",
      "a/../../escape.txt",
      "/abs",
      "a\\b",
      "new/.weft-tmp-0123456789abcdef",
    ]) {
      await expectWeftError(placeFile(root, p, chunks("x"), opts()), "UNSAFE_PATH");
    }
    expect(await readdir(root)).toEqual([]);
  });

  test("a folder that is not there (an unmounted drive) is not re-created", async () => {
    const missing = join(root, "unmounted");
    await expectWeftError(placeFile(missing, "a/b.txt", chunks("x"), opts()), "NOT_FOUND");
    await expect(stat(missing)).rejects.toThrow();
  });

  test("aborting stops the write: the signal's reason, nothing placed, no temp file", async () => {
    const controller = new AbortController();
    const reason = new Error("stopped by the user");
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield text("first");
      controller.abort(reason);
      await setImmediate();
      yield text("second");
    }
    const p = placeFile(root, "f", slow(), opts({ signal: controller.signal }));
    await expect(p).rejects.toBe(reason);
    await expect(stat(join(root, "f"))).rejects.toThrow();
    expect(await tempFiles(root)).toEqual([]);
  });

  test("bad options are INVALID_ARGUMENT", async () => {
    await expectWeftError(placeFile(root, "f", chunks(), opts({ mode: -1 })), "INVALID_ARGUMENT");
    await expectWeftError(
      placeFile(root, "f", chunks(), opts({ mtimeMs: NaN })),
      "INVALID_ARGUMENT",
    );
    await expectWeftError(placeFile(root, "f", chunks(), opts({ size: 1.5 })), "INVALID_ARGUMENT");
  });

  // A real full disk needs a tiny file system, and mounting one needs root: the ENOSPC is
  // injected into FileHandle.write instead, so the mapping and the clean-up are what is tested.
  test("disk full (simulated ENOSPC): DISK_FULL, temp removed, original untouched", async () => {
    const expected = await existing("big", "original");
    const probe = await open(join(outside, "probe"), "w");
    const proto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      errno: -28,
      syscall: "write",
    });
    vi.spyOn(proto, "write").mockRejectedValueOnce(enospc);
    const outcome: unknown = await placeFile(root, "big", chunks("lots"), opts({ expected })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(WeftError);
    expect((outcome as WeftError).code).toBe("DISK_FULL");
    expect((outcome as WeftError).message).toMatch(/"big".*disk is full; nothing was replaced/);
    expect((outcome as WeftError).cause).toBe(enospc);
    expect(await readFile(join(root, "big"), "utf8")).toBe("original");
    expect(await tempFiles(root)).toEqual([]);
  });
});

describe("removeFile", () => {
  test("removes the file when it matches what the caller expected", async () => {
    const expected = await existing("old.txt", "bye");
    expect(await removeFile(root, "old.txt", expected)).toEqual({ removed: true, current: null });
    await expect(stat(join(root, "old.txt"))).rejects.toThrow();
  });

  test("keeps a file that changed and says what is there", async () => {
    const expected = await existing("old.txt", "bye");
    await writeFile(join(root, "old.txt"), "edited after the peer deleted it");
    const current = await statExpected(join(root, "old.txt"));
    expect(await removeFile(root, "old.txt", expected)).toEqual({ removed: false, current });
    expect(await readFile(join(root, "old.txt"), "utf8")).toBe("edited after the peer deleted it");
  });

  test("nothing there (or no parent): not removed, current null", async () => {
    const expected = { size: 1, mtimeMs: MTIME, ino: 1 };
    expect(await removeFile(root, "absent", expected)).toEqual({ removed: false, current: null });
    expect(await removeFile(root, "no/such/dir/f", expected)).toEqual({
      removed: false,
      current: null,
    });
  });

  test("never removes a directory, nor goes through a symlinked parent", async () => {
    await mkdir(join(root, "d"));
    const asDir = (await statExpected(join(root, "d"))) as NonNullable<Expected>;
    expect((await removeFile(root, "d", asDir)).removed).toBe(false);
    await writeFile(join(outside, "victim"), "x");
    const victim = (await statExpected(join(outside, "victim"))) as NonNullable<Expected>;
    await symlink(outside, join(root, "link"));
    await expectWeftError(removeFile(root, "link/victim", victim), "UNSAFE_PATH");
    expect(await readFile(join(outside, "victim"), "utf8")).toBe("x");
  });
});

describe("makeDir", () => {
  test("makes nested directories; an existing one is fine", async () => {
    await makeDir(root, "a/b/c");
    await makeDir(root, "a/b/c");
    expect((await stat(join(root, "a/b/c"))).isDirectory()).toBe(true);
  });

  test("a file in the way is NOT_A_DIRECTORY, a symlink UNSAFE_PATH", async () => {
    await writeFile(join(root, "f"), "x");
    await expectWeftError(makeDir(root, "f"), "NOT_A_DIRECTORY");
    await expectWeftError(makeDir(root, "f/sub"), "NOT_A_DIRECTORY");
    await symlink(outside, join(root, "link"));
    await expectWeftError(makeDir(root, "link"), "UNSAFE_PATH");
    await expectWeftError(makeDir(root, "link/sub"), "UNSAFE_PATH");
    expect(await readdir(outside)).toEqual([]);
  });
});

describe("removeDirIfEmpty", () => {
  const junk = (name: string): boolean => name === ".DS_Store" || name === "Thumbs.db";

  test("removes a directory holding only ignorable junk", async () => {
    await mkdir(join(root, "photos"));
    await writeFile(join(root, "photos", ".DS_Store"), "junk");
    await writeFile(join(root, "photos", "Thumbs.db"), "junk");
    expect(await removeDirIfEmpty(root, "photos", junk)).toBe(true);
    await expect(stat(join(root, "photos"))).rejects.toThrow();
  });

  test("keeps a directory with a real file, and the junk next to it", async () => {
    await mkdir(join(root, "docs"));
    await writeFile(join(root, "docs", ".DS_Store"), "junk");
    await writeFile(join(root, "docs", "letter.txt"), "real");
    expect(await removeDirIfEmpty(root, "docs", junk)).toBe(false);
    expect((await readdir(join(root, "docs"))).sort()).toEqual([".DS_Store", "letter.txt"]);
  });

  test("keeps a directory with a subdirectory, even one with a junk name", async () => {
    await mkdir(join(root, "d/.DS_Store"), { recursive: true });
    expect(await removeDirIfEmpty(root, "d", junk)).toBe(false);
    expect(await readdir(join(root, "d"))).toEqual([".DS_Store"]);
  });

  test("an empty directory goes; an absent one counts as gone; a file stays", async () => {
    await mkdir(join(root, "empty"));
    expect(await removeDirIfEmpty(root, "empty", junk)).toBe(true);
    expect(await removeDirIfEmpty(root, "never/was", junk)).toBe(true);
    await writeFile(join(root, "file"), "x");
    expect(await removeDirIfEmpty(root, "file", junk)).toBe(false);
    expect(await readFile(join(root, "file"), "utf8")).toBe("x");
  });
});

describe("cleanTempFiles and a process killed mid-write", () => {
  const leftover = `${TEMP_PREFIX}0123456789abcdef`;

  test("removes leftovers in nested directories and nothing else", async () => {
    await mkdir(join(root, "a/b"), { recursive: true });
    await writeFile(join(root, leftover), "partial");
    await writeFile(join(root, "a/b", `${TEMP_PREFIX}fedcba9876543210`), "partial");
    await writeFile(join(root, "a/b/keep.txt"), "real");
    await writeFile(join(root, `${TEMP_PREFIX}notes`), "a user's own file");
    await mkdir(join(root, `${TEMP_PREFIX}aaaaaaaaaaaaaaaa`));
    expect(await cleanTempFiles(root)).toBe(2);
    expect((await readdir(root, { recursive: true })).sort()).toEqual([
      `${TEMP_PREFIX}aaaaaaaaaaaaaaaa`,
      `${TEMP_PREFIX}notes`,
      "a",
      "a/b",
      "a/b/keep.txt",
    ]);
    expect(await cleanTempFiles(root)).toBe(0);
  });

  test("does not follow symlinks", async () => {
    await writeFile(join(outside, leftover), "not ours to touch");
    await symlink(outside, join(root, "link"));
    await symlink(join(outside, leftover), join(root, `${TEMP_PREFIX}1111111111111111`));
    expect(await cleanTempFiles(root)).toBe(0);
    expect(await readFile(join(outside, leftover), "utf8")).toBe("not ours to touch");
  });

  test("a leftover from a kill: the target is untouched and the leftover cleaned", async () => {
    const expected = await existing("doc", "original");
    await writeFile(join(root, leftover), "half of the new ver");
    expect(await readFile(join(root, "doc"), "utf8")).toBe("original");
    expect(await cleanTempFiles(root)).toBe(1);
    expect(await readdir(root)).toEqual(["doc"]);
    expect(await statExpected(join(root, "doc"))).toEqual(expected);
  });

  test("SIGKILL during a real placeFile leaves the original and one temp file to clean", async () => {
    await mkdir(join(root, "sub"));
    const expected = await existing("sub/doc", "original");
    const child = spawnHalfWriter(root, "sub/doc", expected);
    await child.ready;
    child.process.kill("SIGKILL");
    await child.exited;
    expect(await readFile(join(root, "sub/doc"), "utf8")).toBe("original");
    expect(await tempFiles(root)).toHaveLength(1);
    expect(await cleanTempFiles(root)).toBe(1);
    expect(await readdir(join(root, "sub"))).toEqual(["doc"]);
    expect(await statExpected(join(root, "sub/doc"))).toEqual(expected);
  });
});

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * A child process that starts placeFile(root, relPath) with a source that yields one chunk,
 * prints "ready" and then never ends: killing it is a kill in the middle of a download.
 * It loads the TypeScript sources through Vite's module runner, as the state store's crash
 * test does, so no build is needed.
 */
function spawnHalfWriter(
  dir: string,
  relPath: string,
  expected: Expected,
): { process: ChildProcess; ready: Promise<void>; exited: Promise<void> } {
  const script = `
    import { runnerImport } from "vite";
    const { aliases } = (await runnerImport(${JSON.stringify(join(repoRoot, "vitest.aliases.ts"))})).module;
    const { module } = await runnerImport(
      ${JSON.stringify(join(repoRoot, "packages/node-agent/src/materialize/index.ts"))},
      { root: ${JSON.stringify(repoRoot)}, resolve: { alias: aliases }, logLevel: "silent" },
    );
    setInterval(() => {}, 60_000);
    async function* source() {
      yield new Uint8Array(64 * 1024).fill(120);
      process.stdout.write("ready\\n");
      await new Promise(() => {});
    }
    await module.placeFile(${JSON.stringify(dir)}, ${JSON.stringify(relPath)}, source(), {
      mode: 0o644, mtimeMs: Date.now(), expected: ${JSON.stringify(expected)},
    });
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      if (s.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the writer exited (${code}) early: ${err}`)));
  });
  return { process: child, ready, exited };
}
