// The write policy in a strong-consistency folder: the tree's version of a file changed here
// since it was recorded is not written beside it as a conflict copy (as in an eventual folder):
// the local file is left exactly as it is, for the scan to record (and the relay to accept or
// refuse); paths of changes still queued are left alone (holdPaths).
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type MaterializePlan, applyPlan, holdPaths } from "../src/materialize/index.js";
import type { LocalFileState } from "../src/scan/index.js";
import type { DiskState } from "../src/state/index.js";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "weft-strong-apply-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** notes.txt saved here after this device recorded it, and the tree's newer version of it. */
async function changedHere(conflictCopies: boolean): Promise<number> {
  await writeFile(join(root, "notes.txt"), "mine, unsent\n");
  const s = await stat(join(root, "notes.txt"));
  const recorded: LocalFileState = {
    path: "notes.txt",
    kind: "file",
    size: 3,
    mtimeMs: Math.floor(s.mtimeMs) - 60_000,
    ino: s.ino,
    mode: 0o644,
    hash: "as recorded",
  };
  const records = new Map([[recorded.path, recorded]]);
  const disk = {
    get: (path: string) => records.get(path),
    set: (rec: LocalFileState) => records.set(rec.path, rec),
    delete: (path: string) => records.delete(path),
  } as unknown as DiskState;
  const plan: MaterializePlan = {
    clashes: [],
    unportable: [],
    stale: [],
    dirs: [],
    files: [
      {
        do: "write",
        path: "notes.txt",
        size: 7,
        contentHash: "theirs",
        mode: 0o644,
        mtimeMs: Date.now(),
        recorded,
        conflictCopy: "notes.sync-conflict-20260101-000000-ABCD.txt",
      },
    ],
  };
  async function* theirs(): AsyncGenerator<Uint8Array> {
    await Promise.resolve();
    yield new TextEncoder().encode("theirs\n");
  }
  return applyPlan(
    {
      root,
      disk,
      read: () => theirs(),
      ignores: () => false,
      writing: () => undefined,
      events: { emit: () => undefined },
      conflictCopies,
    },
    plan,
  );
}

describe("applyPlan in a strong folder", () => {
  test("a file changed here is left as it is, with no conflict copy beside it", async () => {
    expect(await changedHere(false)).toBe(0);
    expect(await readdir(root)).toEqual(["notes.txt"]);
    expect(await readFile(join(root, "notes.txt"), "utf8")).toBe("mine, unsent\n");
  });

  test("(an eventual folder, for contrast: the tree's version goes beside it)", async () => {
    await changedHere(true);
    expect((await readdir(root)).sort()).toEqual([
      "notes.sync-conflict-20260101-000000-ABCD.txt",
      "notes.txt",
    ]);
    expect(await readFile(join(root, "notes.txt"), "utf8")).toBe("mine, unsent\n");
  });
});

describe("holdPaths", () => {
  test("leaves out every action on a held path, under one, or above one; keeps the rest", () => {
    const rec = { kind: "file", size: 1, mtimeMs: 1, ino: 1, mode: 0o644, hash: "h" } as const;
    const plan: MaterializePlan = {
      clashes: [],
      unportable: [],
      stale: [
        { do: "remove-file", path: "moved/here.txt", recorded: { ...rec, path: "moved/here.txt" } },
        { do: "remove-dir", path: "moved" },
        { do: "remove-file", path: "gone.txt", recorded: { ...rec, path: "gone.txt" } },
      ],
      dirs: [{ do: "mkdir", path: "new" }],
      files: [
        { do: "chmod", path: "new/a.txt", mode: 0o600, recorded: { ...rec, path: "new/a.txt" } },
        { do: "chmod", path: "other.txt", mode: 0o600, recorded: { ...rec, path: "other.txt" } },
      ],
    };
    const held = holdPaths(plan, ["moved/here.txt", "new"]);
    expect(held.stale.map((a) => a.path)).toEqual(["gone.txt"]);
    expect(held.dirs).toEqual([]);
    expect(held.files.map((a) => a.path)).toEqual(["other.txt"]);
    expect(holdPaths(plan, [])).toBe(plan);
  });
});
