/** RevokedFamilies: the sign-ins (refresh families) revoked recently enough that access tokens of theirs may still be unexpired. */

/**
 * An access token names its refresh family (`fam`); once the family is revoked (logout, a
 * reused refresh token) the relay refuses the token at once instead of at `exp`. Asking the
 * database on every request would cost a query per request, so each relay keeps the families in
 * memory: added when revoked through it or, over the bus, through another relay, and loaded
 * from the store on start and whenever the bus may have dropped events.
 *
 * Bounded by time: a token lives at most `keepMs` (the access-token lifetime plus a margin), and
 * every token of a family was issued before it was revoked (or in the instant of a refresh
 * racing the revocation, which the margin covers), so an entry older than `keepMs` matches only
 * expired tokens and is dropped.
 */
export class RevokedFamilies {
  readonly #revokedAt = new Map<string, number>();
  readonly #keepMs: number;
  readonly #now: () => number;

  /**
   * @param keepMs - how long an entry is kept: at least the longest access-token lifetime
   * @param now - the clock, ms since the epoch (`Date.now` by default)
   */
  constructor(keepMs: number, now: () => number = Date.now) {
    this.#keepMs = keepMs;
    this.#now = now;
  }

  /** Records that `family` was revoked at `at` (now by default); the earliest time is kept. */
  add(family: string, at: number = this.#now()): void {
    const known = this.#revokedAt.get(family);
    if (known === undefined || at < known) this.#revokedAt.set(family, at);
  }

  /** Whether `family` was revoked (within the last `keepMs`). */
  has(family: string): boolean {
    const at = this.#revokedAt.get(family);
    if (at === undefined) return false;
    if (this.#now() - at <= this.#keepMs) return true;
    this.#revokedAt.delete(family);
    return false;
  }

  /** The earliest revocation time still worth loading from the store (ms since the epoch). */
  get horizon(): number {
    return this.#now() - this.#keepMs;
  }

  /** Drops the entries older than `keepMs` (run every few seconds by the relay). */
  prune(): void {
    const horizon = this.horizon;
    for (const [family, at] of this.#revokedAt) if (at < horizon) this.#revokedAt.delete(family);
  }

  /** How many families are kept now (for tests and metrics). */
  get size(): number {
    return this.#revokedAt.size;
  }
}
