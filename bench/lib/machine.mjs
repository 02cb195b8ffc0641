// Where a benchmark ran: pins the process to one core when it can and describes the machine,
// so that results from different runs can be compared honestly.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

const PINNED_ENV = "WEFT_BENCH_PINNED";

/**
 * Re-runs the current script under `taskset -c 0` (same node flags and arguments) when taskset
 * exists and this process is not already the pinned one, then exits with the child's status.
 * One core makes stage speeds comparable and keeps the pipeline from hiding work on the
 * thread pool. Returns the command used ("taskset -c 0") in the pinned process, else null.
 */
export function pinToOneCore() {
  if (process.env[PINNED_ENV]) return process.env[PINNED_ENV];
  const probe = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) return null;
  const how = "taskset -c 0";
  const child = spawnSync(
    "taskset",
    ["-c", "0", process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: "inherit", env: { ...process.env, [PINNED_ENV]: how } },
  );
  process.exit(child.status ?? 1);
}

/** The CPUs this process may run on, as the kernel lists them (Linux), or null. */
function cpusAllowed() {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    return /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** CPU, memory, node and time of the run, plus how it was pinned. */
export function machineInfo(taskset) {
  const cpu = cpus()[0];
  return {
    cpuModel: cpu?.model ?? "unknown",
    cpuMHz: cpu?.speed ?? null,
    logicalCores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl,
    platform: `${process.platform}-${process.arch}`,
    date: new Date().toISOString(),
    taskset,
    cpusAllowed: cpusAllowed(),
  };
}

/**
 * This process's peak resident set in bytes. On Linux it is VmHWM from /proc/self/status: the
 * getrusage figure (`process.resourceUsage().maxRSS`) of a spawned child starts at its
 * parent's RSS, since the fork copied it, so it would charge a child for its parent's memory.
 */
export function peakRssBytes() {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kib = /^VmHWM:\s*(\d+) kB$/m.exec(status)?.[1];
    if (kib) return Number(kib) * 1024;
  } catch {
    // Not Linux: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS * 1024;
}
