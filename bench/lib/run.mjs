// What the comparison benchmarks (sync, latency, delta) share: flags, a scratch directory with
// room checked first, the result file, the RESULTS.md refresh, and progress lines on stderr.
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeReport } from "./report.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;

/** Flags: `has("--quick")`, `num("--scale", 1)`, `str("--tools", "a,b")`. */
export function flags(argv = process.argv.slice(2)) {
  const at = (name) => argv.indexOf(name);
  return {
    has: (name) => at(name) >= 0,
    num: (name, fallback) => {
      const i = at(name);
      if (i < 0) return fallback;
      const v = Number(argv[i + 1]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} takes a positive number`);
      return v;
    },
    str: (name, fallback) => (at(name) >= 0 ? argv[at(name) + 1] : fallback),
  };
}

/** A progress logger for bench `name`: lines on stderr, so stdout stays the JSON. */
export const logger =
  (name) =>
  (...xs) =>
    console.error(`[bench:${name} ${(performance.now() / 1000).toFixed(1)}s]`, ...xs);

/** Free bytes for an unprivileged user on the file system holding `dir`. */
export function freeBytes(dir) {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * A fresh scratch directory under the OS temp directory, after checking that it has room for
 * `needBytes` (plus 1 GiB to spare): a full disk would fail a run half-way, or other people's.
 */
export function scratchDir(prefix, needBytes) {
  const base = tmpdir();
  const free = freeBytes(base);
  if (free < needBytes + 1024 * MiB)
    throw new Error(
      `${base} has ${(free / MiB).toFixed(0)} MiB free; this run needs about ${(needBytes / MiB).toFixed(0)} MiB (+1 GiB spare)`,
    );
  return mkdtempSync(join(base, `weft-bench-${prefix}-`));
}

/** Removes a scratch directory (and everything in it). */
export const removeDir = (dir) => rmSync(dir, { recursive: true, force: true });

/** The machine's load averages now: other work competes for the same cores. */
export const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

/**
 * Writes `result` to bench/results/NAME.json (NAME.quick.json for a quick run, which leaves the
 * measured results alone), refreshes RESULTS.md and the charts, and prints the JSON. With
 * `--no-save` on the command line it only prints it.
 */
export function saveResult(name, quick, result) {
  // --no-save: a run for a profile or an experiment, which must not replace the results.
  if (process.argv.includes("--no-save")) {
    console.log(JSON.stringify(result, null, 2));
    return null;
  }
  const out = join(here, "results", `${name}${quick ? ".quick" : ""}.json`);
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  writeReport();
  console.log(JSON.stringify(result, null, 2));
  return out;
}

/** `{ goal, target, value, met }`, the form RESULTS.md reads. */
export const goal = (name, value, op, target) => ({
  goal: name,
  target: `${op} ${target}`,
  value,
  met:
    value === null || !Number.isFinite(value)
      ? null
      : op === "≥"
        ? value >= target
        : value <= target,
});
