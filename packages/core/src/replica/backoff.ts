/** One retry timer with capped exponential backoff: the engine's reconnects and the transfer queues' runs. */
import { type Clock, type ClockTimer, systemClock } from "../clock.js";

/**
 * Schedules one retry at a time, waiting `min` ms the first time and twice as long each time
 * after, up to `max`, until {@link Backoff.reset}. With `jitter`, each wait is shortened at
 * random by up to half, so that many devices do not all come back at the same moment after a
 * relay restart.
 */
export class Backoff {
  private timer: ClockTimer | undefined;
  private delay: number;
  /** When the scheduled retry is due (ms since the epoch), while one is. */
  dueAt: number | undefined;

  constructor(
    private readonly limits: { readonly min: number; readonly max: number },
    private readonly jitter = false,
    private readonly clock: Clock = systemClock,
  ) {
    this.delay = limits.min;
  }

  /** Whether a retry is scheduled. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Runs `retry` after the current wait, unless a retry is scheduled already; the next wait doubles. */
  schedule(retry: () => void): void {
    if (this.timer) return;
    // Whole milliseconds, as timers count them: `dueAt` is then exactly when the retry runs.
    const wait = this.jitter ? Math.round(this.delay * (0.5 + Math.random() / 2)) : this.delay;
    this.dueAt = this.clock.now() + wait;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.dueAt = undefined;
        retry();
      },
      wait,
      { keepAlive: false },
    );
    this.delay = Math.min(this.delay * 2, this.limits.max);
  }

  /** Cancels the scheduled retry, if any. */
  cancel(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = undefined;
  }

  /** Back to the shortest wait (something succeeded). */
  reset(): void {
    this.delay = this.limits.min;
  }
}
