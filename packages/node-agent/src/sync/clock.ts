/**
 * The time the agent's sync takes its timestamps and timers from: core's {@link Clock}, one for
 * the folder's Replica and for FolderSync, its retries and the daemon's waits (FolderSync's
 * `clock` option), so tests control time instead of waiting on it.
 */
import type { Clock } from "@weft/core";

export { type Clock, ManualClock, sleep, systemClock } from "@weft/core";

/** Calls `fn` once, `ms` from now on `clock`; returns the function that cancels it. */
export function after(clock: Clock, ms: number, fn: () => void): () => void {
  const timer = clock.setTimeout(fn, ms);
  return () => clock.clearTimeout(timer);
}
