#!/usr/bin/env node
// bench:cli — how long `weft --help` and `weft --version` take to start, against `node -e 0` in
// the same run: the goal is a median at most 3× node's (the command modules, which load
// libsodium, Automerge, Yjs and SQLite, are loaded only by the command that needs them).
// Runs are interleaved (node, help, version, node, …) so that a machine's load falls on all
// three alike; each is a fresh process, timed from spawn to exit.
// Runs against the built packages (`npm run build` first). Writes bench/results/cli-start.json.
//
//   npm run bench:cli [-- --runs N] [-- --quick]   (--quick: 5 runs; --no-save: print only)
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { machineInfo } from "./lib/machine.mjs";
import { flags, goal, load, saveResult } from "./lib/run.mjs";
import { median, round } from "./lib/stats.mjs";

const f = flags();
const quick = f.has("--quick");
const RUNS = f.num("--runs", quick ? 5 : 31);
const weft = fileURLToPath(new URL("../packages/node-agent/bin/weft.js", import.meta.url));

const cases = {
  node: ["-e", "0"],
  help: [weft, "--help"],
  version: [weft, "--version"],
};

function once(args) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const loadBefore = load();
const samples = { node: [], help: [], version: [] };
once(cases.help); // warms the file cache
for (let i = 0; i < RUNS; i++)
  for (const [name, args] of Object.entries(cases)) samples[name].push(once(args));

const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(median(v))]));
const helpRatio = round(med.help / med.node, 2);
const versionRatio = round(med.version / med.node, 2);
saveResult("cli-start", quick, {
  bench: "cli-start",
  date: new Date().toISOString(),
  machine: machineInfo(),
  load: { before: loadBefore, after: load() },
  runs: RUNS,
  medianMs: med,
  ratioToNode: { help: helpRatio, version: versionRatio },
  goals: [
    goal("weft --help median vs node -e 0", helpRatio, "≤", 3),
    goal("weft --version median vs node -e 0", versionRatio, "≤", 3),
  ],
});
