#!/usr/bin/env node
// bench:chaos — three `weft sync` daemons on one folder through a real relay, edited at random,
// with a fault every few seconds:
//
//   relay-kill    the relay killed with SIGKILL and started again at once (same port and data)
//   relay-down    the relay killed with SIGKILL and started again 1–15 s later
//   relay-stop    the relay stopped with SIGSTOP for 1–20 s, then SIGCONT: daemons must notice
//                 the silence by their keepalive, and come back when it answers again
//   agent-kill    a daemon (b or c) killed with SIGKILL and started again at once
//   agent-stop    a daemon stopped with SIGSTOP for up to 60 s (a laptop lid), then SIGCONT
//
// Edits go on during every fault, on every device. After each fault ends, the bench waits until
// the three folders converge (lib/chaos-kit.mjs: same names and bytes, no temp file, nothing
// partial, every daemon settled) and times it. A fault after which they do not converge within
// 3 minutes is a divergence: the run stops there and prints how to replay it. At the end, with
// the daemons stopped, every version written must be current, a conflict or in history on every
// device. Device a is never killed, so its RSS at the start and the end is the leak check.
//
//   npm run bench:chaos [-- --minutes N] [--seed S] [--quick] [--no-save]
//   (default 20 minutes; --quick: about 15 s of faults, short pauses, results/chaos.quick.json)
import { mkdirSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  MiB,
  daemonOf,
  lostVersions,
  prng,
  restartableRelay,
  treeReader,
  waitConverged,
  workload,
} from "./lib/chaos-kit.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { killAll, rssOf } from "./lib/procs.mjs";
import { flags, load as loadAverage, logger, removeDir, saveResult } from "./lib/run.mjs";
import { round } from "./lib/stats.mjs";
import { shareFolder } from "./lib/weft.mjs";

const f = flags();
const quick = f.has("--quick");
const MINUTES = f.num("--minutes", quick ? 0.25 : 20);
const seed = Math.floor(f.num("--seed", 1 + Math.floor(Math.random() * 1e9)));
const log = logger("chaos");
const KEEPALIVE_S = 5;
const CONVERGE_TIMEOUT_MS = 180_000;
const replay = `npm run bench:chaos -- --seed ${seed} --minutes ${MINUTES}${quick ? " --quick" : ""}`;
console.error(`seed ${seed} (replay: ${replay})`);

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
  const dir = join(base, `weft-chaos-${seed}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const KINDS = ["relay-kill", "relay-down", "relay-stop", "agent-kill", "agent-stop"];
const dir = scratch();
const rand = prng(seed);
const faults = [];
let failed = null;
let filesChecked = 0;
let unverified = 0;
const rss = { start: null, end: null };
const loadStart = loadAverage();

try {
  const relay = await restartableRelay({ dir });
  const { agents } = await shareFolder({
    dir,
    relayUrl: relay.url,
    devices: 3,
    names: ["a", "b", "c"],
  });
  const daemons = agents.map((a) =>
    daemonOf(a, ["--keepalive", String(KEEPALIVE_S), "--reconnect-max", "2"]),
  );
  await Promise.all(daemons.map((d) => d.start()));
  const readers = agents.map((a) => treeReader(a.folder));
  const written = new Map();
  const fresh = new Map();
  const work = workload({
    rand,
    stage: join(dir, "stage"),
    written,
    fresh,
    largeMax: (quick ? 4 : 12) * MiB,
  });
  let conv = await waitConverged({ daemons, readers, fresh, written });
  if (!conv.ok) throw new Error(`the empty folders did not converge: ${conv.problems.join("; ")}`);
  let touched = agents.map(() => new Set());
  rss.start = rssOf(daemons[0].pid);

  /** Random edits on random devices, a large file now and then. */
  const edit = async () => {
    const i = rand.int(0, agents.length - 1);
    await work.randomOps(agents[i], conv.snapshots[i].files, touched[i], rand.int(1, 3));
    if (rand.chance(0.2)) touched[i].add(await work.createLarge(agents[i]));
  };
  /** Edits for `ms`, a step every 0.2–1.5 s. */
  const editFor = async (ms) => {
    const end = performance.now() + ms;
    do {
      await edit();
      await sleep(Math.max(0, Math.min(rand.int(200, 1500), end - performance.now())));
    } while (performance.now() < end);
  };

  const deadline = performance.now() + MINUTES * 60_000;
  while (performance.now() < deadline) {
    const kind = rand.pick(KINDS);
    const started = performance.now();
    let detail = "";
    await editFor(rand.int(200, 3000)); // the calm before: edits in flight when it hits
    if (kind === "relay-kill") {
      await relay.kill();
      await relay.start();
    } else if (kind === "relay-down") {
      const ms = rand.int(1000, 15_000);
      detail = `${ms} ms`;
      await relay.kill();
      await editFor(ms);
      await relay.start();
    } else if (kind === "relay-stop") {
      const ms = rand.int(1000, quick ? 5000 : 20_000);
      detail = `${ms} ms`;
      relay.pause();
      await editFor(ms);
      relay.resume();
    } else if (kind === "agent-kill") {
      const d = daemons[rand.int(1, 2)];
      detail = d.agent.name;
      await d.kill();
      await edit();
      await d.start();
    } else {
      const d = rand.pick(daemons);
      const ms = rand.int(1000, quick ? 5000 : 60_000);
      detail = `${d.agent.name} ${ms} ms`;
      d.pause();
      await editFor(ms);
      d.resume();
    }
    const recovered = performance.now();
    conv = await waitConverged({
      daemons,
      readers,
      fresh,
      written,
      timeoutMs: CONVERGE_TIMEOUT_MS,
    });
    const fault = {
      n: faults.length + 1,
      kind,
      detail,
      faultSeconds: round((recovered - started) / 1000, 2),
      convergeSeconds: round(conv.ms / 1000, 2),
      converged: conv.ok,
    };
    faults.push(fault);
    log(
      `fault ${fault.n} ${kind} ${detail}: ${conv.ok ? `converged in ${fault.convergeSeconds} s` : "NOT CONVERGED"}`,
    );
    if (!conv.ok) {
      failed = `fault ${fault.n} (${kind} ${detail}): not converged in ${CONVERGE_TIMEOUT_MS / 1000} s: ${conv.problems.slice(0, 12).join("; ")}`;
      for (const d of daemons) log(`${d.agent.name} daemon said:\n${d.logs()}`);
      break;
    }
    filesChecked += conv.snapshots[0].files.size * agents.length;
    unverified += conv.unverified.length;
    touched = agents.map(() => new Set());
  }
  rss.end = rssOf(daemons[0].pid);
  await Promise.all(daemons.map((d) => d.stop()));
  if (!failed) {
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

const byKind = {};
for (const x of faults) if (x.converged) byKind[x.kind] = (byKind[x.kind] ?? 0) + 1;
const times = faults
  .filter((x) => x.converged)
  .map((x) => x.convergeSeconds)
  .sort((a, b) => a - b);
const pct = (p) =>
  times.length ? times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)] : null;
const mib = (b) => (b === null ? null : round(b / MiB, 1));
const result = {
  bench: "chaos",
  command: replay.replace(/ --quick$/, "") + (quick ? " --quick" : ""),
  date: new Date().toISOString(),
  quick,
  seed,
  minutes: MINUTES,
  devices: 3,
  keepaliveSeconds: KEEPALIVE_S,
  faults: faults.length,
  faultsSurvived: byKind,
  filesChecked,
  versionsOnlyInHistory: unverified,
  divergences: failed ? 1 : 0,
  failure: failed,
  convergeSeconds: { p50: pct(0.5), p99: pct(0.99), max: pct(1) },
  agentRssMiB: { start: mib(rss.start), end: mib(rss.end) },
  loadAverage: { start: loadStart, end: loadAverage() },
  faultLog: faults,
  machine: machineInfo(),
};
if (failed) {
  console.error(`FAILED (seed ${seed}): ${failed}\nreplay: ${replay}`);
  console.log(JSON.stringify(result, null, 2));
  process.exit(1);
}
saveResult("chaos", quick, result);
