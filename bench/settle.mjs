#!/usr/bin/env node
// bench:settle — 10,000 small file writes spread over 3 replicas of one folder, synced through
// the in-memory hub with real sealing: time until every replica holds every file (settle()),
// and the bytes that crossed the hub. Baseline in the same run: the same writes on replicas
// that never connect (chunking, sealing and storing only), so the ratio is the cost of sync.
// Runs against the built packages (`npm run build` first). Writes bench/results/settle.json.
//
//   npm run bench:settle [-- --files N] [-- --repeats R] [-- --quick]   (--quick: 300 files, 1 repeat)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TextEncoder } from "node:util";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { MemoryBlobStore, MemoryStateStore, Replica } from "@weft/core";
import { createTestNetwork } from "@weft/core/testing";
import { machineInfo } from "./lib/machine.mjs";
import { writeReport } from "./lib/report.mjs";
import { collect, median, round } from "./lib/stats.mjs";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const FILES = arg("--files", quick ? 300 : 10_000);
const REPEATS = arg("--repeats", quick ? 1 : 3);
const DEVICES = 3;
const here = fileURLToPath(new URL(".", import.meta.url));
const encoder = new TextEncoder();
const content = (i) => encoder.encode(`file ${i}: ${"lorem ipsum ".repeat(8 + (i % 16))}\n`);
const pathOf = (i) => `d${i % 50}/file-${i}.txt`;

/** Writes the files round-robin over the replicas, each replica's writes in sequence. */
async function writeAll(replicas) {
  await Promise.all(
    replicas.map(async (r, d) => {
      for (let i = d; i < FILES; i += replicas.length) await r.writeFile(pathOf(i), content(i));
    }),
  );
}

async function synced() {
  const net = await createTestNetwork({ devices: DEVICES, seed: 42 });
  collect();
  const t0 = performance.now();
  await writeAll(net.replicas);
  const writeMs = performance.now() - t0;
  await net.settle({ timeoutMs: 600_000 });
  const totalMs = performance.now() - t0;
  const lists = net.replicas.map((r) => r.list().filter((e) => e.kind === "file").length);
  if (lists.some((n) => n !== FILES)) throw new Error(`not converged: ${lists.join(", ")} files`);
  let toHub = 0;
  let fromHub = 0;
  let frames = 0;
  for (const r of net.replicas) {
    const t = net.hub.traffic(r.deviceId);
    toHub += t.bytesToHub;
    fromHub += t.bytesFromHub;
    frames += t.framesToHub + t.framesFromHub;
  }
  const envelopes = net.hub.log(net.folderId).length;
  await net.close();
  return { writeMs, settleMs: totalMs - writeMs, totalMs, toHub, fromHub, frames, envelopes };
}

async function localOnly() {
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const replicas = [];
  for (let d = 0; d < DEVICES; d++)
    replicas.push(
      await Replica.open({
        identity: generateDeviceIdentity(),
        folderId,
        keyring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
      }),
    );
  collect();
  const t0 = performance.now();
  await writeAll(replicas);
  const ms = performance.now() - t0;
  for (const r of replicas) await r.close();
  return ms;
}

const runs = [];
const baselines = [];
for (let i = 0; i < REPEATS; i++) {
  baselines.push(await localOnly()); // alternating, so drift of a noisy machine hits both
  runs.push(await synced());
}
const m = (key) => median(runs.map((r) => r[key]));
const plainBytes = Array.from({ length: FILES }, (_, i) => content(i).length).reduce(
  (a, b) => a + b,
  0,
);
const result = {
  benchmark: "settle",
  files: FILES,
  devices: DEVICES,
  repeats: REPEATS,
  plaintextBytes: plainBytes,
  localOnlyMs: round(median(baselines)),
  writeMs: round(m("writeMs")),
  settleMs: round(m("settleMs")),
  totalMs: round(m("totalMs")),
  ratioTotalToLocalOnly: round(m("totalMs") / median(baselines), 2),
  filesPerSecond: round(FILES / (m("totalMs") / 1000)),
  bytesToHub: m("toHub"),
  bytesFromHub: m("fromHub"),
  bytesToHubPerFile: round(m("toHub") / FILES),
  envelopes: m("envelopes"),
  frames: m("frames"),
  samples: runs.map((r) => ({
    ...r,
    writeMs: round(r.writeMs),
    settleMs: round(r.settleMs),
    totalMs: round(r.totalMs),
  })),
  localOnlySamplesMs: baselines.map((x) => round(x)),
  machine: machineInfo(null),
};
// A --quick run is a smoke test: it must not overwrite the measured results.
const out = join(here, "results", quick ? "settle.quick.json" : "settle.json");
writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
writeReport(); // bench/RESULTS.md and its charts
console.log(JSON.stringify(result, null, 2));
