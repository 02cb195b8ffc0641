// Selective sync through the CLI against a relay process (issue 20): ben syncs only `docs` of
// ana's folder (`weft folder select --only docs`). Edits inside arrive, edits outside never do
// and their content is never downloaded; ben's own files outside the selection are neither
// uploaded nor touched; files moved by ana out of and into the selection leave and arrive;
// selecting the rest later (told to a running `weft sync`) fetches it, and nothing is lost on
// either side. One relay and one pair of devices for the whole file: the tests run in order.
import type { ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { mkdir, readFile, readdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  firstFolder,
  makeDevice,
  shareFolder,
  startDaemon,
  startRelayProcess,
  stopProcess,
  waitFor,
  writeRandomFile,
  writeSettled,
} from "@weft/test-support";

type TestDevice = Device & { dispose(): Promise<void> };
let relay: RelayProcess;
let ana: TestDevice;
let ben: TestDevice;
let daemon: ChildProcess | undefined;
let folderId: string;

const KiB = 1024;
const read = (dev: Device, rel: string) =>
  readFile(join(dev.folder, rel), "utf8").catch(() => undefined);
const exists = (dev: Device, rel: string) =>
  stat(join(dev.folder, rel)).then(
    () => true,
    () => false,
  );
/** `weft sync --once` as `dev`; the bytes it downloaded. */
async function syncOnce(dev: Device): Promise<number> {
  return firstFolder(await dev.ok(["sync", "--once"])).bytesDownloaded;
}
/** Writes `text` at `rel` in `dev`'s folder (parents made), dated back so the next scan takes it. */
async function put(dev: Device, rel: string, text: string): Promise<void> {
  await mkdir(join(dev.folder, rel, ".."), { recursive: true });
  await writeSettled(join(dev.folder, rel), text);
}

/** The inotify watches process `pid` holds (Linux: /proc/PID/fdinfo of its inotify fds). */
function inotifyWatches(pid: number): number {
  let watches = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target !== "anon_inode:inotify") continue;
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    watches += info.split("\n").filter((l) => l.startsWith("inotify wd:")).length;
  }
  return watches;
}

beforeAll(async () => {
  relay = await startRelayProcess();
  [ana, ben] = await Promise.all([makeDevice("ana"), makeDevice("ben")]);
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await put(ana, "docs/a.txt", "a v1\n");
  await put(ana, "docs/moves-out.txt", "leaves the selection\n");
  await put(ana, "docs/edited.txt", "edited on ben, moved out by ana\n");
  await put(ana, "other/b.txt", "b v1\n");
  await put(ana, "more/c.txt", "c\n");
  await put(ana, "other/moves-in.txt", "joins the selection\n");
  await writeRandomFile(join(ana.folder, "other/big.bin"), 256 * KiB);
  folderId = await shareFolder(ana, ben);
  // Chosen before ben's first sync: the rest of the folder is never downloaded at all.
  const chosen = await ben.ok(["folder", "select", ben.folder, "--only", "docs"]);
  expect(chosen).toMatchObject({ selection: { only: ["docs"] } });
  await syncOnce(ana);
}, 60_000);

afterAll(async () => {
  await stopProcess(daemon);
  await Promise.all([ana, ben].map((d) => d?.dispose()));
  await relay?.dispose();
});

describe("weft folder select --only docs on ben", () => {
  test("only the selected directory is written, and the rest is not downloaded", async () => {
    const downloaded = await syncOnce(ben);
    expect(await read(ben, "docs/a.txt")).toBe("a v1\n");
    expect(await readdir(ben.folder)).toEqual(["docs"]);
    // The 256 KiB outside the selection would dominate: what came is the index and docs.
    expect(downloaded).toBeLessThan(64 * KiB);
    // Stored on this device, shown by the command without flags and in the status.
    const shown = await ben.ok(["folder", "select", ben.folder]);
    expect(shown).toMatchObject({ selection: { only: ["docs"] } });
    expect(await readdir(ana.folder)).toEqual(["docs", "more", "other"]);
  });

  test("edits inside arrive; edits outside never do; ben's own files outside stay here and stay unsent", async () => {
    await put(ana, "docs/a.txt", "a v2\n");
    await put(ana, "other/b.txt", "b v2 from ana\n");
    await writeRandomFile(join(ana.folder, "other/new.bin"), 256 * KiB);
    await syncOnce(ana);
    await put(ben, "other/b.txt", "b from ben, outside his selection\n");
    await put(ben, "other/mine.txt", "ben's own\n");
    const downloaded = await syncOnce(ben);
    expect(await read(ben, "docs/a.txt")).toBe("a v2\n");
    expect(downloaded).toBeLessThan(64 * KiB);
    expect(await exists(ben, "other/new.bin")).toBe(false);
    expect(await read(ben, "other/b.txt")).toBe("b from ben, outside his selection\n");
    expect(await read(ben, "other/mine.txt")).toBe("ben's own\n");
    await syncOnce(ana);
    expect(await read(ana, "other/b.txt")).toBe("b v2 from ana\n");
    expect(await exists(ana, "other/mine.txt")).toBe(false);
  });

  test("weft ls and weft get read a file left out of the selection, fetching only that file", async () => {
    const listed = await ben.ok(["ls", folderId, "other"]);
    const entries = listed["entries"] as { path: string; size: number }[];
    expect(entries.map((e) => e.path)).toContain("other/new.bin");
    expect(entries.find((e) => e.path === "other/new.bin")?.size).toBe(256 * KiB);
    const out = join(ben.home, "new.bin");
    const got = await ben.ok(["get", folderId, "other/new.bin", out]);
    expect(await readFile(out)).toEqual(await readFile(join(ana.folder, "other/new.bin")));
    // That file's chunks, not the rest of what lies outside the selection (big.bin).
    expect(got["bytesDownloaded"]).toBeGreaterThanOrEqual(256 * KiB);
    expect(got["bytesDownloaded"]).toBeLessThan(320 * KiB);
    // Fetched for the command, not synced: the folder on ben's disk is as it was.
    expect(await exists(ben, "other/new.bin")).toBe(false);
    const write = await ben.run(["put", folderId, "other/x.txt", "-", "--json"], { input: "x" });
    expect(write.status).toBe(2);
    expect(write.stderr).toMatch(/synced on this device/);
  });

  test("files ana moves out of the selection leave ben's disk, those moved in arrive; an edit follows its file", async () => {
    await put(ben, "docs/edited.txt", "ben's edit\n");
    await rename(join(ana.folder, "docs/moves-out.txt"), join(ana.folder, "other/moves-out.txt"));
    await rename(join(ana.folder, "other/moves-in.txt"), join(ana.folder, "docs/moves-in.txt"));
    await rename(join(ana.folder, "docs/edited.txt"), join(ana.folder, "other/edited.txt"));
    await syncOnce(ana);
    await syncOnce(ben);
    expect(await read(ben, "docs/moves-in.txt")).toBe("joins the selection\n");
    expect(await exists(ben, "docs/moves-out.txt")).toBe(false);
    expect(await exists(ben, "other/moves-out.txt")).toBe(false);
    // Ben's edit was sent before ana's move reached him: it went with the file, out of docs.
    expect(await exists(ben, "docs/edited.txt")).toBe(false);
    await syncOnce(ana);
    expect(await read(ana, "other/edited.txt")).toBe("ben's edit\n");
    expect(await read(ana, "other/moves-out.txt")).toBe("leaves the selection\n");
    expect(await read(ana, "docs/moves-in.txt")).toBe("joins the selection\n");
    // Ben's files outside his selection are still there, untouched.
    expect(await read(ben, "other/mine.txt")).toBe("ben's own\n");
  });

  test("a file ben moves out of his selection moves on ana's disk, not deleted; one he moves in is sent", async () => {
    await put(ben, "other/ben-new.txt", "ben's, moved into docs\n");
    await syncOnce(ben);
    await rename(join(ben.folder, "docs/a.txt"), join(ben.folder, "other/a-moved.txt"));
    await rename(join(ben.folder, "other/ben-new.txt"), join(ben.folder, "docs/ben-new.txt"));
    await syncOnce(ben);
    await syncOnce(ana);
    expect(await read(ana, "other/a-moved.txt")).toBe("a v2\n");
    expect(await exists(ana, "docs/a.txt")).toBe(false);
    expect(await read(ana, "docs/ben-new.txt")).toBe("ben's, moved into docs\n");
    // Ben's disk stays as he left it: the moved file outside his selection, nothing put back.
    await syncOnce(ben);
    expect(await read(ben, "other/a-moved.txt")).toBe("a v2\n");
    expect(await exists(ben, "docs/a.txt")).toBe(false);
  });

  test("a directory selected while weft sync runs is fetched at once, and watched: an edit there is sent; what is outside is not watched", async () => {
    // Ben's own directories outside his selection: weft sync leaves them alone, unwatched.
    for (let i = 0; i < 30; i++)
      await mkdir(join(ben.folder, "local-only", `d${i}`), { recursive: true });
    await put(ben, "later/a.txt", "ben's, sent once later/ is selected\n");
    daemon = await startDaemon(ben, ["--rescan", "600"]);
    // Through the daemon: the folder's version of other/b.txt (ana's), not ben's unsent one.
    const piped = await ben.run(["get", folderId, "other/b.txt", "-"]);
    expect(piped.status, piped.stderr).toBe(0);
    expect(piped.stdout).toBe("b v2 from ana\n");
    const listed = await ben.ok(["ls", folderId, "more"]);
    expect(listed["entries"]).toMatchObject([{ path: "more/c.txt", kind: "file" }]);
    const more = await ben.ok(["folder", "select", ben.folder, "--only", "docs", "more", "later"]);
    expect(more).toMatchObject({ selection: { only: ["docs", "later", "more"] } });
    await waitFor(async () => (await read(ben, "more/c.txt")) === "c\n", 20_000, "more/ on ben");
    const onAna = (rel: string, text: string) =>
      waitFor(
        async () => (await syncOnce(ana), (await read(ana, rel)) === text),
        20_000,
        `${rel} on ana`,
      );
    await onAna("later/a.txt", "ben's, sent once later/ is selected\n");
    // No rescan for 600 s: the watcher, watching anew with the new selection, sees these.
    await put(ben, "more/c.txt", "c from ben\n");
    await put(ben, "later/b.txt", "in a directory that was here, unwatched, before\n");
    await onAna("more/c.txt", "c from ben\n");
    await onAna("later/b.txt", "in a directory that was here, unwatched, before\n");
    // The root, docs, more, later; not the 30 directories of local-only.
    expect(inotifyWatches(daemon.pid!)).toBeLessThan(15);
    expect(await stopProcess(daemon, "SIGTERM")).toBe(0);
    expect(await exists(ben, "other/new.bin")).toBe(false);
  });

  test("selecting the rest fetches it; ben's files there go out, and his b.txt is kept beside ana's", async () => {
    const all = await ben.ok(["folder", "select", ben.folder, "--all"]);
    expect(all).toMatchObject({ selection: {} });
    // The kept local version is reported as a problem left (the exit status says so).
    const synced = await ben.run(["sync", "--once", "--json"]);
    expect(synced.status).toBe(1);
    expect(JSON.stringify(synced.json)).toContain(
      "other/b.txt: changed here and on another device",
    );
    expect(await exists(ben, "other/new.bin")).toBe(true);
    expect(await read(ben, "other/moves-out.txt")).toBe("leaves the selection\n");
    expect(await read(ben, "other/edited.txt")).toBe("ben's edit\n");
    // Ben's b.txt (written while other/ was outside his selection) stays; ana's is beside it,
    // not silently replaced by his.
    expect(await read(ben, "other/b.txt")).toBe("b from ben, outside his selection\n");
    const copies = (await readdir(join(ben.folder, "other"))).filter((n) => n.includes("conflict"));
    expect(copies).toHaveLength(1);
    expect(await read(ben, `other/${copies[0]!}`)).toBe("b v2 from ana\n");
    // Now in the selection, ben's own files go out: ana gets them, and both versions of b.txt.
    await syncOnce(ana);
    expect(await read(ana, "other/mine.txt")).toBe("ben's own\n");
    const anaCopies = (await readdir(join(ana.folder, "other"))).filter((n) =>
      n.includes("conflict"),
    );
    const versions = await Promise.all(["b.txt", ...anaCopies].map((n) => read(ana, `other/${n}`)));
    expect(versions.sort()).toEqual(["b from ben, outside his selection\n", "b v2 from ana\n"]);
  });
});
