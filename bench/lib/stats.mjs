// Timing helpers shared by the benchmarks: every figure is a median over repetitions, and the
// raw samples are kept so a reader can judge the spread.

const MiB = 1024 * 1024;

/** Median of a non-empty list of numbers (mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Rounds to `digits` decimals, for JSON that people read. */
export const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Collects garbage between measurements when node runs with --expose-gc. */
export const collect = () => globalThis.gc?.();

/** MiB/s of processing `bytes` in `ms` milliseconds. */
export const mibPerSec = (bytes, ms) => bytes / MiB / (ms / 1000);

/** Runs `fn` once (sync or async) and returns its throughput over `bytes` in MiB/s. */
export async function throughput(bytes, fn) {
  collect();
  const t0 = performance.now();
  await fn();
  return mibPerSec(bytes, performance.now() - t0);
}

/** `{ medianMiBps, samplesMiBps }` of a list of MiB/s samples. */
export const summary = (samples) => ({
  medianMiBps: round(median(samples)),
  samplesMiBps: samples.map((x) => round(x)),
});
