// `weft sync` daemons killed with SIGKILL at seeded random points (scan, seal, upload, download,
// writing the file), restarted at once, while a workload edits, renames and deletes on both
// devices: after each kill both folders converge (same names and bytes, no temp file, nothing
// partial), and at the end every version written is current, a conflict or in history.
//
// The loop is bench/crash-loop.mjs (`npm run bench:crash`, 100 kills and more); this runs a few
// seeds of it, small. A failure prints the seed and the command that replays it.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const script = fileURLToPath(new URL("../../../bench/crash-loop.mjs", import.meta.url));
// One kill per seed, each seed's kill aimed at another phase: seal (9), upload (14), download
// (1), writing the file (2), scan (7).
const SEEDS = [9, 14, 1, 2, 7];
const KILLS_PER_SEED = 1;

/** Runs the crash loop to its end; its exit code, the JSON it printed and its log. */
function crashLoop(args: string[]): Promise<{ code: number | null; json: unknown; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let log = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      let json: unknown;
      try {
        json = JSON.parse(out);
      } catch {
        json = undefined;
      }
      resolve({ code, json, log });
    });
  });
}

describe("weft sync killed at random points", () => {
  test(`seeds ${SEEDS.join(", ")}: converges after every kill, no version lost`, async () => {
    const { code, json, log } = await crashLoop([
      "--seeds",
      SEEDS.join(","),
      "--kills",
      String(KILLS_PER_SEED),
      "--quick",
      "--no-save",
    ]);
    // The log names the seed, where each kill landed and, on failure, the replay command.
    if (code !== 0) console.error(log);
    expect(code).toBe(0);
    const r = json as { kills: number; checks: number; divergences: number; landedIn: object };
    expect(r.divergences).toBe(0);
    expect(r.kills).toBe(SEEDS.length * KILLS_PER_SEED);
    expect(r.checks).toBe(r.kills);
    console.log(`kills landed in ${JSON.stringify(r.landedIn)}`);
  }, 150_000);
});
