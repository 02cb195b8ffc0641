#!/usr/bin/env node
// bench:sync — time from "tree present on device A" to "identical tree on device B", on one
// machine over loopback, for what a user would pick instead of Weft:
//   weft       two `weft sync` daemons and a relay: the clock starts as both daemons start, A
//              holding the tree (not scanned yet) and B empty;
//   syncthing  two Syncthing instances (lib/syncthing.mjs): the clock starts as both start;
//   rsync      `rsync -a A/ rsync://127.0.0.1:PORT/mod/` into an rsync daemon;
//   cp         `cp -a A/. B` — the disk's ceiling.
// The same seeded dataset (lib/dataset.mjs; 1 GiB at scale 1) for each, tools alternating in
// order from repeat to repeat; each run in a fresh scratch directory under the OS temp dir,
// removed after. The clock stops when every file of B has its name and size (checked cheaply
// every 50 ms); then every file is hashed and the run fails loudly unless B equals A exactly.
// Runs against the built packages (`npm run build` first). Writes bench/results/sync.json.
//
//   npm run bench:sync [-- --scale S] [-- --repeats N] [-- --tools weft,syncthing,rsync,cp]
//                      [-- --timeout SECONDS] [-- --quick] [-- --sizes [1K,100K,10M,100M]]
//   (--quick: scale 0.01 (~11 MiB, 223 files), 1 repeat; a CI smoke test that writes
//    results/sync.quick.json and leaves sync.json alone; --no-save: print the JSON, write nothing)
//   --sizes: instead of the mixed tree, one tree per file size, each of about 100 MiB × scale
//   (at most 10,000 × scale files, at least one): how the cost per file and per byte compare
//   with Syncthing's. Writes results/sync-sizes.json.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { copyTree, rsyncPush, rsyncVersion, startRsyncDaemon } from "./lib/copy.mjs";
import { describe, planDataset, uniformClass, writeDataset } from "./lib/dataset.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { median, round } from "./lib/stats.mjs";
import {
  SETTINGS as SYNCTHING_SETTINGS,
  syncthingPair,
  syncthingVersion,
} from "./lib/syncthing.mjs";
import { arrivalTracker, assertTree, bytesUnder } from "./lib/tree.mjs";
import { shareFolder, startRelay } from "./lib/weft.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = f.has("--quick");
const SCALE = f.num("--scale", quick ? 0.01 : 1);
const REPEATS = f.num("--repeats", quick ? 1 : 3);
const TOOLS = f.str("--tools", "weft,syncthing,rsync,cp").split(",");
const RELAY_FLAGS = ["--rate-limit", "0"];
const log = logger("sync");
const MiB = 1024 * 1024;
for (const t of TOOLS)
  if (!["weft", "syncthing", "rsync", "cp"].includes(t)) throw new Error(`unknown tool ${t}`);

const SIZE_UNITS = { K: 1000, M: 1000 * 1000 };
/** `--sizes`: file sizes in bytes ("1K" is 1,000 bytes), or none for the mixed tree. */
const sizesFlag = f.str("--sizes", "");
const SIZES = f.has("--sizes")
  ? (!sizesFlag || sizesFlag.startsWith("--") ? "1K,100K,10M,100M" : sizesFlag)
      .split(",")
      .map((x) => {
        const m = /^(\d+)([KM]?)$/.exec(x.trim());
        if (!m) throw new Error(`--sizes takes sizes like 1K,100K,10M, not ${x}`);
        return Number(m[1]) * (SIZE_UNITS[m[2]] ?? 1);
      })
  : null;
const sizeDataset = (size) => ({
  scale: 1,
  classes: [
    uniformClass(
      size,
      Math.max(1, Math.min(Math.round(10_000 * SCALE), Math.round((100 * MiB * SCALE) / size))),
    ),
  ],
});
/** The dataset of a run: the mixed tree, or one file size. */
let datasetOptions = { scale: SCALE };
let plan = planDataset(datasetOptions);
/** Generous: Weft and Syncthing are far slower than the disk on small files. */
const timeoutMs = () => f.num("--timeout", 0) * 1000 || 120_000 + plan.bytes / 1024;
const mib = (bytes) => (bytes === null || bytes === undefined ? null : round(bytes / MiB));

/**
 * Polls until B has every file at its size; resolves with the ms since `t0`. `check()` runs
 * every poll and throws to give up early (a process that died).
 */
async function arrived(expected, dir, t0, what, progress = () => "", check = () => {}) {
  const left = arrivalTracker(expected, dir);
  let lastLog = performance.now();
  for (;;) {
    check();
    const n = left();
    const now = performance.now();
    if (n === 0) return now - t0;
    if (now - t0 > timeoutMs())
      throw new Error(
        `${what}: ${n} of ${expected.length} files still missing after ${timeoutMs()} ms ${progress()}`,
      );
    if (now - lastLog > 10_000) {
      log(`  ${what}: ${n} files to go ${progress()}`);
      lastLog = now;
    }
    await sleep(50);
  }
}

/** One run of one tool: setup (untimed), the timed sync, stop, verify. */
const runners = {
  async weft(dir, tree, src) {
    const relay = await startRelay({ dir, flags: RELAY_FLAGS });
    try {
      // Devices named a and b: A's folder is `src`, where the tree was written.
      const { agents } = await shareFolder({ dir, relayUrl: relay.url, names: ["a", "b"] });
      const [a, b] = agents;
      if (a.folder !== src) throw new Error("weft: A's folder is not the tree");
      const relayBefore = relay.usage();
      const metricsBefore = await relay.metrics();
      const t0 = performance.now();
      await Promise.all([a.startDaemon(), b.startDaemon()]);
      // A's WEFT_HOME while it sends, looked at every 0.5 s: a spool of every new chunk made it
      // as large as the folder during the upload, though small after it.
      let aPeakBytes = 0;
      let lastLook = 0;
      const look = () => {
        if (performance.now() - lastLook < 500) return;
        lastLook = performance.now();
        try {
          aPeakBytes = Math.max(aPeakBytes, bytesUnder(a.home));
        } catch {
          // a file went while it was listed (a WAL, a temp file): the next look counts
        }
      };
      const ms = await arrived(
        tree.files,
        b.folder,
        t0,
        "weft",
        () => JSON.stringify({ a: a.storedStatus()?.state, b: b.storedStatus()?.download }),
        look,
      );
      const statusA = a.storedStatus();
      const [sender, receiver] = [await a.stopDaemon(), await b.stopDaemon()];
      const metrics = await relay.metrics();
      const relayAfter = await relay.stop();
      assertTree(tree.files, b.folder, "weft: B");
      assertTree(tree.files, a.folder, "weft: A");
      // What each device keeps besides the folder (issue 14: ≤ 10% of the folder's size).
      const homes = { aBytes: bytesUnder(a.home), bBytes: bytesUnder(b.home), aPeakBytes };
      const counter = (k) => (metrics[k] ?? 0) - (metricsBefore[k] ?? 0);
      return {
        ms,
        sender,
        receiver,
        relay: {
          cpuSeconds: round(relayAfter.cpuSeconds - relayBefore.cpuSeconds, 2),
          peakRssBytes: relayAfter.peakRssBytes,
        },
        wire: {
          sealedBytesUploadedByA: statusA?.bytesUploaded ?? null,
          relayWebSocketBytesIn: counter('weft_relay_received_bytes_total{transport="websocket"}'),
          relayWebSocketBytesOut: counter('weft_relay_sent_bytes_total{transport="websocket"}'),
        },
        homes,
      };
    } finally {
      await relay.stop();
    }
  },
  async syncthing(dir, tree, src) {
    const dest = join(dir, "b");
    mkdirSync(dest);
    const pair = await syncthingPair({ dir, folders: [src, dest] });
    try {
      const t0 = performance.now();
      let connectedMs = null;
      const started = pair
        .start()
        .then(() => pair.waitConnected().then(() => (connectedMs = performance.now() - t0)));
      let failed;
      started.catch((error) => (failed = error));
      const ms = await arrived(tree.files, dest, t0, "syncthing", undefined, () => {
        if (failed) throw failed;
      });
      await started;
      // Its database lags the disk a little: B renames files into place, then records them.
      await pair.waitIdle(pair.b, tree.files.length, 60_000);
      const dbSettledMs = performance.now() - t0;
      const wire = await pair.wireBytes(pair.a);
      const [sender, receiver] = await pair.stop();
      assertTree(tree.files, dest, "syncthing: B");
      assertTree(tree.files, src, "syncthing: A");
      return {
        ms,
        connectedMs,
        dbSettledMs,
        sender,
        receiver,
        wire: { tlsBytesSentByA: wire.out, tlsBytesReceivedByA: wire.in },
      };
    } finally {
      await pair.stop();
    }
  },
  async rsync(dir, tree, src) {
    const dest = join(dir, "b");
    mkdirSync(dest);
    const daemon = await startRsyncDaemon({ dir, dest });
    try {
      const before = daemon.usage();
      const client = await rsyncPush(src, daemon.url);
      const after = await daemon.stop();
      assertTree(tree.files, dest, "rsync: B");
      return {
        ms: client.ms,
        sender: { cpuSeconds: client.cpuSeconds, peakRssBytes: client.peakRssBytes },
        receiver: {
          cpuSeconds: round(after.cpuSeconds - before.cpuSeconds, 2),
          peakRssBytes: after.peakRssBytes,
        },
      };
    } finally {
      await daemon.stop();
    }
  },
  async cp(dir, tree, src) {
    const dest = join(dir, "b");
    mkdirSync(dest);
    const r = await copyTree(src, dest);
    assertTree(tree.files, dest, "cp: B");
    return { ms: r.ms, sender: { cpuSeconds: r.cpuSeconds, peakRssBytes: r.peakRssBytes } };
  },
};

/** Runs one tool once in a fresh scratch directory; the directory is removed after. */
async function runOnce(tool) {
  // A, B, the relay's copy (Weft) and temp files: about 3.5 × the tree.
  const dir = scratchDir(`sync-${tool}`, plan.bytes * 3.5);
  try {
    const src = join(dir, tool === "weft" ? "a/folder" : "a");
    mkdirSync(src, { recursive: true });
    const tree = writeDataset(src, datasetOptions);
    // Every tool starts from a clean page cache state: the tree written back to disk.
    spawnSync("sync");
    const r = await runners[tool](dir, tree, src);
    log(`  ${tool}: ${(r.ms / 1000).toFixed(2)} s`);
    return r;
  } catch (error) {
    // A run that failed (a timeout) leaves its processes writing into `dir`: removing it
    // would then fail and hide why the run failed.
    killAll();
    await sleep(500);
    throw error;
  } finally {
    try {
      removeDir(dir);
    } catch (error) {
      log(`could not remove ${dir}: ${error.message}`);
    }
  }
}

/** Every tool `REPEATS` times on the current dataset: `{ tool: [run, …] }`. */
async function runTools() {
  log(`dataset: ${describe(plan)}; tools ${TOOLS.join(", ")}; ${REPEATS} repeat(s)`);
  const samples = Object.fromEntries(TOOLS.map((t) => [t, []]));
  try {
    for (let r = 0; r < REPEATS; r++) {
      // Alternating order: a slow phase of a shared machine hits every tool alike.
      const order = TOOLS.map((_, i) => TOOLS[(i + r) % TOOLS.length]);
      log(`repeat ${r + 1}/${REPEATS}: ${order.join(", ")}`);
      for (const tool of order) samples[tool].push(await runOnce(tool));
    }
  } catch (error) {
    killAll();
    throw error;
  }
  return samples;
}

const med = (xs) => (xs.length && xs.every((x) => typeof x === "number") ? median(xs) : null);
const side = (runs, key) =>
  runs[0]?.[key]
    ? {
        cpuSeconds: round(med(runs.map((x) => x[key].cpuSeconds)), 2),
        peakRssMiB: mib(med(runs.map((x) => x[key].peakRssBytes))),
      }
    : null;
/** Medians per tool of `samples` on `plan`. */
function summarize(samples) {
  const tools = {};
  for (const [tool, runs] of Object.entries(samples)) {
    const seconds = med(runs.map((x) => x.ms / 1000));
    tools[tool] = {
      medianSeconds: round(seconds, 2),
      samplesSeconds: runs.map((x) => round(x.ms / 1000, 2)),
      mibPerSecond: round(plan.bytes / MiB / seconds),
      filesPerSecond: round(plan.files.length / seconds),
      ...(runs[0]?.connectedMs !== undefined
        ? {
            connectedSeconds: round(med(runs.map((x) => x.connectedMs / 1000)), 2),
            dbSettledSeconds: round(med(runs.map((x) => x.dbSettledMs / 1000)), 2),
          }
        : {}),
      sender: side(runs, "sender"),
      receiver: side(runs, "receiver"),
      relay: side(runs, "relay"),
      wire: runs.at(-1)?.wire ?? null,
      ...(runs[0]?.homes
        ? {
            weftHomeMiB: {
              a: mib(med(runs.map((x) => x.homes.aBytes))),
              b: mib(med(runs.map((x) => x.homes.bBytes))),
              aPeakWhileSyncing: mib(med(runs.map((x) => x.homes.aPeakBytes))),
              folder: mib(plan.bytes),
            },
          }
        : {}),
    };
  }
  return tools;
}

const loadBefore = load();
if (SIZES) {
  // One tree per file size; no mixed tree.
  const bySize = [];
  for (const size of SIZES) {
    datasetOptions = sizeDataset(size);
    plan = planDataset(datasetOptions);
    const tools = summarize(await runTools());
    const over = (x) =>
      tools[x]?.medianSeconds && tools.weft?.medianSeconds
        ? round(tools[x].medianSeconds / tools.weft.medianSeconds, 3)
        : null;
    bySize.push({
      fileBytes: size,
      files: plan.files.length,
      bytes: plan.bytes,
      tools,
      ratios: { syncthingOverWeft: over("syncthing"), rsyncOverWeft: over("rsync") },
    });
  }
  saveResult("sync-sizes", quick, {
    benchmark: "sync-sizes",
    command: ["npm run bench:sync", ...(argv.length ? ["--", ...argv] : [])].join(" "),
    scale: SCALE,
    repeats: REPEATS,
    sizes: bySize,
    goals: bySize.map((x) =>
      goal(
        `speed vs Syncthing, ${x.fileBytes}-byte files: t_syncthing / t_weft`,
        x.ratios.syncthingOverWeft,
        "≥",
        2,
      ),
    ),
    loadAverage: [loadBefore, load()],
    machine: machineInfo(null),
  });
  process.exit(0);
}
const tools = summarize(await runTools());
const t = (tool) => tools[tool]?.medianSeconds ?? null;
const ratio = (x, y) => (t(x) && t(y) ? round(t(x) / t(y), 3) : null);
const ratios = {
  syncthingOverWeft: ratio("syncthing", "weft"),
  cpOverWeft: ratio("cp", "weft"),
  rsyncOverWeft: ratio("rsync", "weft"),
};
const result = {
  benchmark: "sync",
  command: ["npm run bench:sync", ...(argv.length ? ["--", ...argv] : [])].join(" "),
  quick,
  scale: SCALE,
  repeats: REPEATS,
  dataset: {
    files: plan.files.length,
    textFiles: plan.textFiles,
    directories: plan.dirs,
    bytes: plan.bytes,
    mib: mib(plan.bytes),
    seed: plan.seed,
  },
  clock: {
    weft: "both `weft sync` daemons start (A's tree not scanned yet) → B has every file",
    syncthing:
      "B then A start (fresh homes, A's tree not scanned yet; B first so A's first dial finds it) → B has every file",
    rsync: "`rsync -a` starts → it exits",
    cp: "`cp -a` starts → it exits",
    check:
      "every 50 ms, names and sizes; after the clock stops every file is hashed (SHA-256) and compared",
  },
  tools,
  ratios,
  goals: [
    goal("speed vs Syncthing: t_syncthing / t_weft", ratios.syncthingOverWeft, "≥", 2),
    goal("speed vs cp: t_cp / t_weft", ratios.cpOverWeft, "≥", 0.5),
  ],
  settings: {
    weft: {
      relayFlags: RELAY_FLAGS,
      daemon: "weft sync (defaults)",
      transport: "relay on 127.0.0.1, no TLS",
    },
    syncthing: { version: syncthingVersion(), ...SYNCTHING_SETTINGS },
    rsync: {
      version: rsyncVersion(),
      command: "rsync -a SRC/ rsync://127.0.0.1:PORT/mod/",
      daemon: "rsync --daemon, no chroot",
    },
    cp: { command: "cp -a SRC/. DEST" },
    scratch:
      "OS temp dir; `sync` before each run; the receiver side of Weft/Syncthing fsyncs, rsync and cp do not",
  },
  loadAverage: [loadBefore, load()],
  machine: machineInfo(null),
};
saveResult("sync", quick, result);
