/** One retry timer with capped exponential backoff: the engine's reconnects and the transfer queues' runs. */

/**
 * Schedules one retry at a time, waiting `min` ms the first time and twice as long each time
 * after, up to `max`, until {@link Backoff.reset}. With `jitter`, each wait is shortened at
 * random by up to half, so that many devices do not all come back at the same moment after a
 * relay restart.
 */
export class Backoff {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delay: number;
  /** When the scheduled retry is due (ms since the epoch), while one is. */
  dueAt: number | undefined;

  constructor(
    private readonly limits: { readonly min: number; readonly max: number },
    private readonly jitter = false,
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
    const wait = this.jitter ? this.delay * (0.5 + Math.random() / 2) : this.delay;
    this.dueAt = Date.now() + wait;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = undefined;
      retry();
    }, wait);
    (this.timer as { unref?: () => void }).unref?.();
    this.delay = Math.min(this.delay * 2, this.limits.max);
  }

  /** Cancels the scheduled retry, if any. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = undefined;
  }

  /** Back to the shortest wait (something succeeded). */
  reset(): void {
    this.delay = this.limits.min;
  }
}
