/**
 * LoginGate: admission and order for password hashing, in front of the worker pool, so a
 * flood of logins is refused early instead of queued for minutes.
 */
import { ProtocolError } from "@weft/core";
import type { PasswordHasher } from "./password-pool.js";
import { TokenBucket } from "./rate-limit.js";

/** How much password work the gate admits; see THREAT_MODEL.md "Logins under load". */
export interface LoginLimits {
  /** Logins and registrations per client address: a burst, then per second. */
  addressBurst: number;
  addressPerSecond: number;
  /** Hashes in flight at once (one per worker thread the pool has). */
  concurrency: number;
  /** Logins of existing accounts that may wait for a worker; more are refused with 429. */
  knownWaiting: number;
  /** Logins of unknown names and registrations that may wait; more are refused with 429. */
  otherWaiting: number;
}

/** The defaults of {@link LoginLimits}. */
export const DEFAULT_LOGIN_LIMITS: Readonly<LoginLimits> = Object.freeze({
  addressBurst: 100,
  addressPerSecond: 2,
  concurrency: 1,
  knownWaiting: 16,
  otherWaiting: 8,
});

type Lane = "known" | "other";

interface Job {
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs password hashes and checks through a {@link PasswordHasher} with limits taken before
 * anything is queued: a per-address bucket, then two bounded queues. Logins of existing
 * accounts wait in their own queue and are served first, so a flood of made-up names (each
 * checked against a dummy hash) cannot delay a real user by more than the hashes already
 * running. A full queue refuses at once with `rate_limited` and a Retry-After from the measured
 * hash time. User names are not secret on the relay (register says whether one is taken), so
 * serving known names first gives away nothing new; one login alone still takes the same time
 * whether the name exists or not.
 */
export class LoginGate {
  readonly #hasher: PasswordHasher;
  readonly #limits: LoginLimits;
  readonly #perAddress: TokenBucket;
  readonly #queues: Record<Lane, Job[]> = { known: [], other: [] };
  #running = 0;
  /** Moving average of one hash, in milliseconds, for Retry-After. */
  #hashMs = 500;

  constructor(hasher: PasswordHasher, limits: LoginLimits, now?: () => number) {
    this.#hasher = hasher;
    this.#limits = limits;
    this.#perAddress = new TokenBucket({
      capacity: limits.addressBurst,
      refillPerSecond: limits.addressPerSecond,
      ...(now ? { now } : {}),
    });
  }

  /**
   * Whether `password` matches `hash` (the account's, or the dummy one when `known` is false).
   * @throws ProtocolError `rate_limited` (with `retryAfterSeconds`) when the address or the
   * queue is over its limit; as {@link PasswordHasher.verify}
   */
  verify(address: string, known: boolean, hash: string, password: string): Promise<boolean> {
    return this.#admit(address, known ? "known" : "other", () =>
      this.#hasher.verify(hash, password),
    ) as Promise<boolean>;
  }

  /** A new hash of `password` (registration). @throws as {@link verify} */
  hash(address: string, password: string): Promise<string> {
    return this.#admit(address, "other", () => this.#hasher.hash(password)) as Promise<string>;
  }

  /** Jobs waiting, per queue (for tests and metrics). */
  get waiting(): { known: number; other: number } {
    return { known: this.#queues.known.length, other: this.#queues.other.length };
  }

  #admit(address: string, lane: Lane, run: () => Promise<unknown>): Promise<unknown> {
    const taken = this.#perAddress.take(address);
    if (!taken.ok) return Promise.reject(shed(taken.retryAfterSeconds));
    const queue = this.#queues[lane];
    const cap = lane === "known" ? this.#limits.knownWaiting : this.#limits.otherWaiting;
    if (this.#running >= this.#limits.concurrency && queue.length >= cap) {
      const ahead = this.#running + this.#queues.known.length + this.#queues.other.length;
      const seconds = (ahead * this.#hashMs) / this.#limits.concurrency / 1000;
      return Promise.reject(shed(Math.max(1, Math.ceil(seconds))));
    }
    return new Promise((resolve, reject) => {
      queue.push({ run, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#running < this.#limits.concurrency) {
      const job = this.#queues.known.shift() ?? this.#queues.other.shift();
      if (!job) return;
      this.#running++;
      const started = performance.now();
      void job
        .run()
        .then(job.resolve, job.reject)
        .finally(() => {
          this.#hashMs = 0.8 * this.#hashMs + 0.2 * (performance.now() - started);
          this.#running--;
          this.#pump();
        });
    }
  }
}

function shed(retryAfterSeconds: number): ProtocolError {
  const error = new ProtocolError("rate_limited", "too many logins right now; retry later");
  (error as ProtocolError & { retryAfterSeconds: number }).retryAfterSeconds = retryAfterSeconds;
  return error;
}
