/** The protocol server's limits per connection and account, and the token bucket they use. */

/** Subscriptions one connection may hold. */
export const MAX_SUBSCRIPTIONS = 256;
/** Authenticated connections one account may hold at once. */
export const MAX_SESSIONS_PER_ACCOUNT = 64;
/**
 * Subscribes (new or again) one connection may send in a burst, and per second after it: a
 * device subscribing to every folder at once fits; a socket re-subscribing from seq 0 to make
 * the relay resend a log again and again does not.
 */
export const SUBSCRIBE_BURST = MAX_SUBSCRIPTIONS;
/** See {@link SUBSCRIBE_BURST}. */
export const SUBSCRIBES_PER_SECOND = 2;
/**
 * A backlog replay sends its next batch only while the connection has less than this waiting
 * to be written; the socket's drain resumes it. A reader that stops reading holds at most this
 * plus one batch, never the log.
 */
export const REPLAY_HIGH_WATER_BYTES = 1024 * 1024;
/** Bytes of one replay batch (one envelope larger than this still goes alone). */
export const REPLAY_BATCH_BYTES = 1024 * 1024;

/** A token bucket of one key: `burst` tokens, refilled at `perSecond`. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes one token at time `now` (ms); false when none is left. */
  take(now: number): boolean {
    this.tokens = Math.min(
      this.burst,
      this.tokens + (Math.max(0, now - this.at) * this.perSecond) / 1000,
    );
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
