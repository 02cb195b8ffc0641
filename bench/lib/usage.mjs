// CPU seconds and peak memory of the processes a benchmark runs, from Linux's /proc: a poller
// for long-running processes (servers, daemons — with every process they fork), and a wrapper
// through GNU time for commands that run to completion (rsync, cp), whose figures come from
// wait4() and so miss nothing.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearInterval, setInterval } from "node:timers";

/** utime + stime + cutime + cstime of `pid` in seconds (its own and its reaped children's). */
function cpuTreeSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100; // USER_HZ 100
  } catch {
    return 0;
  }
}

function peakRssOf(pid) {
  try {
    const kib = /^VmHWM:\s*(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib ? Number(kib) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `pid` and its live descendants. */
function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${t}/children`, "utf8").trim();
        if (kids) out.push(...kids.split(" ").map(Number));
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

/**
 * Polls process `pid` and its descendants every `everyMs`: `cpuSeconds` is user + system time
 * of the whole tree (a child that exited and was reaped counts through its parent's cutime);
 * `peakRssBytes` sums each process's peak resident set (VmHWM) — for one process, its peak;
 * for a tree (Syncthing's monitor and worker, rsync's forks) an upper bound. `stop()` samples
 * once more and stops: call it before the process exits. A process that exits on its own loses
 * at most one poll.
 */
export function meter(pid, everyMs = 100) {
  let cpuSeconds = 0;
  const peaks = new Map();
  const sample = () => {
    let cpu = 0;
    for (const p of processTree(pid)) {
      cpu += cpuTreeSeconds(p);
      peaks.set(p, Math.max(peaks.get(p) ?? 0, peakRssOf(p)));
    }
    cpuSeconds = Math.max(cpuSeconds, cpu);
    let peakRssBytes = 0;
    for (const v of peaks.values()) peakRssBytes += v;
    return { cpuSeconds: Math.round(cpuSeconds * 100) / 100, peakRssBytes };
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  sample();
  return {
    sample,
    stop: () => {
      clearInterval(timer);
      return sample();
    },
  };
}

const GNU_TIME = "/usr/bin/time";

/**
 * Runs `command args…` to completion, through GNU time when it is installed; resolves with
 * `{ status, ms, cpuSeconds, peakRssBytes, stderr }` (wall time from this process; CPU and peak
 * RSS from wait4(), children included; null without GNU time). Rejects on a non-zero exit.
 */
export function runTimed(command, args, { env = process.env, cwd } = {}) {
  const withTime = existsSync(GNU_TIME);
  const out = join(
    tmpdir(),
    `weft-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  const argv = withTime ? ["-f", "%U %S %M", "-o", out, command, ...args] : args;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(withTime ? GNU_TIME : command, argv, {
      env,
      cwd,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => {
      const ms = performance.now() - t0;
      let cpuSeconds = null;
      let peakRssBytes = null;
      if (withTime) {
        try {
          const line = readFileSync(out, "utf8").trim().split("\n").at(-1);
          const [u, s, m] = line.split(" ").map(Number);
          cpuSeconds = Math.round((u + s) * 100) / 100;
          peakRssBytes = m * 1024;
        } catch {
          // GNU time wrote nothing (killed): no figures
        }
        rmSync(out, { force: true });
      }
      if (status !== 0)
        return reject(new Error(`${command} ${args.join(" ")} exited ${status}: ${stderr}`));
      resolve({ status, ms, cpuSeconds, peakRssBytes, stderr });
    });
  });
}
