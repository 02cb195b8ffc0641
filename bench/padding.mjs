#!/usr/bin/env node
// bench:padding — what padding sealed chunk sizes (Padmé) would cost on bench:sync's tree: every
// file written through a Replica (FastCDC, compression, sealing, as the agent does), then the
// sealed bytes against the same chunks padded to their Padmé size. A byte count, not a timing:
// one run is exact. Uses the BUILT packages (`npm run build` first). Writes bench/results/padding.json.
//
//   npm run bench:padding [-- --scale S] [-- --quick]   (--quick: scale 0.02)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBlobStore, MemoryStateStore, Replica } from "@weft/core";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { describe, writeDataset } from "./lib/dataset.mjs";
import { flags } from "./lib/run.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = argv.includes("--quick");
const SCALE = f.num("--scale", quick ? 0.02 : 0.25);

/** Padmé (Nikitin et al., PETS 2019): at most ~12% more, leaking O(log log L) bits of the size. */
export function padme(length) {
  if (length < 2) return length;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const lastBits = e - s;
  const mask = 2 ** lastBits - 1;
  return Math.ceil(length / (mask + 1)) * (mask + 1);
}

await ready();
const dir = mkdtempSync(join(tmpdir(), "weft-bench-padding-"));
try {
  const plan = writeDataset(dir, { scale: SCALE });
  console.error(`[bench:padding] ${describe(plan)}`);
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  /** Sealed chunk sizes, by id (a chunk stored twice counts once). */
  const sizes = new Map();
  const blobs = new (class extends MemoryBlobStore {
    async put(id, bytes) {
      sizes.set(id, bytes.length);
      return super.put(id, bytes);
    }
  })();
  const replica = await Replica.open({
    identity: generateDeviceIdentity(),
    folderId,
    keyring,
    state: new MemoryStateStore(),
    blobs,
  });
  let plainBytes = 0;
  for (const file of plan.files) {
    const data = readFileSync(join(dir, file.path));
    plainBytes += data.length;
    await replica.writeFile(file.path, data);
  }
  await replica.close();
  let sealed = 0;
  let padded = 0;
  let chunks = 0;
  let worst = 0;
  for (const length of sizes.values()) {
    chunks++;
    sealed += length;
    padded += padme(length);
    worst = Math.max(worst, padme(length) / length - 1);
  }
  const result = {
    scale: SCALE,
    files: plan.files.length,
    plainBytes,
    chunks,
    sealedBytes: sealed,
    paddedBytes: padded,
    overhead: Math.round(((padded - sealed) / sealed) * 10000) / 10000,
    worstChunkOverhead: Math.round(worst * 10000) / 10000,
  };
  console.log(JSON.stringify(result, null, 2));
  if (!argv.includes("--no-save")) {
    const out = new URL("./results/", import.meta.url);
    mkdirSync(out, { recursive: true });
    const command = ["npm run bench:padding", ...(argv.length ? ["--", ...argv] : [])].join(" ");
    writeFileSync(
      new URL("padding.json", out),
      `${JSON.stringify({ command, ...result }, null, 2)}\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
