// The multi-device scenarios, end to end: real `weft` processes (one WEFT_HOME each)
// and a real relay process, each device brought to a steady state with `weft sync --once PATH`.
//
// - Three devices (ana and a second device of ana's account, ben of another account) on one
//   folder: files created on each arrive on all; a directory of 500 files moved to another
//   parent ends moved everywhere; offline edits on two devices, a concurrent edit of one file
//   and an edit against a delete converge to identical trees with both contents kept.
// - 5,000 small files in nested directories arrive whole (the time of both syncs is printed).
// - Ignore rules (defaults, `.weftignore`), symlinks skipped with a warning, the executable bit.
// - Names that clash on a case-insensitive file system: reported, nothing overwritten.
//
// Files are written with `writeSettled` (dated a few seconds back): the scanner leaves a file
// modified within the last second for a later pass, and waiting that second out would be slow.
//
// Homes, folders and the relay's data live under `scratchRoot()` (a tmpfs when there is one:
// fsync-bound stores would otherwise make the 5,000-file sync take minutes; WEFT_TEST_TMP picks
// another place). The three top-level groups run at the same time, each with its own devices
// (one `weft sync` per home at a time), their steps in order: each top-level
// `describe.concurrent` holds `test.sequential`s.
import { createHash, randomBytes } from "node:crypto";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import { join } from "node:path";
import { forEachLimited } from "@weft/core";
import { afterAll, beforeAll, describe, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  enrollAs,
  makeDevice,
  scratchRoot,
  startRelayProcess,
  writeSettled,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };

/** One folder of a `weft sync --once --json` or `weft status --json` answer. */
interface FolderJson {
  folderId: string;
  path: string;
  files: number;
  conflicts: number;
  errors: { message: string; path?: string }[];
  clashes: string[][];
  unportable: { path: string; problem: string }[];
}

let relay: RelayProcess;
const devices: TestDevice[] = [];

/** A device with its home and folders under the scratch root, disposed after the file. */
async function device(name: string): Promise<TestDevice> {
  const d = await makeDevice(name, await mkdtemp(join(scratchRoot(), `weft-${name}-`)));
  devices.push(d);
  return d;
}

/** A folder path of `device` (a sibling of its default folder), one per scenario. */
const folderOf = (device: Device, name: string): string => join(device.folder, "..", name);

/** `weft sync --once PATH` on `device`; the folder's entry of the JSON it printed. */
async function syncOnce(device: Device, path: string): Promise<FolderJson & { ms: number }> {
  const out = await device.ok(["sync", "--once", path]);
  const folder = (out["folders"] as FolderJson[])[0]!;
  return { ...folder, ms: out["ms"] as number };
}

/** `weft sync --once` on each device in turn, `rounds` times. */
async function syncRounds(devices: [Device, string][], rounds: number): Promise<void> {
  for (let r = 0; r < rounds; r++)
    for (const [device, path] of devices) await syncOnce(device, path);
}

/**
 * Creates a folder at `ownerPath` on `owner` and has each guest join it (as editor) at its
 * path; returns the folder id.
 */
async function share(
  owner: Device,
  ownerPath: string,
  guests: [Device, string][],
): Promise<string> {
  const { folderId } = (await owner.ok(["folder", "create", ownerPath])) as { folderId: string };
  for (const [guest, path] of guests) {
    const { invite } = await owner.ok(["folder", "invite", folderId, "--role", "editor"]);
    await guest.ok(["folder", "join", "-", path], { input: `${invite as string}\n` });
  }
  return folderId;
}

/** Every file under `dir` with its text, sorted by path (directories only by their files). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await listing(dir))
    if (e.kind === "file") out[e.path] = await readFile(join(dir, e.path), "utf8");
  return out;
}

/** Files, directories and symlinks under `dir`, sorted by path. */
async function listing(
  dir: string,
): Promise<{ path: string; kind: "file" | "dir" | "symlink"; mode: number }[]> {
  const out: { path: string; kind: "file" | "dir" | "symlink"; mode: number }[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      const s = await lstat(join(dir, path));
      const kind = s.isSymbolicLink() ? "symlink" : s.isDirectory() ? "dir" : "file";
      out.push({ path, kind, mode: s.mode & 0o777 });
      if (kind === "dir") await walk(path);
    }
  };
  await walk("");
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A digest of everything under `dir`: the sorted listing of every directory and of every file
 * with its permission bits and the SHA-256 of its bytes.
 */
async function treeDigest(dir: string): Promise<{ files: number; dirs: number; digest: string }> {
  const lines: string[] = [];
  let files = 0;
  let dirs = 0;
  for (const e of await listing(dir)) {
    if (e.kind === "dir") {
      dirs++;
      lines.push(`${e.path}/`);
    } else if (e.kind === "file") {
      files++;
      const hash = createHash("sha256")
        .update(await readFile(join(dir, e.path)))
        .digest("hex");
      lines.push(`${e.path}\t${e.mode.toString(8)}\t${hash}`);
    } else lines.push(`${e.path}@`);
  }
  return { files, dirs, digest: createHash("sha256").update(lines.join("\n")).digest("hex") };
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  relay = await startRelayProcess({}, await mkdtemp(join(scratchRoot(), "weft-relay-")));
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.dispose()));
  await relay?.dispose();
});

describe.concurrent("three devices (two of ana's account, one of ben's) on one folder", () => {
  let ana: TestDevice;
  let ben: TestDevice;
  let ana2: TestDevice;
  let paths: { ana: string; ben: string; ana2: string };
  let all: [Device, string][];
  const MOVED_FILES = 500;

  beforeAll(async () => {
    [ana, ben, ana2] = await Promise.all([device("ana"), device("ben"), device("ana2")]);
    await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
    await enrollAs(ana2, relay.url, "ana"); // a second device of ana's account
    paths = {
      ana: folderOf(ana, "team"),
      ben: folderOf(ben, "team"),
      ana2: folderOf(ana2, "team"),
    };
    all = [
      [ana, paths.ana],
      [ben, paths.ben],
      [ana2, paths.ana2],
    ];
  }, 60_000);

  test.sequential(
    "files created on each device arrive on all three",
    async ({ expect }) => {
      await mkdir(paths.ana, { recursive: true });
      // A directory of 500 files that the next test moves.
      await mkdir(join(paths.ana, "projects/alpha/sub"), { recursive: true });
      await forEachLimited(
        Array.from({ length: MOVED_FILES }, (_, i) => i),
        32,
        { onFailure: "stop" },
        (i) =>
          writeSettled(
            join(paths.ana, `projects/alpha/${i % 2 ? "sub/" : ""}file-${i}.txt`),
            `alpha file ${i}\n${"x".repeat(i)}\n`,
          ),
      );
      await writeSettled(join(paths.ana, "shared.txt"), "the shared text, version 0\n");
      await mkdir(join(paths.ana, "notes"));
      await writeSettled(join(paths.ana, "notes/ben.txt"), "ben's notes, version 0\n");
      await writeSettled(join(paths.ana, "notes/ana2.txt"), "ana2's notes, version 0\n");
      await writeSettled(join(paths.ana, "notes/doomed.txt"), "deleted on ana, edited on ben\n");
      await share(ana, paths.ana, [
        [ben, paths.ben],
        [ana2, paths.ana2],
      ]);
      await writeSettled(join(paths.ana, "from-ana.txt"), "created on ana\n");
      await writeSettled(join(paths.ben, "from-ben.txt"), "created on ben\n");
      await mkdir(join(paths.ana2, "from-ana2"), { recursive: true });
      await writeSettled(join(paths.ana2, "from-ana2/hello.txt"), "created on ana2\n");

      // Round one sends each device's files; ana and ben then fetch what came after them.
      await syncRounds(all, 1);
      await syncOnce(ana, paths.ana);
      await syncOnce(ben, paths.ben);

      const a = await tree(paths.ana);
      expect(Object.keys(a)).toHaveLength(MOVED_FILES + 7);
      expect(a["from-ana.txt"]).toBe("created on ana\n");
      expect(a["from-ben.txt"]).toBe("created on ben\n");
      expect(a["from-ana2/hello.txt"]).toBe("created on ana2\n");
      const digest = await treeDigest(paths.ana);
      expect(await treeDigest(paths.ben)).toEqual(digest);
      expect(await treeDigest(paths.ana2)).toEqual(digest);
    },
    90_000,
  );

  test.sequential(
    "a directory of 500 files moved to another parent on one device ends moved on the others",
    async ({ expect }) => {
      await mkdir(join(paths.ana, "archive/2024"), { recursive: true });
      await rename(join(paths.ana, "projects/alpha"), join(paths.ana, "archive/2024/alpha"));
      await syncOnce(ana, paths.ana);
      await syncOnce(ben, paths.ben);
      await syncOnce(ana2, paths.ana2);

      for (const [d, path] of all) {
        const t = await tree(path);
        const moved = Object.keys(t).filter((p) => p.startsWith("archive/2024/alpha/"));
        expect(moved, d.name).toHaveLength(MOVED_FILES);
        expect(t["archive/2024/alpha/sub/file-499.txt"], d.name).toBe(
          `alpha file 499\n${"x".repeat(499)}\n`,
        );
        expect(await exists(join(path, "projects/alpha")), d.name).toBe(false);
        expect(await exists(join(path, "projects")), d.name).toBe(true); // only alpha moved
      }
      const digest = await treeDigest(paths.ana);
      expect(await treeDigest(paths.ben)).toEqual(digest);
      expect(await treeDigest(paths.ana2)).toEqual(digest);
    },
    60_000,
  );

  test.sequential(
    "offline edits on two devices, a concurrent edit and an edit against a delete converge",
    async ({ expect }) => {
      // Nobody syncs while these happen: each device is, in effect, offline.
      await writeSettled(join(paths.ben, "notes/ben.txt"), "ben's notes, edited offline\n");
      await writeSettled(join(paths.ana2, "notes/ana2.txt"), "ana2's notes, edited offline\n");
      await writeSettled(join(paths.ben, "shared.txt"), "ben's concurrent edit\n");
      await writeSettled(join(paths.ana2, "shared.txt"), "ana2's concurrent edit\n");
      await rm(join(paths.ana, "notes/doomed.txt"));
      await writeSettled(join(paths.ben, "notes/doomed.txt"), "ben's edit survives ana's delete\n");

      // Back online one after the other; conflict copies written to disk are new local files,
      // sent by a later pass, so it takes two rounds.
      await syncRounds(all, 2);

      const a = await tree(paths.ana);
      expect(await tree(paths.ben)).toEqual(a);
      expect(await tree(paths.ana2)).toEqual(a);
      const digest = await treeDigest(paths.ana);
      expect(await treeDigest(paths.ben)).toEqual(digest);
      expect(await treeDigest(paths.ana2)).toEqual(digest);

      expect(a["notes/ben.txt"]).toBe("ben's notes, edited offline\n");
      expect(a["notes/ana2.txt"]).toBe("ana2's notes, edited offline\n");
      expect(a["notes/doomed.txt"]).toBe("ben's edit survives ana's delete\n");
      // One winner at shared.txt, the other content in a conflict copy beside it.
      const BEN = "ben's concurrent edit\n";
      const ANA2 = "ana2's concurrent edit\n";
      expect([BEN, ANA2]).toContain(a["shared.txt"]);
      const copies = Object.keys(a).filter(
        (p) => p !== "shared.txt" && /^shared.*conflict/.test(p),
      );
      expect(copies.map((p) => a[p])).toContain(a["shared.txt"] === BEN ? ANA2 : BEN);
      expect(Object.values(a)).not.toContain("the shared text, version 0\n");

      const listed = await Promise.all(
        all.map(async ([d, path]) => {
          const { conflicts } = (await d.ok(["conflicts", path])) as {
            conflicts: { path: string; copies: { path: string }[] }[];
          };
          return conflicts;
        }),
      );
      for (const conflicts of listed) {
        const shared = conflicts.find((c) => c.path === "shared.txt");
        expect(shared, JSON.stringify(conflicts)).toBeDefined();
        expect(copies).toEqual(expect.arrayContaining(shared!.copies.map((c) => c.path)));
        expect(shared!.copies.length).toBeGreaterThanOrEqual(1);
      }
    },
    90_000,
  );
});

describe.concurrent("5,000 small files", () => {
  test.sequential(
    "created on one device, they arrive whole on another",
    async ({ expect }) => {
      const [src, dst] = await Promise.all([device("bulk-src"), device("bulk-dst")]);
      await Promise.all([enroll(src, relay.url), enroll(dst, relay.url)]);
      const from = folderOf(src, "many");
      const to = folderOf(dst, "many");
      await mkdir(from, { recursive: true });
      await share(src, from, [[dst, to]]);
      const COUNT = 5000;
      // 100 bytes to 4 KiB each, one to three directories deep.
      const files = Array.from({ length: COUNT }, (_, i) => {
        const dirs = [`d${i % 10}`, `s${Math.floor(i / 10) % 20}`, `t${i % 7}`].slice(
          0,
          1 + (i % 3),
        );
        return { path: `${dirs.join("/")}/f${i}.dat`, size: 100 + ((i * 7919) % 3997) };
      });
      await forEachLimited(files, 64, { onFailure: "stop" }, async ({ path, size }) => {
        await mkdir(join(from, path, ".."), { recursive: true });
        await writeSettled(join(from, path), randomBytes(size));
      });

      const t0 = Date.now();
      const up = await syncOnce(src, from);
      const t1 = Date.now();
      const down = await syncOnce(dst, to);
      const t2 = Date.now();
      console.log(
        `5,000 files (${files.reduce((n, f) => n + f.size, 0)} bytes) under ${scratchRoot()}, ` +
          `other scenarios running alongside: sender sync --once ${t1 - t0} ms ` +
          `(${up.ms} ms in the sync), receiver sync --once ${t2 - t1} ms (${down.ms} ms in the sync)`,
      );

      expect(up.files).toBe(COUNT);
      expect(down.files).toBe(COUNT);
      const want = await treeDigest(from);
      expect(want.files).toBe(COUNT);
      expect(await treeDigest(to)).toEqual(want);
    },
    200_000,
  );
});

describe.concurrent("ignore rules, symlinks, the executable bit and name clashes", () => {
  let ivy: TestDevice;
  let jon: TestDevice;

  beforeAll(async () => {
    [ivy, jon] = await Promise.all([device("ivy"), device("jon")]);
    await Promise.all([enroll(ivy, relay.url), enroll(jon, relay.url)]);
  }, 60_000);

  test.sequential(
    "ignored paths stay home, .weftignore syncs, symlinks are skipped with a warning, +x survives",
    async ({ expect }) => {
      const a = folderOf(ivy, "ignores");
      const b = folderOf(jon, "ignores");
      await mkdir(join(a, "sub"), { recursive: true });
      await mkdir(join(a, "build/deep"), { recursive: true });
      await mkdir(join(a, "bin"), { recursive: true });
      await writeSettled(join(a, ".weftignore"), "# built things\nbuild/\n*.log\n");
      await writeSettled(join(a, "keep.txt"), "kept\n");
      await writeSettled(join(a, ".DS_Store"), "mac junk");
      await writeSettled(join(a, "sub/Thumbs.db"), "windows junk");
      await writeSettled(join(a, "sub/desktop.ini"), "windows junk");
      await writeSettled(join(a, "sub/.notes.txt.swp"), "vim swap");
      await writeSettled(join(a, "sub/~$report.docx"), "office lock");
      await writeSettled(join(a, "sub/.weft-tmp-123"), "a download in progress");
      await writeSettled(join(a, "sub/real.txt"), "real\n");
      await writeSettled(join(a, "build/deep/out.bin"), "built");
      await writeSettled(join(a, "debug.log"), "log");
      await writeSettled(join(a, "sub/trace.log"), "log");
      await writeSettled(join(a, "bin/run.sh"), "#!/bin/sh\necho run\n");
      await chmod(join(a, "bin/run.sh"), 0o755);
      await writeSettled(join(a, "bin/later.sh"), "#!/bin/sh\necho later\n");
      await chmod(join(a, "bin/later.sh"), 0o644);
      await symlink("keep.txt", join(a, "link-to-keep"));
      await symlink("sub", join(a, "link-to-dir"));
      await share(ivy, a, [[jon, b]]);

      await syncOnce(ivy, a);
      await syncOnce(jon, b);

      expect(await tree(b)).toEqual({
        ".weftignore": "# built things\nbuild/\n*.log\n",
        "bin/later.sh": "#!/bin/sh\necho later\n",
        "bin/run.sh": "#!/bin/sh\necho run\n",
        "keep.txt": "kept\n",
        "sub/real.txt": "real\n",
      });
      expect(await exists(join(b, "build"))).toBe(false);
      expect(await exists(join(b, "link-to-keep"))).toBe(false);
      expect(await exists(join(b, "link-to-dir"))).toBe(false);
      expect((await stat(join(b, "bin/run.sh"))).mode & 0o777).toBe(0o755);
      expect((await stat(join(b, "bin/later.sh"))).mode & 0o777).toBe(0o644);
      // Nothing ignored was touched where it was made; the symlinks are still there.
      expect((await lstat(join(a, "link-to-keep"))).isSymbolicLink()).toBe(true);
      expect(await readFile(join(a, ".DS_Store"), "utf8")).toBe("mac junk");
      expect(await readFile(join(a, "build/deep/out.bin"), "utf8")).toBe("built");

      // `weft status` after the sync says why the symlinks are missing elsewhere.
      const { folders } = (await ivy.ok(["status", a])) as { folders: FolderJson[] };
      const warnings = folders[0]!.errors;
      for (const link of ["link-to-keep", "link-to-dir"])
        expect(
          warnings.some((w) => w.path === link && /symbolic link/i.test(w.message)),
          JSON.stringify(warnings),
        ).toBe(true);

      // The rules hold on the receiving side too (.weftignore arrived); +x set later arrives.
      await writeSettled(join(b, "jon.log"), "jon's log");
      await writeSettled(join(b, "Thumbs.db"), "jon's junk");
      await writeSettled(join(b, "from-jon.txt"), "jon\n");
      await chmod(join(a, "bin/later.sh"), 0o755);
      await syncOnce(jon, b);
      await syncOnce(ivy, a);
      expect(await readFile(join(a, "from-jon.txt"), "utf8")).toBe("jon\n");
      expect(await exists(join(a, "jon.log"))).toBe(false);
      expect(await exists(join(a, "Thumbs.db"))).toBe(false);
      await syncOnce(jon, b);
      expect((await stat(join(b, "bin/later.sh"))).mode & 0o777).toBe(0o755);
    },
    60_000,
  );

  // Case clash: ivy creates Readme.md, jon (before syncing) README.md. On Linux both names
  // can exist; the agent's rule is to report the clash and not write the later name. Ivy also
  // creates two names Windows cannot hold, which sync between devices that can hold them.
  const IVY = "ivy's Readme\n";
  const JON = "jon's README, different\n";
  let clash: { a: string; b: string; ivyRun: FolderJson; jonRun: FolderJson } | undefined;

  test.sequential(
    "Readme.md against README.md: the sync reports the clash and nothing is overwritten",
    async ({ expect }) => {
      const a = folderOf(ivy, "clash");
      const b = folderOf(jon, "clash");
      await mkdir(a, { recursive: true });
      await share(ivy, a, [[jon, b]]);
      await writeSettled(join(a, "Readme.md"), IVY);
      await writeSettled(join(a, "aux.txt"), "a reserved device name on Windows\n");
      await writeSettled(join(a, "why?.txt"), "a character Windows does not allow\n");
      await writeSettled(join(b, "README.md"), JON);

      await syncOnce(ivy, a);
      const jonRun = await syncOnce(jon, b);
      const ivyRun = await syncOnce(ivy, a);
      clash = { a, b, ivyRun, jonRun };

      for (const run of [jonRun, ivyRun]) {
        expect(run.clashes).toEqual([["README.md", "Readme.md"]]);
        expect(run.files).toBe(4); // both clashing names are in the folder
      }
      // Jon's own file is not overwritten, and the later name is not written next to it.
      expect(await tree(b)).toEqual({
        "README.md": JON,
        "aux.txt": "a reserved device name on Windows\n",
        "why?.txt": "a character Windows does not allow\n",
      });
    },
    60_000,
  );

  // Each device keeps the name it already has on disk; the other name is not written there.
  test.sequential(
    "each device keeps its own file of the clash; the other name is not written over it",
    async ({ expect }) => {
      expect(clash).toBeDefined();
      const ivyTree = await tree(clash!.a);
      expect(ivyTree["Readme.md"]).toBe(IVY);
      expect(ivyTree["README.md"]).toBeUndefined();
    },
    10_000,
  );

  // Without a running daemon, `weft status` shows what the last sync found.
  test.sequential(
    "weft status --json after the sync reports the clash",
    async ({ expect }) => {
      expect(clash).toBeDefined();
      const { folders } = (await ivy.ok(["status", clash!.a])) as { folders: FolderJson[] };
      expect(folders[0]!.clashes).toEqual([["README.md", "Readme.md"]]);
    },
    15_000,
  );

  // Names a Windows device could not hold still sync between devices that can, with a warning.
  test.sequential(
    "names Windows cannot hold (aux.txt, why?.txt) are reported",
    ({ expect }) => {
      expect(clash).toBeDefined();
      const reported = JSON.stringify([clash!.ivyRun, clash!.jonRun].map((r) => r.unportable));
      expect(reported).toMatch(/aux\.txt/);
      expect(reported).toMatch(/why\?\.txt/);
    },
    5_000,
  );
});
