// The scanner on real temp directories: what changed since the last scan, what it had to hash
// to know, and what it refuses (symlinks, special files, unreadable entries, bad names).
import { execFileSync } from "node:child_process";
import { appendFileSync, chmodSync, statSync, truncateSync } from "node:fs";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import {
  type ChunkerOptions,
  MemoryBlobStore,
  MemoryStateStore,
  Replica,
  WeftError,
} from "@weft/core";
import { afterEach, describe, expect, test } from "vitest";
import { IgnoreRules } from "../src/ignore/index.js";
import {
  FileChangedError,
  type LocalFileState,
  type ScanOptions,
  type ScanResult,
  hashFile,
  scanFolder,
} from "../src/scan/index.js";
import { hashFileChecked } from "../src/scan/hash.js";
import { withUserPermissions } from "./helpers/unprivileged.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const posix = process.platform !== "win32";
const SMALL: ChunkerOptions = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

async function tempDir(prefix = "weft-scan-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(async () => {
    // Give back permissions a test took away, or rm cannot clear the tree.
    if (posix) execFileSync("chmod", ["-R", "u+rwX", dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function put(root: string, rel: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), data);
}

/** Deterministic bytes that chunk at content-defined points. */
function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 255;
  }
  return out;
}

/** A scan with every file stable (stableMs 0) that counts the bytes it hashed. */
async function scan(
  root: string,
  previous: ReadonlyMap<string, LocalFileState> = new Map(),
  extra: Partial<ScanOptions> = {},
): Promise<ScanResult & { hashedBytes: number; hashedFiles: number }> {
  let hashedBytes = 0;
  let hashedFiles = 0;
  const result = await scanFolder({
    root,
    ignore: await IgnoreRules.load(root),
    previous,
    stableMs: 0,
    onProgress: (p) => {
      hashedBytes = p.bytesHashed;
      hashedFiles = p.files;
    },
    ...extra,
  });
  return Object.assign(result, { hashedBytes, hashedFiles });
}

const paths = (records: { path: string }[]): string[] => records.map((r) => r.path);
const moves = (r: ScanResult): string[] => r.moved.map((m) => `${m.from.path} -> ${m.to.path}`);

describe("changes since the previous scan", () => {
  test("first scan adds files and directories, sorted, with hashes and stat fields", async () => {
    const root = await tempDir();
    await put(root, "b.txt", "bee");
    await put(root, "a/c.txt", "sea");
    await put(root, "a/empty", "");
    const r = await scan(root);
    expect(paths(r.added)).toEqual(["a", "a/c.txt", "a/empty", "b.txt"]);
    const b = r.added.find((x) => x.path === "b.txt")!;
    const s = await stat(join(root, "b.txt"));
    expect(b).toEqual({
      path: "b.txt",
      kind: "file",
      size: 3,
      mtimeMs: Math.floor(s.mtimeMs),
      ino: s.ino,
      mode: s.mode & 0o777,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    expect(r.added.find((x) => x.path === "a")).toMatchObject({ kind: "dir", size: 0, hash: null });
    expect([...r.current.keys()].sort()).toEqual(["a", "a/c.txt", "a/empty", "b.txt"]);
    expect(r.hashedFiles).toBe(3);
    expect(r.unchanged).toBe(0);
  });

  test("modify, remove and a mode-only change; the mode change is not rehashed", async () => {
    const root = await tempDir();
    await put(root, "edit.txt", "v1");
    await put(root, "gone.txt", "bye");
    await put(root, "mode.sh", "#!/bin/sh\n");
    await put(root, "same.txt", "same");
    const first = await scan(root);
    await writeFile(join(root, "edit.txt"), "version 2");
    await rm(join(root, "gone.txt"));
    await chmod(join(root, "mode.sh"), 0o755);
    const r = await scan(root, first.current);
    expect(paths(r.modified)).toEqual(["edit.txt", "mode.sh"]);
    expect(r.modified[1]).toMatchObject({ mode: 0o755, hash: first.current.get("mode.sh")!.hash });
    expect(paths(r.removed)).toEqual(["gone.txt"]);
    expect(r.added).toEqual([]);
    expect(r.unchanged).toBe(1);
    expect(r.hashedBytes).toBe("version 2".length); // only the edited file was read
    expect(r.current.has("gone.txt")).toBe(false);
    expect(r.current.get("edit.txt")!.hash).not.toBe(first.current.get("edit.txt")!.hash);
  });

  test("a file touched with the same bytes is rehashed but unchanged; its new mtime is kept", async () => {
    const root = await tempDir();
    await put(root, "t.txt", "same");
    const first = await scan(root);
    await utimes(join(root, "t.txt"), new Date(2_000_000_000), new Date(2_000_000_000));
    const r = await scan(root, first.current);
    expect(r.modified).toEqual([]);
    expect(r.unchanged).toBe(1);
    expect(r.hashedFiles).toBe(1);
    expect(r.current.get("t.txt")!.mtimeMs).toBe(2_000_000_000);
  });

  test("a file replaced by a directory is a removed file and an added directory", async () => {
    const root = await tempDir();
    await put(root, "x", "file");
    const first = await scan(root);
    await rm(join(root, "x"));
    await put(root, "x/inner.txt", "now a dir");
    const r = await scan(root, first.current);
    expect(r.removed).toEqual([first.current.get("x")]);
    expect(paths(r.added)).toEqual(["x", "x/inner.txt"]);
  });

  test("5,000 files: the first scan hashes each once, a rescan without change hashes none", async () => {
    const root = await tempDir();
    for (let d = 0; d < 50; d++) {
      await mkdir(join(root, `d${d}`));
      await Promise.all(
        Array.from({ length: 100 }, (_, f) =>
          writeFile(join(root, `d${d}`, `f${f}.txt`), `${d}/${f}`),
        ),
      );
    }
    const first = await scan(root);
    expect(first.added).toHaveLength(5050);
    expect(first.hashedFiles).toBe(5000);
    let progressCalls = 0;
    const second = await scan(root, first.current, { onProgress: () => progressCalls++ });
    expect(progressCalls).toBe(0);
    expect(second.unchanged).toBe(5050);
    expect([second.added, second.modified, second.removed, second.moved]).toEqual([[], [], [], []]);
    expect(second.current).toEqual(first.current);
  });
});

describe("moves", () => {
  test("a rename keeps the inode: a move found without hashing", async () => {
    const root = await tempDir();
    await put(root, "old.txt", "content");
    const first = await scan(root);
    await rename(join(root, "old.txt"), join(root, "new.txt"));
    const r = await scan(root, first.current);
    expect(moves(r)).toEqual(["old.txt -> new.txt"]);
    expect(r.moved[0]!.to.hash).toBe(first.current.get("old.txt")!.hash);
    expect([r.added, r.removed]).toEqual([[], []]);
    expect(r.hashedFiles).toBe(0);
    expect([...r.current.keys()]).toEqual(["new.txt"]);
  });

  test("a copy then delete (new inode, same bytes) is a move found by hash", async () => {
    const root = await tempDir();
    await put(root, "a.bin", bytes(1, 50_000));
    const first = await scan(root);
    await copyFile(join(root, "a.bin"), join(root, "b.bin"));
    await rm(join(root, "a.bin"));
    const r = await scan(root, first.current);
    expect(r.moved[0]!.to.ino).not.toBe(first.current.get("a.bin")!.ino);
    expect(moves(r)).toEqual(["a.bin -> b.bin"]);
    expect([r.added, r.removed]).toEqual([[], []]);
  });

  test("two identical new files and one removed are ambiguous: plain adds and a remove", async () => {
    const root = await tempDir();
    await put(root, "a.txt", "twin");
    const first = await scan(root);
    await copyFile(join(root, "a.txt"), join(root, "b.txt"));
    await copyFile(join(root, "a.txt"), join(root, "c.txt"));
    await rm(join(root, "a.txt"));
    const r = await scan(root, first.current);
    expect(r.moved).toEqual([]);
    expect(paths(r.added)).toEqual(["b.txt", "c.txt"]);
    expect(paths(r.removed)).toEqual(["a.txt"]);
  });

  test("empty files are never paired by hash", async () => {
    const root = await tempDir();
    await put(root, "empty-1", "");
    const first = await scan(root);
    await put(root, "empty-2", ""); // created before the delete, so it cannot reuse the inode
    await rm(join(root, "empty-1"));
    const r = await scan(root, first.current);
    expect(r.moved).toEqual([]);
    expect(paths(r.added)).toEqual(["empty-2"]);
    expect(paths(r.removed)).toEqual(["empty-1"]);
  });

  test("a directory rename reports the directory and each file under it as moves", async () => {
    const root = await tempDir();
    await put(root, "photos/a.jpg", "A");
    await put(root, "photos/b.jpg", "B");
    await put(root, "photos/2024/c.jpg", "C");
    const first = await scan(root);
    await rename(join(root, "photos"), join(root, "pictures"));
    const r = await scan(root, first.current);
    expect(moves(r)).toEqual([
      "photos -> pictures",
      "photos/2024 -> pictures/2024",
      "photos/2024/c.jpg -> pictures/2024/c.jpg",
      "photos/a.jpg -> pictures/a.jpg",
      "photos/b.jpg -> pictures/b.jpg",
    ]);
    expect([r.added, r.removed]).toEqual([[], []]);
    expect(r.hashedFiles).toBe(0);
  });
});

describe("a scan of the paths the watcher reported", () => {
  test("only those paths and what is under them are looked at; the rest keeps its records", async () => {
    const root = await tempDir();
    await put(root, "docs/a.txt", "a");
    await put(root, "docs/b.txt", "b");
    await put(root, "music/c.txt", "c");
    await put(root, "top.txt", "t");
    const first = await scan(root);
    await put(root, "docs/a.txt", "a, edited");
    await put(root, "docs/b.txt", "b, edited but not reported");
    await rm(join(root, "music/c.txt"));
    await put(root, "photos/2024/d.jpg", "d");
    const r = await scan(root, first.current, { paths: new Set(["docs/a.txt", "photos"]) });
    expect(paths(r.modified)).toEqual(["docs/a.txt"]);
    expect(paths(r.added)).toEqual(["photos", "photos/2024", "photos/2024/d.jpg"]);
    expect(r.removed).toEqual([]);
    expect(r.hashedFiles).toBe(2);
    // Unreported changes are left for a later scan: their records are as they were.
    expect(r.current.get("docs/b.txt")).toEqual(first.current.get("docs/b.txt"));
    expect(r.current.get("music/c.txt")).toEqual(first.current.get("music/c.txt"));
    expect(r.current.get("top.txt")).toEqual(first.current.get("top.txt"));
    const whole = await scan(root, r.current);
    expect([paths(whole.modified), paths(whole.removed)]).toEqual([
      ["docs/b.txt"],
      ["music/c.txt"],
    ]);
  });

  test("a removal and a rename across directories, reported by both their paths", async () => {
    const root = await tempDir();
    await put(root, "a/x.txt", "moving");
    await put(root, "a/gone.txt", "going");
    await put(root, "old/y.txt", "y");
    await mkdir(join(root, "b"));
    const first = await scan(root);
    await rename(join(root, "a/x.txt"), join(root, "b/x.txt"));
    await rm(join(root, "a/gone.txt"));
    await rename(join(root, "old"), join(root, "new"));
    const r = await scan(root, first.current, {
      paths: new Set(["a/x.txt", "b/x.txt", "a/gone.txt", "old", "new"]),
    });
    expect(moves(r)).toEqual(["a/x.txt -> b/x.txt", "old -> new", "old/y.txt -> new/y.txt"]);
    expect(paths(r.removed)).toEqual(["a/gone.txt"]);
    expect([r.added, r.modified, r.hashedFiles]).toEqual([[], [], 0]);
  });

  test("the folder root among the paths scans everything", async () => {
    const root = await tempDir();
    await put(root, "a.txt", "a");
    const first = await scan(root);
    await put(root, "deep/b.txt", "b");
    const r = await scan(root, first.current, { paths: new Set(["", "a.txt"]) });
    expect(paths(r.added)).toEqual(["deep", "deep/b.txt"]);
  });
});

describe("files still being written", () => {
  test("a file modified within stableMs of now() is unstable and keeps its previous record", async () => {
    const root = await tempDir();
    await put(root, "new.txt", "just written");
    await put(root, "doc.txt", "v1");
    const prev = new Map([["doc.txt", { ...(await scan(root)).current.get("doc.txt")! }]]);
    await writeFile(join(root, "doc.txt"), "version two");
    const mtime = Math.floor((await stat(join(root, "doc.txt"))).mtimeMs);
    // Same mtime for both, so the test does not depend on how long the writes took.
    await utimes(join(root, "new.txt"), new Date(mtime), new Date(mtime));
    const r = await scan(root, prev, { stableMs: 1000, now: () => mtime + 500 });
    expect(r.unstable).toEqual(["doc.txt", "new.txt"]);
    expect([r.added, r.modified]).toEqual([[], []]);
    expect(r.hashedFiles).toBe(0);
    expect(r.current.get("doc.txt")).toEqual(prev.get("doc.txt"));
    expect(r.current.has("new.txt")).toBe(false);
    // Once it has been quiet long enough, the same scan takes it.
    const later = await scan(root, prev, { stableMs: 1000, now: () => mtime + 1500 });
    expect(paths(later.modified)).toEqual(["doc.txt"]);
    expect(paths(later.added)).toEqual(["new.txt"]);
  });

  test("a file appended to while it is hashed is unstable, then added once it is quiet", async () => {
    const root = await tempDir();
    const file = join(root, "growing.log");
    await put(root, "growing.log", bytes(2, 3 * 1024 * 1024)); // several 1 MiB reads
    let appended = false;
    const r = await scan(root, new Map(), {
      // Runs between two reads of the file: a real write racing the hash.
      onProgress: () => {
        if (!appended) appendFileSync(file, "more");
        appended = true;
      },
    });
    expect(appended).toBe(true);
    expect(r.unstable).toEqual(["growing.log"]);
    expect(r.added).toEqual([]);
    const next = await scan(root);
    expect(next.added[0]).toMatchObject({ path: "growing.log", size: 3 * 1024 * 1024 + 4 });
  });

  test("hashFile compares fstat before and after the read: growth, shrinkage, chmod", async () => {
    const root = await tempDir();
    const file = join(root, "f.bin");
    const reset = (): Promise<void> => writeFile(file, bytes(3, 2 * 1024 * 1024 + 10));
    await reset();
    const once = (change: () => void): ((n: number) => void) => {
      let done = false;
      return () => {
        if (!done) change();
        done = true;
      };
    };
    const grown = await hashFileChecked(file, { onBlock: once(() => appendFileSync(file, "x")) });
    expect(grown).toMatchObject({
      status: "changed",
      reason: expect.stringContaining("size") as unknown,
    });
    await reset();
    const shrunk = await hashFileChecked(file, { onBlock: once(() => truncateSync(file, 100)) });
    expect(shrunk).toMatchObject({
      status: "changed",
      reason: expect.stringContaining("read") as unknown,
    });
    await reset();
    // Same size, mode and mtime, but the change time moves (a chmod and back): still caught.
    // The kernel's clock ticks coarsely, so the hook repeats until ctime has really moved.
    const s = await stat(file);
    const touched = await hashFileChecked(file, {
      onBlock: once(() => {
        do {
          chmodSync(file, 0o600);
          chmodSync(file, s.mode & 0o777);
        } while (statSync(file).ctimeMs === s.ctimeMs);
      }),
    });
    expect(touched).toMatchObject({ status: "changed", reason: "change time moved" });
    expect((await stat(file)).mtimeMs).toBe(s.mtimeMs);
    await reset();
    const ok = await hashFileChecked(file);
    expect(ok.status).toBe("ok");
    // The public hashFile gives the same hash, and throws a FileChangedError (a WeftError,
    // code STORAGE) where hashFileChecked says "changed"; the race itself cannot be forced
    // without the onBlock seam, so only the error's shape is checked here.
    expect((await hashFile(file)).hash).toBe(ok.status === "ok" ? ok.hash : "");
    const changed = new FileChangedError(file, "size went from 1 to 2");
    expect(changed).toBeInstanceOf(WeftError);
    expect(changed.code).toBe("STORAGE");
  });
});

test("hashFile refuses what it cannot hash with a WeftError code", async () => {
  const root = await tempDir();
  await put(root, "dir/f.txt", "x");
  await expect(hashFile(join(root, "missing"))).rejects.toMatchObject({ code: "NOT_FOUND" });
  await expect(hashFile(join(root, "dir"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  if (posix) {
    await symlink(join(root, "dir/f.txt"), join(root, "link"));
    await expect(hashFile(join(root, "link"))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  }
});

describe("what is never synced", () => {
  test.skipIf(!posix)(
    "symlinks are reported and never followed, even to a directory outside",
    async () => {
      const root = await tempDir();
      const outside = await tempDir("weft-outside-");
      await put(outside, "secret/keys.txt", "not yours");
      await put(root, "a.txt", "A");
      await symlink(outside, join(root, "link-out"));
      await symlink(join(root, "a.txt"), join(root, "link-file"));
      await symlink(join(root, "nowhere"), join(root, "dangling"));
      const r = await scan(root);
      expect(r.symlinks).toEqual(["dangling", "link-file", "link-out"]);
      expect(paths(r.added)).toEqual(["a.txt"]);
      expect(r.errors).toEqual([]);
    },
  );

  test.skipIf(!posix)(
    "a FIFO or a socket is an error entry, not a crash (nor a hang)",
    async () => {
      const root = await tempDir();
      await put(root, "ok.txt", "fine");
      execFileSync("mkfifo", [join(root, "pipe")]);
      const server: Server = createServer();
      await new Promise<void>((done) => server.listen(join(root, "sock"), done));
      cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
      const r = await scan(root);
      expect(paths(r.added)).toEqual(["ok.txt"]);
      expect(r.errors).toEqual([
        { path: "pipe", message: expect.stringContaining("FIFO") as unknown },
        { path: "sock", message: expect.stringContaining("socket") as unknown },
      ]);
    },
  );

  test.skipIf(!posix)(
    "a tracked file that turns into something unreadable is kept, not removed",
    async () => {
      const root = await tempDir();
      await put(root, "data", "tracked");
      const first = await scan(root);
      await rm(join(root, "data"));
      execFileSync("mkfifo", [join(root, "data")]);
      const r = await scan(root, first.current);
      expect(paths(r.errors)).toEqual(["data"]);
      expect(r.removed).toEqual([]);
      expect(r.current.get("data")).toEqual(first.current.get("data"));
    },
  );

  test.skipIf(!posix)(
    "an unreadable file or directory is an error entry; nothing under it is removed",
    async () => {
      const root = await tempDir();
      await put(root, "locked.txt", "secret");
      await put(root, "closed/inner.txt", "inside");
      const first = await scan(root);
      await writeFile(join(root, "locked.txt"), "edited, so it must be read again");
      await put(root, "new-locked.txt", "never readable");
      for (const p of ["locked.txt", "new-locked.txt", "closed"]) await chmod(join(root, p), 0);
      const r = await withUserPermissions([root], () => scan(root, first.current));
      const denied = expect.stringContaining("permission denied") as unknown;
      expect(r.errors).toEqual([
        { path: "closed", message: denied },
        { path: "locked.txt", message: denied },
        { path: "new-locked.txt", message: denied },
      ]);
      expect([r.removed, r.added]).toEqual([[], []]);
      // The directory's own lstat works: its mode change is real and reported.
      expect(r.modified).toEqual([{ ...first.current.get("closed")!, mode: 0 }]);
      expect(r.current).toEqual(new Map([...first.current, ["closed", r.modified[0]!]]));
    },
  );

  test("ignored paths are neither descended into nor reported, and drop out without a removal", async () => {
    const root = await tempDir();
    await put(root, "keep.txt", "k");
    await put(root, "old.log", "tracked before the rule");
    const first = await scan(root);
    await put(root, ".weftignore", "build/\n*.log\n");
    await put(root, "build/out.js", "x");
    if (posix) execFileSync("mkfifo", [join(root, "build", "pipe")]); // would be an error if seen
    await put(root, "new.log", "n");
    await put(root, ".weft-tmp-0123456789abcdef", "half a download");
    await put(root, ".DS_Store", "junk");
    const r = await scan(root, first.current);
    expect(paths(r.added)).toEqual([".weftignore"]);
    expect([r.removed, r.errors, r.moved]).toEqual([[], [], []]);
    expect([...r.current.keys()].sort()).toEqual([".weftignore", "keep.txt"]);
  });

  test.skipIf(process.platform !== "linux")(
    "names that cannot be synced portably are errors; NFD is recorded as NFC",
    async () => {
      const root = await tempDir();
      await put(root, "back\\slash.txt", "1");
      await put(root, "bell\u0007.txt", "2");
      await writeFile(Buffer.concat([Buffer.from(`${root}/bad`), Buffer.from([0xff])]), "3");
      await put(root, "caf\u00e9", "nfc");
      await put(root, "cafe\u0301", "nfd twin");
      await put(root, "e\u0301tude.txt", "nfd only");
      const r = await scan(root);
      expect(paths(r.added)).toEqual(["caf\u00e9", "\u00e9tude.txt"]);
      expect(r.added[1]!.hash).not.toBeNull(); // read through its on-disk (NFD) name
      expect(r.errors.map((e) => [e.path, e.message.split(",")[0]])).toEqual([
        ["back\\slash.txt", "the name contains '\\'"],
        ["bad\\xff", "the name is not valid UTF-8"],
        ["bell\u0007.txt", "the name contains a control character"],
        [
          "caf\u00e9",
          "another name in this directory has the same Unicode NFC form; only the first is synced",
        ],
      ]);
    },
  );
});

describe("the scan as a whole", () => {
  test("a missing root or a root that is a file rejects: nothing is reported removed", async () => {
    const root = await tempDir();
    await put(root, "f", "x");
    const prev = new Map([
      [
        "a",
        {
          path: "a",
          kind: "file",
          size: 1,
          mtimeMs: 1,
          ino: 1,
          mode: 0o644,
          hash: "0".repeat(64),
        } as const,
      ],
    ]);
    await expect(scan(join(root, "missing"), prev)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      scanFolder({ root: join(root, "f"), ignore: IgnoreRules.parse(""), previous: prev }),
    ).rejects.toMatchObject({ code: "NOT_A_DIRECTORY" });
  });

  test.skipIf(!posix)("a root that cannot be listed rejects with STORAGE", async () => {
    const root = await tempDir();
    await put(root, "f", "x");
    const first = await scan(root);
    await chmod(root, 0);
    await expect(
      withUserPermissions([root], () => scan(root, first.current)),
    ).rejects.toMatchObject({ code: "STORAGE" });
  });

  test("an abort signal stops the scan with its reason", async () => {
    const root = await tempDir();
    await put(root, "big.bin", bytes(4, 3 * 1024 * 1024));
    const before = new AbortController();
    before.abort(new Error("stop"));
    await expect(scan(root, new Map(), { signal: before.signal })).rejects.toThrow("stop");
    const during = new AbortController();
    const r = scan(root, new Map(), {
      signal: during.signal,
      onProgress: () => during.abort(new Error("stop while hashing")),
    });
    await expect(r).rejects.toThrow("stop while hashing");
  });

  test("bad chunking options fail up front with INVALID_OPTIONS", async () => {
    const root = await tempDir();
    await expect(
      scan(root, new Map(), { chunking: { minSize: 4096, avgSize: 1024, maxSize: 2048 } }),
    ).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });
});

describe("the hash is the Replica's contentHash", () => {
  test.each([
    ["default chunking", undefined],
    ["small chunks (many per file)", SMALL],
  ])("with %s", async (_name, chunking) => {
    await ready();
    const folderId = newFolderId();
    const keyring = new FolderKeyring(folderId);
    keyring.add(0, generateFolderKey());
    const replica = await Replica.open({
      identity: generateDeviceIdentity(),
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      ...(chunking ? { chunking } : {}),
    });
    cleanups.push(() => replica.close());
    const root = await tempDir();
    const files: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["small.txt", new TextEncoder().encode("hello weft")],
      ["multi.bin", bytes(5, 300_000)],
    ];
    for (const [name, data] of files) {
      await put(root, name, data);
      await replica.writeFile(name, data);
    }
    const r = await scan(root, new Map(), chunking ? { chunking } : {});
    for (const [name] of files) {
      const expected = replica.stat(name)?.contentHash;
      expect(expected).toMatch(/^[0-9a-f]{64}$/);
      expect(r.current.get(name)?.hash, name).toBe(expected);
      expect((await hashFile(join(root, name), chunking)).hash, name).toBe(expected);
    }
  });
});
