/**
 * Time for the engine: one injected {@link Clock} gives every timestamp and every timer, so
 * tests (and a simulation) move time by hand instead of waiting for it.
 */

/** A scheduled callback of a {@link Clock}; cancel it with {@link Clock.clearTimeout}. */
export interface ClockTimer {
  /** For the clock that made it; callers only pass it back. */
  readonly clockTimer: true;
}

/** Options of {@link Clock.setTimeout}. */
export interface TimerOptions {
  /**
   * Whether the timer may keep a Node process alive (default true). A retry or a keepalive
   * passes false: a process with nothing else to do should exit instead of waiting on it.
   */
  keepAlive?: boolean;
}

/**
 * Where the engine takes time from: wall-clock timestamps, a monotonic clock for measuring
 * silences, and timers. Every timer and timestamp in `@weft/core`'s engine comes from the one
 * passed in (`ReplicaOptions.time`), {@link systemClock} by default; a {@link ManualClock}
 * makes them deterministic.
 */
export interface Clock {
  /** Wall-clock time in milliseconds since the epoch (like `Date.now()`). */
  now(): number;
  /**
   * Milliseconds that only move forward at the pace of real time (like `performance.now()`),
   * from an arbitrary origin: for measuring how long something took, which a wall clock set
   * back an hour would get wrong.
   */
  monotonic(): number;
  /** Calls `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): ClockTimer;
  /** Cancels a timer of this clock (nothing happens for `undefined` or one that ran). */
  clearTimeout(timer: ClockTimer | undefined): void;
}

interface SystemTimer extends ClockTimer {
  readonly handle: ReturnType<typeof setTimeout>;
}

/** The real clock: `Date.now`, `performance.now` and the platform's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms, options): ClockTimer {
    const handle = setTimeout(fn, ms);
    if (options?.keepAlive === false) (handle as { unref?: () => void }).unref?.();
    const timer: SystemTimer = { clockTimer: true, handle };
    return timer;
  },
  clearTimeout(timer): void {
    if (timer) clearTimeout((timer as SystemTimer).handle);
  },
};

/** Resolves after `ms` milliseconds of `clock`'s time. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

interface ManualTimer extends ClockTimer {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
}

/**
 * A clock that moves only when told ({@link advance}): timers due by then run in time order,
 * each seeing {@link now} at its due time. For tests and simulations; it never waits for real.
 */
export class ManualClock implements Clock {
  private readonly start: number;
  private elapsed = 0;
  private order = 0;
  private readonly timers = new Set<ManualTimer>();

  /** Starts at `start` ms since the epoch (default 2026-01-01). */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.start = start;
  }

  /** {@inheritDoc Clock.now} */
  now(): number {
    return this.start + this.elapsed;
  }

  /** {@inheritDoc Clock.monotonic} */
  monotonic(): number {
    return this.elapsed;
  }

  /** {@inheritDoc Clock.setTimeout} */
  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: ManualTimer = {
      clockTimer: true,
      at: this.elapsed + Math.max(0, ms),
      order: this.order++,
      fn,
    };
    this.timers.add(timer);
    return timer;
  }

  /** {@inheritDoc Clock.clearTimeout} */
  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer) this.timers.delete(timer as ManualTimer);
  }

  /** Timers scheduled and not yet run or cancelled. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the next timer is due, in ms from now, or undefined when none is scheduled. */
  nextDue(): number | undefined {
    const next = this.next();
    return next && next.at - this.elapsed;
  }

  /**
   * Moves time forward by `ms`, running every timer due by then (also those the timers
   * schedule) in order of due time; awaits the microtasks each timer's callback queued before
   * the next one runs, so promise chains started by a timer settle as they would in real time.
   */
  async advance(ms: number): Promise<void> {
    const end = this.elapsed + ms;
    for (;;) {
      await settle();
      const next = this.next();
      if (!next || next.at > end) break;
      this.timers.delete(next);
      this.elapsed = next.at;
      next.fn();
    }
    this.elapsed = end;
    await settle();
  }

  private next(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers)
      if (!best || t.at < best.at || (t.at === best.at && t.order < best.order)) best = t;
    return best;
  }
}

/**
 * Lets work already queued run: the microtasks, then one turn of the event loop (callbacks of
 * in-memory transports and stores queued meanwhile). Takes no time of its own to speak of.
 */
async function settle(): Promise<void> {
  await new Promise<void>((resolve) =>
    typeof setImmediate === "function" ? setImmediate(resolve) : setTimeout(resolve, 0),
  );
}
