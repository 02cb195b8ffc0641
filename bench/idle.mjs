#!/usr/bin/env node
// bench:idle — what a `weft sync` daemon left running costs while nothing changes (laptops run
// it all day): a folder of N small files (100 per directory) is synced once, then the daemon
// starts with its default settings; after it settles (`--settle` s), its CPU time is read from
// /proc over `--minutes` of idling. Goal: ≤ 0.1% of a core on average at 100,000 files.
// Runs against the built packages (`npm run build` first). Writes bench/results/idle.json.
//
//   npm run bench:idle [-- --files N] [-- --minutes M] [-- --settle S] [-- --quick] [-- --no-save]
//   (--quick: 500 files, 12 s, a CI smoke test that writes results/idle.quick.json)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { machineInfo } from "./lib/machine.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { round } from "./lib/stats.mjs";
import { shareFolder, startRelay } from "./lib/weft.mjs";

const f = flags();
const quick = f.has("--quick");
const FILES = f.num("--files", quick ? 500 : 100_000);
const MINUTES = f.num("--minutes", quick ? 0.2 : 5);
const SETTLE_S = f.num("--settle", quick ? 3 : 30);
const log = logger("idle");

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const loadBefore = load();
const dir = scratchDir("idle", FILES * 8192);
let relay;
try {
  relay = await startRelay({ dir });
  const { agents } = await shareFolder({ dir, relayUrl: relay.url, names: ["a"] });
  const [a] = agents;
  for (let d = 0; d < Math.ceil(FILES / 100); d++) {
    mkdirSync(join(a.folder, `d${d}`));
    for (let i = 0; i < 100 && d * 100 + i < FILES; i++)
      writeFileSync(join(a.folder, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`);
  }
  log(`${FILES} files written; first sync`);
  await a.syncOnce();
  const daemon = await a.startDaemon();
  log(`daemon started; settling ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000);
  const before = cpuSeconds(daemon.pid);
  const t0 = performance.now();
  log(`idling ${MINUTES} min`);
  await sleep(MINUTES * 60_000);
  const seconds = (performance.now() - t0) / 1000;
  const used = cpuSeconds(daemon.pid) - before;
  const usage = await a.stopDaemon();
  const percentOfCore = round((100 * used) / seconds, 3);
  saveResult("idle", quick, {
    bench: "idle",
    command: `npm run bench:idle -- ${process.argv
      .slice(2)
      .filter((a) => a !== "--no-save")
      .join(" ")}`.trim(),
    date: new Date().toISOString(),
    machine: machineInfo(),
    load: { before: loadBefore, after: load() },
    files: FILES,
    idleSeconds: round(seconds, 1),
    cpuSeconds: round(used, 2),
    cpuSecondsPerMinute: round((used * 60) / seconds, 3),
    percentOfCore,
    daemonPeakRssMiB: round((usage?.peakRssBytes ?? 0) / 1024 / 1024, 1),
    goals: [goal(`idle daemon at ${FILES} files, % of a core`, percentOfCore, "≤", 0.1)],
  });
} finally {
  await relay?.stop().catch(() => undefined);
  removeDir(dir);
}
