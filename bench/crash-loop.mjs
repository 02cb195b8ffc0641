#!/usr/bin/env node
// bench:crash — `weft sync` killed with SIGKILL at random points, over and over. Two daemons
// share one folder through a real relay; a seeded workload creates, edits, renames and deletes
// files on both, and one daemon is killed at each step, aimed at a phase of its work:
//
//   scan          the daemon has the new large file open, its chunk store has not grown yet
//   seal          its chunk store is growing (chunks sealed for the new file)
//   upload        the relay's chunk directory for the folder is growing
//   download      the receiving daemon's chunk store is growing
//   materialize   a `.weft-tmp-*` file is being written in the receiving daemon's folder
//   any           a random delay (0–1.5 s) after random writes, wherever that lands
//
// The phase a kill landed in is read from what the process and the disks show at that moment
// (its open files, the stores' sizes), so the tally reports where kills landed, not only where
// they were aimed. The daemon is started again at once. After every `--check-every` kills, the
// two folders must converge (lib/chaos-kit.mjs: identical names and bytes, no temp file, nothing
// partial, both daemons settled); at the end, with both stopped, every version the workload
// wrote must be current, a conflict or in history on both devices.
//
//   npm run bench:crash [-- --seed N | --seeds A,B,C] [--kills K (per seed)] [--check-every C] [--quick] [--no-save]
//   (--quick: 6 kills, files up to 8 MiB; writes results/crash-loop.quick.json)
//
// Prints the seed first; a failure prints the command that replays it, and exits 1.
import { mkdirSync, statfsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  MiB,
  daemonOf,
  dirBytes,
  lostVersions,
  openPaths,
  prng,
  treeReader,
  waitConverged,
  workload,
} from "./lib/chaos-kit.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { flags, logger, removeDir, saveResult } from "./lib/run.mjs";
import { median, round } from "./lib/stats.mjs";
import { makeAgent, startRelay } from "./lib/weft.mjs";

const f = flags();
const quick = f.has("--quick");
// --seeds a,b,c runs several seeds one after the other on the same devices (one setup: what
// `npm test` runs); --seed N runs one.
const seeds = (
  f.str("--seeds", undefined) ?? String(f.num("--seed", 1 + Math.floor(Math.random() * 1e9)))
)
  .split(",")
  .map((x) => Number(x))
  .filter((x) => Number.isSafeInteger(x) && x > 0);
if (seeds.length === 0) throw new Error("--seed/--seeds take positive integers");
const KILLS = Math.floor(f.num("--kills", quick ? 6 : 100));
const CHECK_EVERY = Math.floor(f.num("--check-every", 1));
const LARGE_MAX = (quick ? 8 : 24) * MiB;
const log = logger("crash");
const PHASES = ["scan", "seal", "upload", "download", "materialize", "any"];
const replay = `npm run bench:crash -- ${seeds.length === 1 ? `--seed ${seeds[0]}` : `--seeds ${seeds.join(",")}`} --kills ${KILLS} --check-every ${CHECK_EVERY}${quick ? " --quick" : ""}`;

console.error(`seed${seeds.length > 1 ? "s" : ""} ${seeds.join(", ")} (replay: ${replay})`);

/**
 * Scratch space: `--dir`, else /dev/shm when it has room (no fsync cost: the daemons' group
 * commits would otherwise wait on a disk shared with other work), else the OS temp directory.
 */
function scratch() {
  const chosen = f.str("--dir", process.env.WEFT_TEST_TMP);
  let base = chosen ?? tmpdir();
  if (!chosen) {
    try {
      const s = statfsSync("/dev/shm");
      if (s.bavail * s.bsize > 4096 * MiB) base = "/dev/shm";
    } catch {
      // no /dev/shm: the temp directory
    }
  }
  const dir = join(base, `weft-crash-${seeds[0]}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const dir = scratch();
let failed = null;
const kills = [];
const converge = [];
let filesChecked = 0;
let unverified = 0;

/** Bytes of `agent`'s local chunk store (the SQLite file and its WAL). */
async function storeBytes(agent) {
  const folderDir = join(agent.home, "folders", agent.folderId);
  let total = 0;
  for (const name of await readdir(folderDir).catch(() => []))
    if (name.startsWith("chunks.sqlite"))
      total += await stat(join(folderDir, name)).then(
        (s) => s.size,
        () => 0,
      );
  return total;
}

/** The largest `.weft-tmp-*` file in `folder` (0: none). */
async function largestTemp(folder) {
  let largest = 0;
  for (const e of await readdir(folder, { withFileTypes: true, recursive: true }).catch(() => []))
    if (e.isFile() && e.name.startsWith(".weft-tmp-"))
      largest = Math.max(
        largest,
        await stat(join(e.parentPath ?? e.path, e.name)).then(
          (s) => s.size,
          () => 0,
        ),
      );
  return largest;
}

try {
  const relay = await startRelay({ dir, flags: ["--rate-limit", "0"] });
  // Both devices enroll at once (each waits on the relay's password hashing): setup is most
  // of a short run's time.
  const agents = ["ana", "ben"].map((name) => makeAgent({ dir, name, relayUrl: relay.url }));
  await Promise.all(agents.map((a) => a.enroll()));
  const { folderId } = await agents[0].weft(["folder", "create", agents[0].folder]);
  const { invite } = await agents[0].weft(["folder", "invite", folderId, "--role", "editor"]);
  await agents[1].weft(["folder", "join", "-", agents[1].folder], { input: `${invite}\n` });
  for (const a of agents) a.folderId = folderId;
  const relayChunks = () => dirBytes(join(relay.dataDir, "chunks", folderId));
  const daemons = agents.map((a) => daemonOf(a, ["--keepalive", "5", "--reconnect-max", "1"]));
  await Promise.all(daemons.map((d) => d.start()));
  const readers = agents.map((a) => treeReader(a.folder));
  let rand = prng(seeds[0]);
  let seed = seeds[0];
  const written = new Map();
  const fresh = new Map();
  const work = workload({ rand, stage: join(dir, "stage"), written, fresh, largeMax: LARGE_MAX });
  let conv = await waitConverged({ daemons, readers, fresh, written });
  if (!conv.ok) throw new Error(`the empty folders did not converge: ${conv.problems.join("; ")}`);
  let touched = agents.map(() => new Set());

  for (let k = 1; k <= KILLS * seeds.length; k++) {
    if ((k - 1) % KILLS === 0) {
      seed = seeds[(k - 1) / KILLS];
      rand = prng(seed);
    }
    const aim = rand.pick(PHASES);
    const v = rand.int(0, 1);
    const victim = daemons[v];
    const steps = [];
    for (let i = 0; i < agents.length; i++)
      steps.push(
        ...(await work.randomOps(agents[i], conv.snapshots[i].files, touched[i], rand.int(0, 3))),
      );
    // The large file that gives the aimed-at phase time to be hit: written by the victim for
    // its own phases, by the other device for the receiving ones.
    const receiving = aim === "download" || aim === "materialize";
    const writer = aim === "any" ? rand.pick(agents) : receiving ? agents[1 - v] : agents[v];
    const size = rand.logSize(2 * MiB, LARGE_MAX);
    const base = {
      store: await storeBytes(victim.agent),
      relay: await relayChunks(),
    };
    const large = aim !== "any" || rand.chance(0.5) ? await work.createLarge(writer, size) : null;
    if (large) steps.push(`create ${large} on ${writer.name} (${size} B)`);
    const largeAbs = large && join(victim.agent.folder, large);
    const frac = 0.1 + 0.8 * rand.next();
    const sample = async () => ({
      open: largeAbs ? (await openPaths(victim.pid)).includes(largeAbs) : false,
      store: (await storeBytes(victim.agent)) - base.store,
      relay: (await relayChunks()) - base.relay,
      temp: await largestTemp(victim.agent.folder),
      placed: largeAbs
        ? await stat(largeAbs).then(
            (s) => s.size === size,
            () => false,
          )
        : false,
    });
    // Where the victim is, judged from two samples in a row.
    const phaseOf = (a, b) => {
      const fromOther = writer !== victim.agent;
      if (b.temp > 0) return "materialize";
      if (fromOther && b.store > a.store) return "download";
      if (!fromOther && b.relay > a.relay) return "upload";
      if (!fromOther && b.store > a.store) return "seal";
      if (b.open) return "scan";
      return "idle";
    };
    const reached = {
      scan: (s) => s.open && s.store < 256 * 1024,
      seal: (s) => s.store > frac * size,
      upload: (s) => s.relay > frac * size,
      download: (s) => s.store > frac * size,
      materialize: (s) => s.temp > frac * size,
    };
    // Past the phase for good: the large file is on the relay (sender) or placed (receiver).
    const past = (s) => (receiving ? s.placed : s.relay >= size);
    let prev = await sample();
    let cur = prev;
    const started = performance.now();
    if (aim === "any") {
      await sleep(rand.int(0, 1500));
      cur = await sample();
    } else {
      while (!reached[aim](cur) && !past(cur) && performance.now() - started < 20_000) {
        await sleep(3);
        prev = cur;
        cur = await sample();
      }
    }
    const landed = aim !== "any" && reached[aim](cur) ? aim : phaseOf(prev, cur);
    await victim.kill();
    kills.push({ k, seed, aim, landed, victim: victim.agent.name, largeBytes: large ? size : 0 });
    log(
      `kill ${k}/${KILLS * seeds.length} (seed ${seed}): ${victim.agent.name} aimed at ${aim}, landed in ${landed}; ${steps.length} steps`,
    );
    await victim.start();
    if (k % CHECK_EVERY === 0 || k % KILLS === 0) {
      conv = await waitConverged({ daemons, readers, fresh, written });
      if (!conv.ok) {
        failed = `seed ${seed}, after kill ${k} (${victim.agent.name}, ${landed}): not converged in 90 s: ${conv.problems.slice(0, 12).join("; ")}`;
        log(`steps of this round: ${steps.join("; ")}`);
        for (const d of daemons) log(`${d.agent.name} daemon said:\n${d.logs()}`);
        break;
      }
      converge.push(conv.ms);
      filesChecked += conv.snapshots[0].files.size;
      unverified += conv.unverified.length;
      touched = agents.map(() => new Set());
    }
  }

  await Promise.all(daemons.map((d) => d.stop()));
  if (!failed) {
    // Every version written, anywhere: current, a conflict, or in history, on both devices.
    const lost = (await Promise.all(agents.map((a) => lostVersions(a, written)))).flat();
    if (lost.length > 0) failed = `${lost.length} versions lost: ${lost.slice(0, 8).join("; ")}`;
  }
  await relay.stop();
} catch (error) {
  failed = `${error.stack ?? error}`;
} finally {
  killAll();
  removeDir(dir);
}

const tally = (key) => {
  const out = {};
  for (const x of kills) out[x[key]] = (out[x[key]] ?? 0) + 1;
  return out;
};
const sorted = [...converge].sort((a, b) => a - b);
const pct = (p) =>
  sorted.length
    ? round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] / 1000, 2)
    : null;
const result = {
  bench: "crash-loop",
  command: replay,
  date: new Date().toISOString(),
  quick,
  seeds,
  kills: kills.length,
  aimedAt: tally("aim"),
  landedIn: tally("landed"),
  checks: converge.length,
  filesChecked,
  versionsOnlyInHistory: unverified,
  divergences: failed ? 1 : 0,
  failure: failed,
  convergeSeconds: {
    p50: sorted.length ? round(median(sorted) / 1000, 2) : null,
    p99: pct(0.99),
    max: pct(1),
  },
  machine: machineInfo(),
};
if (failed) {
  console.error(`FAILED (${failed.split(":")[0]}): ${failed}\nreplay: ${replay}`);
  console.log(JSON.stringify(result, null, 2));
  process.exit(1);
}
saveResult("crash-loop", quick, result);
