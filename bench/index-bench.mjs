#!/usr/bin/env node
// bench:index — a 100,000-record folder index: build, snapshot bytes, cold load, RSS, cost per
// update. Runs against the built packages (`npm run build` first). Writes
// bench/results/index.json. Targets (issue 2): cold load ≤ 0.5 s, ≤ 150 MB RSS.
//
//   npm run bench:index [-- --records N] [-- --quick]   (--quick: 5,000 records, for CI)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FolderIndex, HybridClock } from "@weft/core";
import { writeReport } from "./lib/report.mjs";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const recordsArg = args.indexOf("--records");
const RECORDS = recordsArg >= 0 ? Number(args[recordsArg + 1]) : quick ? 5_000 : 100_000;
const REPEATS = quick ? 1 : 5;
const here = fileURLToPath(new URL(".", import.meta.url));

const hex = (n) => n.toString(16).padStart(64, "0");
const manifest = (n) => ({ chunks: [{ id: hex(n), size: 4096 }], size: 4096, contentHash: hex(n) });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

// The child mode: cold-load a snapshot in a fresh process and report time and memory.
if (args[0] === "--load") {
  const bytes = readFileSync(args[1]);
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const index = FolderIndex.load(bytes, { device: "LOADER" }); // a Buffer is a Uint8Array: no copy
  const loadMs = performance.now() - t0;
  const t1 = performance.now();
  const entries = index.tree().entries.size;
  const treeMs = performance.now() - t1;
  globalThis.gc?.();
  const m = process.memoryUsage();
  console.log(
    JSON.stringify({ loadMs, treeMs, entries, rss: m.rss, rssBefore, heapUsed: m.heapUsed }),
  );
  process.exit(0);
}

/** Where file `i` lives: 100 files per directory. */
const pathOf = (i, dirs) => `dir${Math.floor(i / 100) % dirs}/file-${i}.txt`;

function build() {
  let id = 0;
  const index = new FolderIndex({
    device: "BENCH-DEVICE-0001",
    clock: new HybridClock({ now: () => Date.UTC(2026, 10, 22) }),
    newFileId: () => `f${(id++).toString(36)}`,
  });
  const dirs = Math.max(1, Math.round(RECORDS / 100));
  const t0 = performance.now();
  // Batches of 1,000, as the agent's scanner records what it finds: one index update each.
  index.batch(() => {
    for (let d = 0; d < dirs; d++) index.mkdir(`dir${d}`);
  });
  for (let i = 0; index.fileCount < RECORDS;) {
    index.batch(() => {
      for (let n = 0; n < 1000 && index.fileCount < RECORDS; n++, i++) {
        index.writeFile(pathOf(i, dirs), {
          manifest: manifest(i + 1),
        });
      }
    });
  }
  return { index, buildMs: performance.now() - t0 };
}

const dir = mkdtempSync(join(tmpdir(), "weft-bench-index-"));
try {
  const builds = [];
  let index;
  for (let r = 0; r < (quick ? 1 : 3); r++) {
    const b = build();
    builds.push(b.buildMs);
    index = b.index;
  }
  const snapshot = index.snapshot();
  const snapPath = join(dir, "snapshot.bin");
  writeFileSync(snapPath, snapshot);

  const loads = [];
  for (let r = 0; r < REPEATS; r++) {
    const out = execFileSync(
      process.execPath,
      ["--expose-gc", fileURLToPath(import.meta.url), "--load", snapPath],
      { encoding: "utf8" },
    );
    loads.push(JSON.parse(out));
  }

  // Cost per update: editing one existing file. A remote single-file delta applied to the full
  // index, a local write, and the size of the update a single edit sends.
  const dirs = Math.max(1, Math.round(RECORDS / 100));
  const peer = FolderIndex.load(snapshot, { device: "BENCH-DEVICE-0002" });
  const deltas = [];
  const N = quick ? 200 : 1000;
  const step = Math.floor(RECORDS / N);
  for (let i = 0; i < N; i++) {
    const sv0 = peer.stateVector();
    peer.writeFile(pathOf(i * step, dirs), { manifest: manifest(10_000_000 + i) });
    deltas.push(peer.encodeDelta(sv0));
  }
  let t0 = performance.now();
  for (const d of deltas) index.applyDelta(d);
  const applyUs = ((performance.now() - t0) * 1000) / N;
  t0 = performance.now();
  for (let i = 0; i < N; i++)
    index.writeFile(pathOf(i * step + 1, dirs), { manifest: manifest(20_000_000 + i) });
  const localWriteUs = ((performance.now() - t0) * 1000) / N;
  t0 = performance.now();
  index.tree();
  const treeAfterUpdateMs = performance.now() - t0;

  const loadMs = median(loads.map((l) => l.loadMs));
  const treeMs = median(loads.map((l) => l.treeMs));
  const rss = median(loads.map((l) => l.rss));
  const result = {
    bench: "index",
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
    records: RECORDS,
    buildMs: { median: median(builds), samples: builds },
    snapshotBytes: snapshot.length,
    bytesPerRecord: Math.round(snapshot.length / RECORDS),
    coldLoadMs: { median: loadMs, samples: loads.map((l) => l.loadMs) },
    firstTreeMs: { median: treeMs, samples: loads.map((l) => l.treeMs) },
    coldLoadPlusTreeMs: loadMs + treeMs,
    rssAfterLoadMB: mb(rss),
    heapUsedAfterLoadMB: mb(median(loads.map((l) => l.heapUsed))),
    perUpdate: {
      deltaBytesMedian: median(deltas.map((d) => d.length)),
      remoteApplyUs: applyUs,
      localWriteUs,
      treeRebuildAfterUpdatesMs: treeAfterUpdateMs,
    },
    targets: {
      coldLoadMs: { target: 500, pass: loadMs <= 500 },
      rssMB: { target: 150, pass: mb(rss) <= 150 },
    },
  };
  // A --quick run is a smoke test: it must not overwrite the measured results.
  const out = join(here, "results", quick ? "index.quick.json" : "index.json");
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  writeReport(); // bench/RESULTS.md and its charts
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
