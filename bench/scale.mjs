#!/usr/bin/env node
// bench:scale — Weft with many files: 100,000 small files (1–8 KiB, 100 per directory, some
// text, some random) on device A, then:
//   scan        the agent's scanner alone (walk, stat, hash every file): first pass, then a
//               pass with nothing changed, which must only stat;
//   first sync  `weft sync --once` on A: scan, chunk, seal, record, upload: the whole first
//               sync of a new folder;
//   rescan      `weft sync --once` on A again, nothing changed (process start included);
//   to empty    `weft sync --once` on B, an empty device: download and write every file;
// with the peak RSS of each agent process and of the relay, and the relay's CPU time.
// Runs against the built packages (`npm run build` first). Writes bench/results/scale.json.
//
//   npm run bench:scale [-- --files N] [-- --quick] [-- --no-save]
//   (--quick: 2,000 files, a CI smoke test writing results/scale.quick.json)
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { IgnoreRules, scanFolder } from "@weft/node-agent";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { round } from "./lib/stats.mjs";
import { assertTree, digestTree } from "./lib/tree.mjs";
import { shareFolder, startRelay } from "./lib/weft.mjs";

const f = flags();
const quick = f.has("--quick");
const FILES = Math.round(f.num("--files", quick ? 2000 : 100_000));
const PER_DIR = 100;
const log = logger("scale");
const MiB = 1024 * 1024;
const mib = (bytes) => round(bytes / MiB);

/** A small seeded generator (xorshift32): the same tree on every run. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Writes the tree; returns its total bytes. Every third file is text, the rest random bytes. */
function writeTree(root) {
  const next = rng(100_003);
  const random = Buffer.alloc(8192);
  let bytes = 0;
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, `d${Math.floor(i / PER_DIR / 10)}`, `e${Math.floor(i / PER_DIR)}`);
    if (i % PER_DIR === 0) mkdirSync(dir, { recursive: true });
    const size = 1024 + Math.floor(next() * 7 * 1024);
    let body;
    if (i % 3 === 0)
      body = Buffer.from(`file ${i}: ${"lorem ipsum dolor sit amet ".repeat(300)}`.slice(0, size));
    else {
      for (let j = 0; j < size; j += 4) random.writeUInt32LE((next() * 2 ** 32) >>> 0, j);
      body = random.subarray(0, size);
    }
    writeFileSync(join(dir, `f${i}.bin`), body);
    bytes += body.length;
  }
  return bytes;
}

/** The agent's scanner on `root`, given what an earlier pass found. */
async function timedScan(root, previous) {
  const t0 = performance.now();
  const result = await scanFolder({ root, ignore: await IgnoreRules.load(root), previous });
  const ms = performance.now() - t0;
  const records = new Map(previous);
  for (const r of [...result.added, ...result.modified]) records.set(r.path, r);
  return { ms, result, records };
}

async function main() {
  const dir = scratchDir("scale", FILES * 8192 * 4);
  try {
    const relay = await startRelay({ dir, flags: ["--rate-limit", "0"] });
    const { agents } = await shareFolder({ dir, relayUrl: relay.url, devices: 2 });
    const [a, b] = agents;
    log(`writing ${FILES} files under ${a.folder}`);
    const bytes = writeTree(a.folder);
    // The scanner leaves files modified in the last second for later (still being written).
    await sleep(1500);

    const first = await timedScan(a.folder, new Map());
    const again = await timedScan(a.folder, first.records);
    const hashedAgain = again.result.added.length + again.result.modified.length;
    log(
      `scan ${round(first.ms / 1000)} s, rescan ${round(again.ms / 1000)} s (${hashedAgain} hashed)`,
    );
    if (hashedAgain !== 0)
      throw new Error(`a rescan with nothing changed hashed ${hashedAgain} files`);

    log("first weft sync --once on A");
    const syncA = await a.syncOnce(["--timeout", "3600"]);
    log(`  ${round(syncA.ms / 1000)} s, peak RSS ${mib(syncA.peakRssBytes)} MiB`);
    const rescanA = await a.syncOnce(["--timeout", "600"]);
    log(`rescan ${round(rescanA.ms / 1000)} s`);
    log("weft sync --once on B (empty)");
    const syncB = await b.syncOnce(["--timeout", "3600"]);
    log(`  ${round(syncB.ms / 1000)} s, peak RSS ${mib(syncB.peakRssBytes)} MiB`);
    assertTree(digestTree(a.folder), b.folder, "device B after its sync");
    const relayUse = await relay.stop();

    const perFile = (ms) => round(ms / FILES, 3);
    return {
      bench: "scale",
      quick,
      date: new Date().toISOString(),
      command: `npm run bench:scale${quick ? " -- --quick" : ""}`,
      machine: machineInfo(),
      load: load(),
      dataset: { files: FILES, perDirectory: PER_DIR, bytes, mib: mib(bytes) },
      scan: {
        firstSeconds: round(first.ms / 1000),
        rescanSeconds: round(again.ms / 1000),
        what: "the agent's scanner (walk, stat, hash); the rescan only stats",
      },
      firstSync: {
        seconds: round(syncA.ms / 1000),
        msPerFile: perFile(syncA.ms),
        cpuSeconds: round(syncA.cpuSeconds),
        peakRssMiB: mib(syncA.peakRssBytes),
        what: "weft sync --once on A: scan, chunk, seal, record, upload",
      },
      rescanSync: {
        seconds: round(rescanA.ms / 1000),
        peakRssMiB: mib(rescanA.peakRssBytes),
        what: "weft sync --once on A with nothing changed, process start included",
      },
      toEmptyDevice: {
        seconds: round(syncB.ms / 1000),
        msPerFile: perFile(syncB.ms),
        cpuSeconds: round(syncB.cpuSeconds),
        peakRssMiB: mib(syncB.peakRssBytes),
        what: "weft sync --once on an empty device B: download, verify, write every file",
      },
      relay: { cpuSeconds: round(relayUse.cpuSeconds), peakRssMiB: mib(relayUse.peakRssBytes) },
      goals: quick
        ? []
        : [
            goal("first scan of 100k files (s)", round(first.ms / 1000), "≤", 60),
            goal("no-change rescan (s)", round(rescanA.ms / 1000), "≤", 5),
            goal(
              "agent peak RSS (MiB)",
              Math.max(mib(syncA.peakRssBytes), mib(syncB.peakRssBytes)),
              "≤",
              400,
            ),
          ],
    };
  } finally {
    killAll();
    removeDir(dir);
  }
}

const result = await main();
saveResult("scale", quick, result);
