// `weft relay backup` while a device writes through the relay, then `weft relay restore` into a
// new data directory and a relay started on it at the same address: a device that was away
// resumes from it, gets every file the backup holds, whole, and sends its own change; one that
// synced past the backup is told the relay lost entries (recovering from that is not built).
// Along the way the writer's daemon is watched through its metrics (`--metrics-port`), as an
// operator would.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  type Device,
  type RelayProcess,
  enroll,
  makeDevice,
  shareFolder,
  startRelayProcess,
  waitFor,
} from "@weft/test-support";

let relay: RelayProcess;
let restored: RelayProcess | undefined;
let ana: Device & { dispose(): Promise<void> };
let ben: Device & { dispose(): Promise<void> };
let scratch: string;
const daemons: ChildProcess[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  ben = await makeDevice("ben");
  scratch = await mkdtemp(join(tmpdir(), "weft-backup-"));
  await Promise.all([enroll(ana, relay.url), enroll(ben, relay.url)]);
  await shareFolder(ana, ben);
}, 60_000);

afterAll(async () => {
  for (const d of daemons) if (d.exitCode === null) d.kill("SIGKILL");
  await ana?.dispose();
  await ben?.dispose();
  await relay?.dispose();
  await restored?.dispose();
  await rm(scratch, { recursive: true, force: true });
});

/** The URL a daemon started with --metrics-port prints. */
function metricsUrlOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`weft sync exited with ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const url = /^metrics: (http:\S+)$/.exec(line)?.[1];
      if (url) resolve(url);
    });
  });
}

/** One series of a daemon's /metrics (its only folder), e.g. `weft_agent_files`. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`));
  if (line === undefined) throw new Error(`no ${name} in ${url}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Whether the daemon has sent everything and holds `files` files. */
async function settled(url: string, files: number): Promise<boolean> {
  return (
    (await metric(url, "weft_agent_files")) === files &&
    (await metric(url, "weft_agent_pending_changes")) === 0 &&
    (await metric(url, "weft_agent_pending_chunks")) === 0 &&
    (await metric(url, "weft_agent_connected")) === 1
  );
}

test("a backup taken while a device writes restores into a relay that devices resume from", async () => {
  const written = new Map<string, string>();
  const write = async (name: string): Promise<void> => {
    const text = `${name}: ${randomBytes(2000).toString("base64")}\n`;
    await writeFile(join(ana.folder, name), text);
    written.set(name, text);
  };
  for (let i = 0; i < 3; i++) await write(`before-${i}.txt`);
  const daemon = ana.spawn(["sync", "--rescan", "600", "--metrics-port", "0"]);
  daemons.push(daemon);
  const metrics = await metricsUrlOf(daemon);
  await waitFor(() => settled(metrics, 3), 60_000, "ana's first files on the relay");
  expect(await metric(metrics, "weft_agent_uploaded_bytes_total")).toBeGreaterThan(3 * 2000);

  // Ana keeps writing, each file sent before the next, until the backup is done.
  let backupDone = false;
  let n = 0;
  const writer = (async () => {
    while (!backupDone) {
      await write(`during-${n++}.txt`);
      await waitFor(() => settled(metrics, 3 + n), 60_000, `during-${n - 1}.txt sent`);
    }
  })();
  await waitFor(() => n >= 2, 60_000, "ana writing");
  const out = join(scratch, "backup");
  const backup = await ana.run(["relay", "backup", "--data", join(relay.dir, "data"), out]);
  backupDone = true;
  await writer;
  expect(backup.stderr).toBe("");
  expect(backup.status).toBe(0);
  expect(backup.stdout).toMatch(/^backed up .* 1 folders, \d+ chunks/);

  // One more after the backup: ana is now past what the backup holds.
  await write("after.txt");
  await waitFor(() => settled(metrics, 3 + n + 1), 60_000, "after.txt sent");

  // The relay is lost. Ben, away all along, writes a file of his own meanwhile.
  daemon.kill("SIGTERM");
  await new Promise((resolve) => daemon.once("exit", resolve));
  await relay.stop();
  await writeFile(join(ben.folder, "from-ben.txt"), "written while the relay was down\n");
  const restoredDir = join(scratch, "restored");
  const restore = await ana.run(["relay", "restore", out, "--data", join(restoredDir, "data")]);
  expect(restore.stderr).toBe("");
  expect(restore.status).toBe(0);
  restored = await startRelayProcess({}, restoredDir, { port: relay.port });
  // Ana, who synced past the backup, is told the relay lost entries (not yet repaired).
  const anaAgain = ana.spawn(["sync", "--rescan", "600", "--metrics-port", "0"]);
  daemons.push(anaAgain);
  const anaMetrics = await metricsUrlOf(anaAgain);

  const sync = await ben.run(["sync", "--once", "--timeout", "60", "--json"]);
  // With --json, stderr carries only progress lines.
  expect(sync.stderr.split("\n").filter((l) => l && !l.startsWith('{"progress"'))).toEqual([]);
  expect(sync.status).toBe(0);
  const got = (await readdir(ben.folder)).filter((name) => name !== "from-ben.txt");
  // Everything written before the backup began is in it, and whatever else it caught is whole.
  for (let i = 0; i < 3; i++) expect(got).toContain(`before-${i}.txt`);
  for (const name of got)
    expect(await readFile(join(ben.folder, name), "utf8")).toBe(written.get(name));

  // Ben's own change went up to the restored relay: appended to the log, its chunk stored.
  const relayMetrics = await (await fetch(`${restored.url}/metrics`)).text();
  const appended = /^weft_relay_envelopes_appended_total (\d+)$/m.exec(relayMetrics)?.[1];
  expect(Number(appended)).toBeGreaterThanOrEqual(1);
  const folders = (sync.json as { folders: { bytesUploaded: number; pendingOut: number }[] })
    .folders;
  expect(folders[0]!.bytesUploaded).toBeGreaterThan(0);
  expect(folders[0]!.pendingOut).toBe(0);

  await waitFor(
    async () => (await metric(anaMetrics, "weft_agent_problems")) > 0,
    60_000,
    "ana's problem",
  );
  expect((await ana.run(["status", "--json"])).stdout).toMatch(
    /the relay's log of this folder ends at entry \d+, but this device has applied up to \d+/,
  );
});
