#!/usr/bin/env node
// bench:remote — what the remote file commands move when the folder holds much more than the
// file: device A syncs a folder of --folder-mib MiB (default 1 GiB) with `weft sync --once`;
// device B, a member with no synced copy, runs `weft ls`, then `weft get` of one --file-mib MiB
// file (default 10), with its state kept, then again with --no-state, then `weft put` of a
// --put-mib MiB file (default 1024: its peak memory shows the upload streams).
//
// What is counted: every byte B's agent sent to and received from the relay, through a
// byte-counting TCP proxy in front of it (HTTP, WebSocket framing and all: what crossed the
// wire); each command's wall time, CPU and peak RSS (VmHWM, polled); B's WEFT_HOME size after.
// Runs against the built packages (`npm run build` first). Writes results/remote.json.
//
//   npm run bench:remote [-- --folder-mib N] [-- --file-mib N] [-- --put-mib N] [-- --quick]
//   (--quick: a 48 MiB folder, a 16 MiB put: a smoke test, results/remote.quick.json;
//    --no-save: print the JSON, write nothing)
import { createWriteStream, mkdirSync, readdirSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { join } from "node:path";
import { seededBlocks } from "./lib/input.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, goal, load, logger, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { round } from "./lib/stats.mjs";
import { sha256File } from "./lib/tree.mjs";
import { countingProxy, makeAgent, retargetInvite, startRelay } from "./lib/weft.mjs";

const argv = process.argv.slice(2);
const f = flags(argv);
const quick = f.has("--quick");
const MiB = 1024 * 1024;
const FOLDER = Math.round(f.num("--folder-mib", quick ? 48 : 1024) * MiB);
const FILE = Math.round(f.num("--file-mib", 10) * MiB);
const PUT = Math.round(f.num("--put-mib", quick ? 16 : 1024) * MiB);
/** The other files of the folder, each this size (the last one shorter). */
const FILLER = 64 * MiB;
const log = logger("remote");

/** Streams `size` seeded bytes to `path`; returns their SHA-256. */
async function writeSeeded(path, seed, size) {
  const hash = createHash("sha256");
  const out = createWriteStream(path);
  for (const block of seededBlocks(seed, size)) {
    hash.update(block);
    if (!out.write(block)) await once(out, "drain");
  }
  out.end();
  await once(out, "close");
  return hash.digest("hex");
}

/** Bytes of the regular files under `dir`. */
function treeBytes(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  return total;
}

if (FILE >= FOLDER) throw new Error("--file-mib must be below --folder-mib");
const dir = scratchDir("remote", FOLDER * 3 + PUT * 3);
const loadBefore = load();
let result;
try {
  const relay = await startRelay({ dir, flags: ["--rate-limit", "0"] });
  const proxy = await countingProxy(relay.url);
  const a = makeAgent({ dir, name: "a", relayUrl: relay.url });
  const b = makeAgent({ dir, name: "b", relayUrl: proxy.url });
  await Promise.all([a.enroll(), b.enroll()]);

  log(`A's folder: ${FOLDER / MiB} MiB, the file ${FILE / MiB} MiB`);
  mkdirSync(join(a.folder, "data"));
  const fileSha = await writeSeeded(join(a.folder, "data", "target.bin"), "target", FILE);
  let files = 1;
  for (let left = FOLDER - FILE, i = 0; left > 0; left -= FILLER, i++, files++)
    await writeSeeded(
      join(a.folder, "data", `filler-${i}.bin`),
      `filler-${i}`,
      Math.min(FILLER, left),
    );
  const { folderId } = await a.weft(["folder", "create", a.folder]);
  const upload = await a.syncOnce();
  log(`A uploaded the folder in ${round(upload.ms / 1000)} s`);
  const { invite } = await a.weft(["folder", "invite", folderId, "--role", "editor"]);
  await b.weft(["folder", "join", "-"], { input: `${retargetInvite(invite, proxy.url)}\n` });

  /** Runs `weft ARGS` as B, counting the bytes that crossed B's proxy meanwhile. */
  const measure = async (name, args, options) => {
    const [up, down] = [proxy.up, proxy.down];
    const run = await b.weftMeasured(args, options);
    const step = {
      step: name,
      ms: round(run.ms),
      wireBytesReceived: proxy.down - down,
      wireBytesSent: proxy.up - up,
      cpuSeconds: round(run.cpuSeconds, 2),
      peakRssMiB: round(run.peakRssBytes / MiB),
    };
    log(`  ${name}: ${JSON.stringify(step)}`);
    return { step, json: run.json };
  };

  const steps = [];
  const ls = await measure("ls (first command: the index from the relay)", ["ls", folderId, "-r"]);
  steps.push(ls.step);
  const out = join(dir, "got.bin");
  const get = await measure("get (state kept)", ["get", folderId, "data/target.bin", out]);
  steps.push({ ...get.step, bytesDownloaded: get.json.bytesDownloaded });
  if ((await sha256File(out)) !== fileSha) throw new Error("weft get wrote other bytes");
  const fresh = await measure("get --no-state", [
    "get",
    folderId,
    "data/target.bin",
    join(dir, "got2.bin"),
    "--no-state",
  ]);
  steps.push(fresh.step);
  const source = join(dir, "put.bin");
  await writeSeeded(source, "put", PUT);
  const put = await measure("put", ["put", folderId, "incoming/put.bin", source]);
  steps.push({ ...put.step, bytesUploaded: put.json.bytesUploaded });
  const homeBytes = treeBytes(b.home);
  await relay.stop();
  await proxy.close();

  const ratio = (s) => round(s.wireBytesReceived / FILE, 4);
  result = {
    benchmark: "remote",
    command: ["npm run bench:remote", ...(argv.length ? ["--", ...argv] : [])].join(" "),
    quick,
    folderBytes: FOLDER,
    folderFiles: files,
    fileBytes: FILE,
    putBytes: PUT,
    measuredHow:
      "wire bytes: a byte-counting TCP proxy between B's agent and the relay (HTTP + WebSocket, all of it); peak RSS: VmHWM of the weft process, polled every 100 ms",
    steps,
    getReceivedPerFileByte: ratio(get.step),
    getNoStateReceivedPerFileByte: ratio(fresh.step),
    bHomeBytesAfter: homeBytes,
    goals: [
      goal("weft get: bytes received per byte of the file", ratio(get.step), "≤", 1.05),
      goal(
        "weft get --no-state: bytes received per byte of the file",
        ratio(fresh.step),
        "≤",
        1.05,
      ),
      goal(
        "weft put: peak RSS in MiB (bounded: far below the file)",
        put.step.peakRssMiB,
        "≤",
        256,
      ),
    ],
    loadAverage: [loadBefore, load()],
    machine: machineInfo(null),
  };
} catch (error) {
  killAll();
  throw error;
} finally {
  removeDir(dir);
}
saveResult("remote", quick, result);
