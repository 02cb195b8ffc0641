// `weft sync` left running as a service: other commands work through its control socket (same
// answers as when they run themselves), it logs JSON lines to WEFT_HOME/logs, rotated, with no
// secret and no file name unless asked, and `weft status` tells "not running" from "offline".
import type { ChildProcess } from "node:child_process";
import { readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  killHard,
  makeDevice,
  shareFolder,
  startRelayProcess,
  waitFor,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
const daemons: ChildProcess[] = [];
/** What each daemon printed on stdout (JSON lines: stdout is not a terminal here). */
const stdoutOf = new Map<ChildProcess, string>();

interface FolderJson {
  folderId: string;
  connection: string;
  connectionSince: number | null;
  lastError: { message: string; time: number } | null;
  nextRetryAt: number | null;
  errors: unknown[];
}
interface StatusJson {
  daemon: number | null;
  running: boolean;
  folders: FolderJson[];
}

const contentIs = (path: string, text: string) =>
  readFile(path, "utf8").then(
    (t) => t === text,
    () => false,
  );

function startDaemon(device: Device, args: string[] = [], env: Record<string, string> = {}) {
  const child = device.spawn(["sync", "--rescan", "30", ...args], env);
  daemons.push(child);
  let out = "";
  stdoutOf.set(child, out);
  child.stdout!.on("data", (d: Buffer) => stdoutOf.set(child, (out += d.toString())));
  child.stderr!.resume();
  return child;
}

async function status(device: Device): Promise<StatusJson> {
  const r = await device.run(["status", "--json"]);
  return (r.json ?? {}) as unknown as StatusJson;
}

/** Waits until `device`'s daemon `child` answers `weft status` and is online. */
async function online(device: Device, child: ChildProcess): Promise<void> {
  await waitFor(
    async () => {
      const s = await status(device);
      return s.daemon === child.pid && s.folders[0]?.connection === "online";
    },
    30_000,
    `${device.name}'s daemon online`,
  );
}

/** Every line of every log file of `device` (oldest file first), parsed. */
async function logLines(device: Device): Promise<Record<string, unknown>[]> {
  const dir = join(device.home, "logs");
  const names = (await readdir(dir)).sort((a, b) => rank(b) - rank(a));
  const lines: Record<string, unknown>[] = [];
  for (const name of names)
    for (const line of (await readFile(join(dir, name), "utf8")).split("\n"))
      if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
  return lines;
}
const rank = (name: string) => (name === "weft.log" ? 0 : Number(name.split(".").pop()));

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await shareFolder(ana, ben);
}, 60_000);

afterAll(async () => {
  await Promise.all(daemons.map(killHard));
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
});

describe("weft sync as a service", () => {
  test("with no daemon, weft status says weft sync is not running (not offline)", async () => {
    const r = await ana.run(["status"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/weft sync is not running; never synced on this device/);
    const s = await status(ana);
    expect(s).toMatchObject({ daemon: null, running: false });
    expect(s.folders[0]).toMatchObject({ connection: "stopped", connectionSince: null });
  }, 30_000);

  test("history, restore, conflicts and sync --once go through the running daemon", async () => {
    const a = startDaemon(ana, [], { WEFT_LOG_MAX_BYTES: "512", WEFT_LOG_FILES: "50" });
    const b = startDaemon(ben, ["--log-names"]);
    await online(ana, a);
    await online(ben, b);
    const text = await ana.run(["status"]);
    expect(text.stdout).toMatch(/weft sync is running \(pid \d+\)/);
    expect(text.stdout).toMatch(/online since \d\d:\d\d:\d\d \(\d+ s ago\)/);

    const notes = join(ana.folder, "notes.txt");
    await writeFile(notes, "first\n");
    await waitFor(() => contentIs(join(ben.folder, "notes.txt"), "first\n"), 30_000, "v1 on ben");
    await writeFile(notes, "second\n");
    await waitFor(() => contentIs(join(ben.folder, "notes.txt"), "second\n"), 30_000, "v2 on ben");

    const once = await ana.ok(["sync", "--once", "--timeout", "30"]);
    expect((once["folders"] as FolderJson[])[0]).toMatchObject({ connection: "online" });
    const history = await ana.ok(["history", notes]);
    expect(history).toMatchObject({ path: "notes.txt", deleted: false });
    expect((history["versions"] as unknown[]).length).toBeGreaterThanOrEqual(1);
    expect(await ana.ok(["conflicts"])).toEqual({ conflicts: [] });

    const restored = await ana.ok(["restore", notes, "--version", "1"]);
    expect(restored).toMatchObject({ path: "notes.txt", sent: true });
    expect(await readFile(notes, "utf8")).toBe("first\n");
    await waitFor(
      () => contentIs(join(ben.folder, "notes.txt"), "first\n"),
      30_000,
      "the restored version on ben",
    );
    const restoredText = await ana.run(["restore", notes, "--version", "1"]);
    expect(restoredText.stdout).toMatch(/restored notes.txt to version 1 and sent it/);

    // The daemon's answers are the ones the commands give when they run themselves.
    const viaDaemon = await ben.ok(["history", join(ben.folder, "notes.txt")]);
    b.kill("SIGTERM");
    await new Promise((resolve) => b.once("exit", resolve));
    expect(await ben.ok(["history", join(ben.folder, "notes.txt")])).toEqual(viaDaemon);
    await expect(stat(join(ben.home, "sync.sock"))).rejects.toThrow(); // removed on exit
  }, 150_000);

  test("the log: JSON lines in WEFT_HOME/logs and on stdout, rotated, no secret, names only when asked", async () => {
    const a = daemons[0]!;
    await waitFor(
      async () => (await logLines(ana)).some((l) => l["msg"] === "upload batch"),
      10_000,
      "an upload batch line",
    );
    const lines = await logLines(ana);
    expect(lines[0]).toMatchObject({ msg: "weft sync started" });
    expect(lines[0]!["version"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(lines.some((l) => l["msg"] === "connected")).toBe(true);
    const batch = lines.find((l) => l["msg"] === "upload batch")!;
    expect([typeof batch["files"], typeof batch["bytes"]]).toEqual(["number", "number"]);
    // Rotation at WEFT_LOG_MAX_BYTES: several files, none past the limit by more than a line.
    const files = await readdir(join(ana.home, "logs"));
    expect(files).toContain("weft.log.1");
    for (const f of files)
      expect((await stat(join(ana.home, "logs", f))).size).toBeLessThan(512 + 2048);
    // stdout is not a terminal: the same JSON lines there.
    expect(stdoutOf.get(a)).toMatch(/"msg":"connected"/);

    const all = await Promise.all(
      [ana, ben].map(async (d) => ({
        d,
        text: (await readdir(join(d.home, "logs")))
          .map((f) => join(d.home, "logs", f))
          .map((p) => readFile(p, "utf8")),
      })),
    );
    const anaLog = (await Promise.all(all[0]!.text)).join("");
    const benLog = (await Promise.all(all[1]!.text)).join("");
    expect(anaLog).not.toMatch(/notes/); // no --log-names
    expect(benLog).toMatch(/"path":"notes.txt"/); // --log-names
    for (const { d } of all) {
      const log = (await Promise.all(all.find((x) => x.d === d)!.text)).join("");
      const accounts = JSON.parse(await readFile(join(d.home, "accounts.json"), "utf8")) as {
        refreshToken: string;
        accessToken?: string;
      }[];
      for (const secret of [
        d.env.WEFT_PASSWORD!,
        ...accounts.flatMap((x) => [x.refreshToken, x.accessToken ?? x.refreshToken]),
      ])
        expect(log.includes(secret)).toBe(false);
    }
  }, 30_000);

  test("with the relay down, weft status says offline since when, the last problem and the next try", async () => {
    const a = daemons[0]!;
    await relay.stop();
    await waitFor(
      async () => {
        const f = (await status(ana)).folders[0];
        return f?.connection !== "online" && f?.lastError !== null && f?.nextRetryAt !== null;
      },
      30_000,
      "ana offline with a reason and a next try",
    );
    const s = await status(ana);
    expect(s).toMatchObject({ daemon: a.pid, running: true });
    const text = (await ana.run(["status"])).stdout;
    expect(text).toMatch(/(offline|connecting) since \d\d:\d\d:\d\d/);
    expect(text).toMatch(/last problem \d\d:\d\d:\d\d \(.*\): the relay refused the connection/);
    expect(text).toMatch(/next try \d\d:\d\d:\d\d \((in \d+ s|now|\d+ s ago)\)/);
    await waitFor(
      async () =>
        (await logLines(ana)).some(
          (l) =>
            (l["msg"] === "disconnected" || l["msg"] === "could not connect") &&
            typeof l["nextRetryAt"] === "string",
        ),
      10_000,
      "a disconnect line with the next try",
    );

    // A daemon killed hard leaves its socket behind: not taken for a running one, and replaced.
    await killHard(a);
    expect((await ana.run(["status"])).stdout).toMatch(/weft sync is not running/);
    const again = startDaemon(ana);
    await waitFor(
      async () => (await status(ana)).daemon === again.pid,
      30_000,
      "the new daemon on the old socket's place",
    );
  }, 120_000);
});
