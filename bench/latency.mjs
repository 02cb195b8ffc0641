#!/usr/bin/env node
// bench:latency — how long a small edit on device A takes to show on device B, with the sync
// already running: 200 edits on A, one every 100–200 ms (seeded), each giving unique content
// to one of a few files or creating a new file; B's copy is checked on every inotify event in
// its folder and every 5 ms besides, and the edit's latency is from just before A's write to
// the moment B holds exactly that content. p50/p99 for:
//   weft               two `weft sync` daemons and a relay on 127.0.0.1;
//   syncthing          two instances at default settings (fsWatcherDelayS 10);
//   syncthing-delay1   the same with the watcher delay at its minimum (fsWatcherDelayS 1).
// A file is edited again only once B has its last edit, so every edit is observable. After the
// edits, B's tree must equal A's (names, sizes, SHA-256) or the run fails.
// Runs against the built packages (`npm run build` first). Writes bench/results/latency.json.
//
//   npm run bench:latency [-- --edits N] [-- --tools weft,syncthing,syncthing-delay1] [-- --quick]
//     [-- --files N]  (N more small files in the folder, 100 per directory, that nobody edits:
//                      what an edit costs in a large folder)
//     [-- --settle S]  (seconds of quiet after the starting tree arrived, before the first edit;
//                      default 0, or 30 with --files: the first sync's tail is not an edit's cost)
//   (--quick: 8 edits per tool; a CI smoke test that writes results/latency.quick.json;
//    --no-save: print the JSON, write nothing)
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, watch, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clearInterval, setInterval } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";
import { prng } from "./lib/dataset.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { round } from "./lib/stats.mjs";
import {
  SETTINGS as SYNCTHING_SETTINGS,
  syncthingPair,
  syncthingVersion,
} from "./lib/syncthing.mjs";
import { arrivalTracker, assertTree, digestTree } from "./lib/tree.mjs";
import { runningPair } from "./lib/weft.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = f.has("--quick");
const EDITS = f.num("--edits", quick ? 8 : 200);
const TOOLS = f.str("--tools", "weft,syncthing,syncthing-delay1").split(",");
const HOT_FILES = 5;
const EXTRA_FILES = f.num("--files", 0);
const SETTLE_MS = f.num("--settle", EXTRA_FILES > 0 ? 30 : 0) * 1000;
/** An edit not on B after this long fails the run (Syncthing's default delay is 10 s). */
const EDIT_TIMEOUT_MS = 60_000;
const log = logger("latency");

/** Nearest-rank percentile of a sorted list. */
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];

/** The starting tree: a few small files both sides hold before the clock starts. */
function seedFiles(dir) {
  mkdirSync(join(dir, "hot"), { recursive: true });
  mkdirSync(join(dir, "new"), { recursive: true });
  for (let i = 0; i < HOT_FILES; i++)
    writeFileSync(join(dir, "hot", `f${i}.txt`), `file ${i}, before the edits\n`);
  writeFileSync(join(dir, "new", "seed.txt"), "so that B has the directory\n");
  for (let i = 0; i < EXTRA_FILES; i++) {
    const sub = join(dir, "bulk", `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), `bulk file ${i}\n`);
  }
}

/** Waits until B holds the starting tree. */
async function seeded(a, b) {
  const expected = digestTree(a);
  const left = arrivalTracker(expected, b);
  const end = Date.now() + 120_000 + EXTRA_FILES * 20;
  while (left() > 0) {
    if (Date.now() > end) throw new Error("the starting files did not reach B in time");
    await sleep(50);
  }
}

/**
 * Makes the edits on A and times each one until B holds its content. Resolves with the
 * latencies in ms, in edit order.
 */
async function editAndTime(a, b, seed) {
  const rand = prng(`latency:${seed}`);
  const pending = new Map(); // relative path → { content, t0, i }
  const latencies = new Array(EDITS);
  let seenCount = 0;
  const check = () => {
    const now = performance.now();
    for (const [path, e] of pending) {
      let got;
      try {
        got = readFileSync(join(b, path), "latin1");
      } catch {
        continue;
      }
      if (got === e.content) {
        latencies[e.i] = now - e.t0;
        pending.delete(path);
        seenCount++;
      }
    }
  };
  const watchers = ["hot", "new"].map((d) => watch(join(b, d), check));
  const poll = setInterval(check, 5);
  let created = 0;
  try {
    for (let i = 0; i < EDITS; i++) {
      // One of the few files that has no edit in flight, else (or one time in four) a new file.
      const free = Array.from({ length: HOT_FILES }, (_, k) => `hot/f${k}.txt`).filter(
        (p) => !pending.has(p),
      );
      const path =
        free.length > 0 && rand() < 0.75
          ? free[Math.floor(rand() * free.length)]
          : `new/e${created++}.txt`;
      const content = `edit ${i} ${randomBytes(12).toString("hex")}\n`;
      pending.set(path, { content, t0: performance.now(), i });
      writeFileSync(join(a, path), content);
      await sleep(100 + rand() * 100);
    }
    const end = Date.now() + EDIT_TIMEOUT_MS;
    while (pending.size > 0) {
      if (Date.now() > end)
        throw new Error(
          `${pending.size} edits not on B after ${EDIT_TIMEOUT_MS} ms: ${[...pending.keys()].slice(0, 5).join(", ")}`,
        );
      await sleep(20);
    }
  } finally {
    clearInterval(poll);
    for (const w of watchers) w.close();
  }
  if (seenCount !== EDITS) throw new Error(`saw ${seenCount} of ${EDITS} edits`);
  return latencies;
}

const runners = {
  async weft(dir) {
    const pair = await runningPair({ dir });
    try {
      seedFiles(pair.a.folder);
      await seeded(pair.a.folder, pair.b.folder);
      await Promise.all([pair.a.waitOnline(), pair.b.waitOnline()]);
      await sleep(SETTLE_MS);
      const latencies = await editAndTime(pair.a.folder, pair.b.folder, "weft");
      await sleep(1500); // let both sides settle before comparing whole trees
      assertTree(digestTree(pair.a.folder), pair.b.folder, "weft: B after the edits");
      const usage = await pair.stop();
      return { latencies, usage: { sender: usage.a, receiver: usage.b, relay: usage.relay } };
    } finally {
      await pair.stop();
    }
  },
  syncthing: (dir) => syncthingRun(dir, 10),
  "syncthing-delay1": (dir) => syncthingRun(dir, 1),
};

async function syncthingRun(dir, watcherDelayS) {
  const folders = [join(dir, "a"), join(dir, "b")];
  for (const d of folders) mkdirSync(d);
  seedFiles(folders[0]);
  const pair = await syncthingPair({ dir, folders, watcherDelayS });
  try {
    await pair.start();
    await pair.waitConnected();
    await seeded(folders[0], folders[1]);
    await pair.waitIdle(pair.a, HOT_FILES + 1);
    await pair.waitIdle(pair.b, HOT_FILES + 1);
    await sleep(SETTLE_MS);
    const latencies = await editAndTime(folders[0], folders[1], `syncthing-${watcherDelayS}`);
    await sleep(1500);
    assertTree(digestTree(folders[0]), folders[1], `syncthing (delay ${watcherDelayS}): B`);
    const [sender, receiver] = await pair.stop();
    return { latencies, usage: { sender, receiver }, watcherDelayS };
  } finally {
    await pair.stop();
  }
}

log(`${EDITS} edits per tool; tools ${TOOLS.join(", ")}`);
const loadBefore = load();
const tools = {};
try {
  for (const tool of TOOLS) {
    if (!runners[tool]) throw new Error(`unknown tool ${tool}`);
    const dir = scratchDir(`latency-${tool}`, 64 * 1024 * 1024);
    try {
      log(`${tool} …`);
      const r = await runners[tool](dir);
      const sorted = [...r.latencies].sort((x, y) => x - y);
      tools[tool] = {
        edits: EDITS,
        p50Ms: round(pct(sorted, 0.5)),
        p90Ms: round(pct(sorted, 0.9)),
        p99Ms: round(pct(sorted, 0.99)),
        maxMs: round(sorted.at(-1)),
        minMs: round(sorted[0]),
        meanMs: round(sorted.reduce((s, x) => s + x, 0) / sorted.length),
        ...(r.watcherDelayS ? { fsWatcherDelayS: r.watcherDelayS } : {}),
        cpuSeconds: Object.fromEntries(
          Object.entries(r.usage).map(([k, v]) => [k, v?.cpuSeconds ?? null]),
        ),
        samplesMs: r.latencies.map((x) => round(x)),
      };
      log(`  ${tool}: p50 ${tools[tool].p50Ms} ms, p99 ${tools[tool].p99Ms} ms`);
    } finally {
      removeDir(dir);
    }
  }
} catch (error) {
  killAll();
  throw error;
}

const w = tools.weft;
const result = {
  benchmark: "latency",
  command: ["npm run bench:latency", ...(argv.length ? ["--", ...argv] : [])].join(" "),
  quick,
  edits: EDITS,
  extraFiles: EXTRA_FILES,
  settleSeconds: SETTLE_MS / 1000,
  method:
    "edits 100–200 ms apart (seeded) on A; latency = A's write → B holds that exact content (inotify on B's directories + 5 ms polling)",
  tools,
  goals: w
    ? [
        goal("Weft p50 latency (ms)", w.p50Ms, "≤", 50),
        goal("Weft p99 latency (ms)", w.p99Ms, "≤", 200),
      ]
    : [],
  settings: {
    weft: { relayFlags: ["--rate-limit", "0"], daemon: "weft sync (defaults)" },
    syncthing: { version: syncthingVersion(), ...SYNCTHING_SETTINGS },
  },
  loadAverage: [loadBefore, load()],
  machine: machineInfo(null),
};
saveResult("latency", quick, result);
