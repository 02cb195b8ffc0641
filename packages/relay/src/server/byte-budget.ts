/**
 * The relay's budget of bytes held for clients: a worst case reserved per holder (a client
 * address, or an account for sockets authenticated at their upgrade), and a guard on what the
 * relay really holds in all (its resident memory plus HTTP bodies admitted and still arriving).
 */
import { ProtocolError, frameLimits } from "@weft/core";
import { MAX_SESSIONS_PER_ACCOUNT } from "@weft/core/server";

const MiB = 1024 * 1024;

/** How many bytes the relay may hold for clients before it refuses new large work. */
export interface BufferLimits {
  /**
   * Bytes one client address may make the relay hold (0: no limit per address): the frames of
   * its sockets not authenticated at their upgrade (16 KiB each), its HTTP bodies over 64 KiB,
   * and what those sockets have queued unsent.
   */
  perAddressBytes: number;
  /**
   * Bytes one account may make the relay hold (0: no limit per account): the frame limit of
   * each of its sockets authenticated at their upgrade (16 MiB + 64 KiB), and what they have
   * queued unsent.
   */
  perAccountBytes: number;
  /**
   * The memory guard: new sockets and large HTTP bodies are refused while the relay's resident
   * memory, plus the bytes of bodies admitted and not yet read, plus the new work's own worst
   * case, would pass this.
   */
  totalBytes: number;
}

/** The default of {@link BufferLimits.perAddressBytes}: 512 MiB (32 uploads of 16 MiB at once). */
export const DEFAULT_BUFFER_BYTES_PER_ADDRESS = 512 * MiB;
/**
 * The default of {@link BufferLimits.perAccountBytes}: a full frame for each of the 64
 * connections one account may hold (MAX_SESSIONS_PER_ACCOUNT), 1,028 MiB, so the budget refuses
 * none of them while nothing is queued. An operator makes an account cost an attacker less by
 * lowering it (each device online needs 16 MiB + 64 KiB of it).
 */
export const DEFAULT_BUFFER_BYTES_PER_ACCOUNT =
  MAX_SESSIONS_PER_ACCOUNT * frameLimits.maxFrameBytes;

/**
 * The defaults of {@link BufferLimits} on a machine with `memoryBytes` of memory: 512 MiB per
 * address, 1,028 MiB per account, and the guard at half the memory (at least 1 GiB). How many
 * devices may be online at once is not limited by these: a socket's worst case counts against
 * its account, and the guard measures what is held, not what could be.
 */
export function defaultBufferLimits(memoryBytes: number): BufferLimits {
  return {
    perAddressBytes: DEFAULT_BUFFER_BYTES_PER_ADDRESS,
    perAccountBytes: DEFAULT_BUFFER_BYTES_PER_ACCOUNT,
    totalBytes: Math.max(1024 * MiB, Math.floor(memoryBytes / 2)),
  };
}

/** Seconds a client refused for the budget is told to wait (`Retry-After`). */
export const BUDGET_RETRY_SECONDS = 5;

/** Whose limit a reservation counts against: a client address, or an account. */
export type Holder = `address ${string}` | `account ${string}`;
/** The holder for bytes a client address makes the relay hold. */
export const addressHolder = (address: string): Holder => `address ${address}`;
/** The holder for bytes an account's sockets make the relay hold. */
export const accountHolder = (accountId: string): Holder => `account ${accountId}`;

/** What a reservation is for: a socket's frame limit (in memory once sent) or a body on its way. */
export type HeldKind = "frame" | "body";

/** How often, at most, the memory guard reads the process's resident memory. */
const MEMORY_SAMPLE_MS = 100;

/**
 * Counts bytes per holder against {@link BufferLimits}, and guards the total. Per holder, two
 * kinds: bytes reserved before they can arrive (a socket that may send a 16 MiB frame reserves
 * it at its upgrade, since uWebSockets.js buffers a partial frame where the relay cannot see
 * it; an HTTP body reserves its declared length), and bytes measured (what sockets have queued
 * and not yet sent, replaced at each {@link ByteBudget.measured} call). In all, the guard reads
 * what is really held, `memory()` (the resident set: partial frames and queued replies are in
 * it once they exist), plus bodies admitted and not yet read: reserving every socket's worst
 * case in all would limit a relay to half its memory ÷ 16 MiB devices online (731 with 23.5
 * GiB). New work is refused while a limit would be passed; work already admitted is never cut.
 */
export class ByteBudget {
  private readonly reserved = new Map<Holder, number>();
  private reservedTotal = 0;
  private bodiesTotal = 0;
  private queued = new Map<Holder, number>();
  private queuedTotal = 0;
  private sampledAt = -Infinity;
  private sampled = 0;

  constructor(
    private readonly limits: BufferLimits,
    private readonly memory: () => number = () => process.memoryUsage.rss(),
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Bytes held for `holder` now (reserved and measured). */
  heldBy(holder: Holder): number {
    return (this.reserved.get(holder) ?? 0) + (this.queued.get(holder) ?? 0);
  }

  /** Bytes reserved and measured for all holders (worst cases, not what is really held). */
  get reservedBytes(): number {
    return this.reservedTotal + this.queuedTotal;
  }

  /** What the guard reads: resident memory (sampled at most every 100 ms) and bodies on their way. */
  get held(): number {
    const t = this.now();
    if (t - this.sampledAt >= MEMORY_SAMPLE_MS) {
      this.sampled = this.memory();
      this.sampledAt = t;
    }
    return this.sampled + this.bodiesTotal;
  }

  private limitOf(holder: Holder): number {
    return holder.startsWith("account ")
      ? this.limits.perAccountBytes
      : this.limits.perAddressBytes;
  }

  /** Why `bytes` more for `holder` cannot be admitted, or undefined if they can. */
  private refusal(holder: Holder, bytes: number): "total" | "holder" | undefined {
    if (this.held + bytes > this.limits.totalBytes) return "total";
    const limit = this.limitOf(holder);
    if (limit > 0 && this.heldBy(holder) + bytes > limit) return "holder";
    return undefined;
  }

  /**
   * Reserves `bytes` for `holder` if its limit and the memory guard allow it.
   * @throws ProtocolError unavailable (503) with `retryAfterSeconds`, naming whose limit
   */
  reserve(holder: Holder, bytes: number, kind: HeldKind): void {
    const why = this.refusal(holder, bytes);
    if (why === undefined) return this.add(holder, bytes, kind);
    const error = new ProtocolError(
      "unavailable",
      why === "total"
        ? "the relay holds all the memory it may for its clients; retry later"
        : holder.startsWith("account ")
          ? "this account holds all the bytes the relay keeps for one account; retry later"
          : "this address holds all the bytes the relay keeps for one address; retry later",
    );
    (error as ProtocolError & { retryAfterSeconds: number }).retryAfterSeconds =
      BUDGET_RETRY_SECONDS;
    throw error;
  }

  private add(holder: Holder, bytes: number, kind: HeldKind): void {
    this.reserved.set(holder, (this.reserved.get(holder) ?? 0) + bytes);
    this.reservedTotal += bytes;
    if (kind === "body") this.bodiesTotal += bytes;
  }

  /** Gives back bytes {@link reserve} took. */
  release(holder: Holder, bytes: number, kind: HeldKind): void {
    const left = (this.reserved.get(holder) ?? 0) - bytes;
    if (left > 0) this.reserved.set(holder, left);
    else this.reserved.delete(holder);
    this.reservedTotal = Math.max(0, this.reservedTotal - bytes);
    if (kind === "body") this.bodiesTotal = Math.max(0, this.bodiesTotal - bytes);
  }

  /** Replaces the measured bytes (what each holder's sockets have queued, unsent). */
  measured(queued: Map<Holder, number>): void {
    this.queued = queued;
    let total = 0;
    for (const n of queued.values()) total += n;
    this.queuedTotal = total;
  }
}
