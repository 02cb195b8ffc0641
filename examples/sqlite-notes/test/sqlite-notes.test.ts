// The sqlite-notes example survives restarts: each step is a new process on the same data
// directory. A restart with no network has the notes written before it (from the SQLite files,
// not the relay) and stores an edit; the next restart, online, sends that edit; a second device
// joining afterwards gets everything. Runs the built packages (`npm test` builds first).
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";

const script = fileURLToPath(new URL("../index.mjs", import.meta.url));
let relay: RelayProcess;
let dir: string;

beforeAll(async () => {
  relay = await startRelayProcess();
  dir = await mkdtemp(join(tmpdir(), "weft-sqlite-notes-"));
}, 30_000);
afterAll(async () => {
  await relay?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the example as its own process; resolves with its stdout lines (rejects on failure). */
async function run(args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [script, ...args], {
    env: { ...process.env, WEFT_PASSWORD: "correct-horse-sqlite", ...env },
    timeout: 60_000,
  });
  return stdout.trim().split("\n");
}

test("notes written before a restart are there after it, offline, and sync on", async () => {
  const ana = join(dir, "ana");
  const first = await run([
    "--data",
    ana,
    "--relay",
    relay.url,
    "--user",
    "ana",
    "--add",
    "one",
    "--invite",
  ]);
  expect(first.slice(0, 2)).toEqual(["stored: []", 'notes: ["one"]']);
  const invite = first.find((l) => l.startsWith("invite: "))?.slice("invite: ".length);
  expect(invite).toMatch(/^weft1:/);
  expect((await stat(join(ana, "replica.sqlite"))).mode & 0o777).toBe(0o600);

  // A restart with no network: the notes come from the files alone; the edit is kept to send.
  await relay.stop();
  const offline = await run(["--data", ana, "--offline", "--add", "two"]);
  expect(offline).toEqual(['stored: ["one"]', 'notes: ["one","two"]']);
  await relay.start();

  // A restart online sends what the offline run stored.
  const online = await run(["--data", ana]);
  expect(online).toEqual(['stored: ["one","two"]', 'notes: ["one","two"]']);

  // A device joining now gets both: the offline edit went through the relay.
  const ben = await run(["--data", join(dir, "ben"), "--relay", relay.url, "--user", "ben"], {
    WEFT_INVITE: invite!,
  });
  expect(ben).toEqual(["stored: []", 'notes: ["one","two"]']);
});
