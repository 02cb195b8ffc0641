#!/usr/bin/env node
// bench:padding — what padding sealed chunk sizes (Padmé, always on) costs on bench:sync's tree:
// every file written through a Replica (FastCDC, compression, sealing, as the agent does), then
// the sealed (padded) bytes against what the same chunks sealed to unpadded (before padding: the
// body and one format byte; each chunk is opened to read its body's length). A byte count, not a
// timing: one run is exact. Uses the BUILT packages (`npm run build` first). Writes
// bench/results/padding.json (padding.quick.json with --quick).
//
//   npm run bench:padding [-- --scale S] [-- --quick]   (--quick: scale 0.02)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBlobStore, MemoryStateStore, Replica } from "@weft/core";
import {
  CHUNK_OVERHEAD,
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  openChunk,
  ready,
} from "@weft/crypto";
import { describe, writeDataset } from "./lib/dataset.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { writeReport } from "./lib/report.mjs";
import { flags } from "./lib/run.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = argv.includes("--quick");
const SCALE = f.num("--scale", quick ? 0.02 : 0.25);

await ready();
const dir = mkdtempSync(join(tmpdir(), "weft-bench-padding-"));
try {
  const plan = writeDataset(dir, { scale: SCALE });
  console.error(`[bench:padding] ${describe(plan)}`);
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const chunkKey = keyring.subkeys(0).chunk;
  /** Sealed chunk sizes and their unpadded sizes, by id (a chunk stored twice counts once). */
  const sizes = new Map();
  const blobs = new (class extends MemoryBlobStore {
    async put(id, bytes) {
      // The padded plaintext: format u8 ‖ body length u32 BE ‖ body ‖ zeros (PROTOCOL.md).
      const plain = openChunk(chunkKey, { chunkId: id, folderId, epoch: 0 }, bytes);
      if (plain[0] !== 2 && plain[0] !== 3) throw new Error(`chunk ${id} is not padded`);
      const body = new DataView(plain.buffer, plain.byteOffset).getUint32(1, false);
      sizes.set(id, { padded: bytes.length, unpadded: CHUNK_OVERHEAD + 1 + body });
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
  let unpaddedTotal = 0;
  let padded = 0;
  let chunks = 0;
  let worst = 0;
  for (const { padded: length, unpadded } of sizes.values()) {
    chunks++;
    unpaddedTotal += unpadded;
    padded += length;
    worst = Math.max(worst, length / unpadded - 1);
  }
  const result = {
    scale: SCALE,
    files: plan.files.length,
    plainBytes,
    chunks,
    unpaddedBytes: unpaddedTotal,
    paddedBytes: padded,
    overhead: Math.round(((padded - unpaddedTotal) / unpaddedTotal) * 10000) / 10000,
    worstChunkOverhead: Math.round(worst * 10000) / 10000,
    machine: machineInfo(),
  };
  // Over 5%, padding would have been a folder setting (issue 21); under it, it is always on.
  const overhead = result.overhead;
  result.goals = [
    {
      goal: "padding overhead (%)",
      target: "≤ 5",
      value: Math.round(overhead * 10000) / 100,
      met: overhead <= 0.05,
    },
  ];
  console.log(JSON.stringify({ ...result, machine: undefined }, null, 2));
  if (!argv.includes("--no-save")) {
    const out = new URL("./results/", import.meta.url);
    mkdirSync(out, { recursive: true });
    const command = ["npm run bench:padding", ...(argv.length ? ["--", ...argv] : [])].join(" ");
    writeFileSync(
      new URL(quick ? "padding.quick.json" : "padding.json", out), // a quick run never replaces a full one
      `${JSON.stringify({ command, ...result }, null, 2)}\n`,
    );
    writeReport(); // bench/RESULTS.md
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
