/** Per-key token-bucket rate limiting (per address, per account) with a bounded key count. */
import { WeftError } from "@weft/core";

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens a key starts with and can save up: the largest burst. */
  capacity: number;
  /** Tokens added back per second: the sustained rate. */
  refillPerSecond: number;
  /** Clock in milliseconds; `Date.now` by default (tests inject their own). */
  now?: () => number;
  /** Most keys tracked at once, default 100,000; beyond it the least recently used is dropped. */
  maxKeys?: number;
}

/** The outcome of {@link TokenBucket.take}. */
export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

const DEFAULT_MAX_KEYS = 100_000;

/**
 * One token bucket per key (an address, an account id), refilled lazily when the key is next
 * seen, so idle keys cost no timers.
 *
 * Memory is bounded: past `maxKeys` the least recently used key is forgotten, so an attacker
 * rotating addresses cannot grow the map without limit. A forgotten key comes back with a full
 * bucket; reaching that needs `maxKeys` other keys in between, each of which got only its own
 * burst, so it buys an attacker nothing a new address would not.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #refillPerMs: number;
  readonly #now: () => number;
  readonly #maxKeys: number;
  // A Map iterates in insertion order; re-inserting on every use makes the first key the
  // least recently used, an LRU without a linked list.
  readonly #buckets = new Map<string, Bucket>();

  /** @throws WeftError INVALID_ARGUMENT when a number is not positive (and finite) */
  constructor(options: TokenBucketOptions) {
    const { capacity, refillPerSecond, maxKeys = DEFAULT_MAX_KEYS } = options;
    if (!(capacity > 0) || !Number.isFinite(capacity)) {
      throw new WeftError("INVALID_ARGUMENT", "capacity must be a positive number");
    }
    if (!(refillPerSecond > 0) || !Number.isFinite(refillPerSecond)) {
      throw new WeftError("INVALID_ARGUMENT", "refillPerSecond must be a positive number");
    }
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new WeftError("INVALID_ARGUMENT", "maxKeys must be a positive integer");
    }
    this.#capacity = capacity;
    this.#refillPerMs = refillPerSecond / 1000;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = maxKeys;
  }

  /** How many keys are tracked now (at most `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket if it has them. A refusal takes nothing,
   * and says after how many whole seconds (for a `Retry-After` header) the tokens will be there.
   * @throws WeftError INVALID_ARGUMENT when `cost` is not positive or exceeds the capacity
   * (such a request could never pass)
   */
  take(key: string, cost = 1): TakeResult {
    if (!(cost > 0) || cost > this.#capacity) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `cost must be positive and at most ${this.#capacity}`,
      );
    }
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#capacity, at: now };
      if (this.#buckets.size >= this.#maxKeys) this.#evictOldest();
    } else {
      this.#buckets.delete(key);
      // Math.max: a clock that steps backwards must not drain the bucket.
      const elapsed = Math.max(0, now - bucket.at);
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + elapsed * this.#refillPerMs);
      bucket.at = Math.max(bucket.at, now);
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { ok: true };
    }
    const waitMs = (cost - bucket.tokens) / this.#refillPerMs;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  #evictOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (oldest.done !== true) this.#buckets.delete(oldest.value);
  }
}
