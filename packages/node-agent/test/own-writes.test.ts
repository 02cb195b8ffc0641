// The daemon's filter for watcher events caused by its own writes: a placed file, the
// directories above it and the materializer's temp files are its own for two seconds, nothing
// else ever is; and within those seconds a file that no longer is what the agent wrote is
// someone else's change.
import { lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, expect, test, vi } from "vitest";
import { type KnownFile, OwnWrites } from "../src/sync/own-writes.js";

afterEach(() => {
  vi.useRealTimers();
});

test("a written path and its directories are the agent's own for two seconds; others never", () => {
  vi.useFakeTimers();
  const own = new OwnWrites();
  own.wrote("photos/2026/beach.jpg");
  for (const path of ["photos/2026/beach.jpg", "photos/2026", "photos"])
    expect(own.has(path)).toBe(true);
  expect(own.has("photos/2026/other.jpg")).toBe(false);
  expect(own.has("notes.txt")).toBe(false);
  expect(own.has("photos/.weft-tmp-0123456789abcdef")).toBe(true);
  expect(own.has("photos/.weft-tmp-not-ours")).toBe(false);
  vi.advanceTimersByTime(2001);
  expect(own.has("photos/2026/beach.jpg")).toBe(false); // a user's edit after that is seen
});

test("a file edited or removed just after the agent wrote it is a change of someone else's", async () => {
  const root = await mkdtemp(join(tmpdir(), "weft-own-"));
  try {
    const own = new OwnWrites();
    const known = new Map<string, KnownFile>();
    const place = async (path: string, text: string): Promise<void> => {
      own.wrote(path);
      await mkdir(join(root, dirname(path)), { recursive: true });
      await writeFile(join(root, path), text);
      const s = await lstat(join(root, path));
      known.set(path, { kind: "file", size: s.size, mtimeMs: s.mtimeMs, ino: s.ino });
    };
    const check = (paths: string[]) => own.othersChanged(root, paths, (p) => known.get(p));
    await place("docs/a.txt", "from the other device");
    expect(await check(["docs/a.txt", "docs", "docs/.weft-tmp-0123456789abcdef"])).toBe(false);
    // The person edits it at once (another size; same size with another mtime works too).
    await writeFile(join(root, "docs/a.txt"), "edited here, right after it arrived");
    expect(await check(["docs/a.txt"])).toBe(true);
    await place("docs/b.txt", "placed");
    await rm(join(root, "docs/b.txt"));
    expect(await check(["docs/b.txt"])).toBe(true);
    // Removed by the agent itself (its record gone with it): its own.
    known.delete("docs/b.txt");
    expect(await check(["docs/b.txt"])).toBe(false);
    expect(await check(["elsewhere.txt"])).toBe(true);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
