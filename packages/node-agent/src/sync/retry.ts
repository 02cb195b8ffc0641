/** Running a daemon pass again after it failed, with capped backoff, until a pass succeeds. */
import { type Clock, after, systemClock } from "./clock.js";

/** First wait after a failed pass. */
export const PASS_RETRY_MIN_MS = 1000;
/**
 * The longest wait between retries of a failing pass: the default full-rescan period, so a
 * problem that never goes away (an unreadable file) costs no more than the rescans already do.
 */
export const PASS_RETRY_MAX_MS = 60_000;

/**
 * Retries a pass (a scan, an apply) of the daemon when it reported problems. A placement that
 * failed because the disk was full, or a local change that could not be recorded because
 * WEFT_HOME was, has nothing else to wake it: the remote change that asked for it came once,
 * the watcher saw the local file once, and the periodic rescan may be an hour away. So a pass
 * that failed runs again after 1 s, 2 s, 4 s … up to a minute, until one succeeds.
 */
export class PassRetry {
  private cancel: (() => void) | undefined;
  private delay: number;

  /**
   * @param run - starts the pass again (it reports back through {@link PassRetry.after})
   * @param minMs - first wait ({@link PASS_RETRY_MIN_MS})
   * @param maxMs - cap ({@link PASS_RETRY_MAX_MS})
   * @param clock - where the waits are timed
   */
  constructor(
    private readonly run: () => void,
    private readonly minMs = PASS_RETRY_MIN_MS,
    private readonly maxMs = PASS_RETRY_MAX_MS,
    private readonly clock: Clock = systemClock,
  ) {
    this.delay = minMs;
  }

  /** When the next retry is due (ms since the epoch), if one is scheduled. */
  nextAt: number | undefined;

  /**
   * Called when a pass ended: schedules the next try if it `failed`, else resets the backoff.
   * A pass that another trigger started meanwhile (a new change) counts the same way.
   */
  after(failed: boolean): void {
    if (!failed) {
      this.delay = this.minMs;
      return;
    }
    if (this.cancel) return;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, this.maxMs);
    this.nextAt = this.clock.now() + delay;
    this.cancel = after(this.clock, delay, () => {
      this.cancel = undefined;
      this.nextAt = undefined;
      this.run();
    });
  }

  /** Cancels a scheduled retry (the daemon stops). */
  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.nextAt = undefined;
  }
}
