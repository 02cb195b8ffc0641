/**
 * The time the agent's sync takes its timestamps and timers from: injected (FolderSync's
 * `clock` option), so tests control time instead of waiting on it. A minimal stand-in for a
 * clock type of core's, which would replace it.
 */

/** A source of time and of one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once, `ms` from now; returns the function that cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** The real clock: `Date.now` and `setTimeout` (read at each call, so fake timers apply). */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Resolves `ms` from now on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.after(ms, resolve));
}
