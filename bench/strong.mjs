#!/usr/bin/env node
// bench:strong — what a strong-consistency folder costs against an eventual one when many files
// are saved at once: per repeat, two fresh devices each make a folder of --files small files
// (one eventual, one `--consistency strong`) and time their first `weft sync --once`, which
// uploads them all. A strong folder's changes wait for the relay's head check; the ratio of the
// two times (medians of --repeats, same run, same load) is the figure. Also counted: the log
// entries the relay appended for each (its /metrics), which shows how many changes went up
// together in one envelope.
//
//   npm run bench:strong [-- --files N] [-- --repeats N] [-- --quick]
//   (--quick: 100 files, 1 repeat, results/strong.quick.json; --no-save: print only)
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { median, round } from "./lib/stats.mjs";
import { makeAgent, parseMetrics, startRelay } from "./lib/weft.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = f.has("--quick");
const FILES = Math.round(f.num("--files", quick ? 100 : 500));
const REPEATS = Math.round(f.num("--repeats", quick ? 1 : 3));
const log = logger("strong");

/** Writes FILES small files under `folder` (10 directories), dated 10 s back (stable). */
function fill(folder) {
  const past = new Date(Date.now() - 10_000);
  for (let i = 0; i < FILES; i++) {
    const dir = join(folder, `d${i % 10}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `f${i}.txt`);
    writeFileSync(path, `file ${i}\n`.repeat(1 + (i % 7)));
    utimesSync(path, past, past);
  }
}

const dir = scratchDir("strong", 64 * 1024 * 1024);
const loadBefore = load();
let result;
try {
  const relay = await startRelay({ dir, flags: ["--rate-limit", "0"] });
  const appended = async () =>
    parseMetrics(await (await globalThis.fetch(`${relay.url}/metrics`)).text())[
      "weft_relay_envelopes_appended_total"
    ] ?? NaN;
  const runs = { eventual: [], strong: [] };
  for (let r = 0; r < REPEATS; r++) {
    for (const mode of ["eventual", "strong"]) {
      const agent = makeAgent({ dir, name: `${mode}-${r}`, relayUrl: relay.url });
      await agent.enroll();
      fill(agent.folder);
      await agent.weft([
        "folder",
        "create",
        agent.folder,
        ...(mode === "strong" ? ["--consistency", "strong"] : []),
      ]);
      const before = await appended();
      const run = await agent.syncOnce();
      const entries = (await appended()) - before;
      runs[mode].push({ ms: round(run.ms), cpuSeconds: round(run.cpuSeconds, 2), entries });
      log(`  ${mode} #${r + 1}: ${JSON.stringify(runs[mode].at(-1))}`);
    }
  }
  await relay.stop();
  const med = (mode, key) => median(runs[mode].map((x) => x[key]));
  const ratio = round(med("strong", "ms") / med("eventual", "ms"), 2);
  result = {
    benchmark: "strong",
    command: ["npm run bench:strong", ...(argv.length ? ["--", ...argv] : [])].join(" "),
    quick,
    files: FILES,
    repeats: REPEATS,
    measuredHow:
      "wall time of each device's first `weft sync --once` (all files new); log entries: the relay's weft_relay_envelopes_appended_total before and after",
    runs,
    eventualMs: round(med("eventual", "ms")),
    strongMs: round(med("strong", "ms")),
    strongOverEventual: ratio,
    strongLogEntries: med("strong", "entries"),
    eventualLogEntries: med("eventual", "entries"),
    goals: [goal("first upload: strong time / eventual time", ratio, "≤", 2)],
    loadAverage: [loadBefore, load()],
    machine: machineInfo(null),
  };
} finally {
  await killAll();
  removeDir(dir);
}
saveResult("strong", quick, result);
