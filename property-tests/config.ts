/**
 * Shared fast-check settings for every property suite: 1,000 runs by default (a suite whose every
 * case drives real replicas passes its own, smaller default and says so where it does),
 * `PROPERTY_RUNS` raises (or lowers) that for long runs, and `PROPERTY_SEED` replays a failure.
 * fast-check's failure report already prints the seed, the path and the shrunk counterexample.
 */
import type { Parameters } from "fast-check";

function intFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n))
    throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** Parameters for `fc.assert`. */
export function propertyParams<T>(defaultRuns = 1000): Parameters<T> {
  const runs = intFromEnv("PROPERTY_RUNS") ?? defaultRuns;
  const seed = intFromEnv("PROPERTY_SEED");
  const params: Parameters<T> = { numRuns: Math.max(1, runs), verbose: 1 };
  if (seed !== undefined) params.seed = seed;
  return params;
}
