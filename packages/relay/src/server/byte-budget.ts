/**
 * The relay's budget of bytes held for clients, per client address and in all: partial
 * WebSocket frames, HTTP bodies being read, and replies queued for sockets that read slowly.
 */
import { ProtocolError } from "@weft/core";

const MiB = 1024 * 1024;

/** How many bytes the relay may hold for clients before it refuses new large work. */
export interface BufferLimits {
  /** Bytes one client address may make the relay hold (0: no limit per address). */
  perAddressBytes: number;
  /** Bytes all clients together may make the relay hold. */
  totalBytes: number;
}

/** The default of {@link BufferLimits.perAddressBytes}: 512 MiB (31 sockets that may each send a full 16 MiB frame, or fewer next to uploads). */
export const DEFAULT_BUFFER_BYTES_PER_ADDRESS = 512 * MiB;

/**
 * The defaults of {@link BufferLimits} on a machine with `memoryBytes` of memory: 512 MiB per
 * address, and half the memory (at least 1 GiB) in all. Each authenticated socket counts
 * 16 MiB, so that is also how many such sockets may be open at once (731 with 23.5 GiB); a
 * relay for more devices at once raises `totalBytes`.
 */
export function defaultBufferLimits(memoryBytes: number): BufferLimits {
  return {
    perAddressBytes: DEFAULT_BUFFER_BYTES_PER_ADDRESS,
    totalBytes: Math.max(1024 * MiB, Math.floor(memoryBytes / 2)),
  };
}

/** Seconds a client refused for the budget is told to wait (`Retry-After`). */
export const BUDGET_RETRY_SECONDS = 5;

/**
 * Counts bytes per client address and in all, against {@link BufferLimits}. Two kinds: bytes
 * reserved before they can arrive (a socket that may send a 16 MiB frame reserves 16 MiB at its
 * upgrade, since uWebSockets.js buffers a partial frame where the relay cannot see it; an HTTP
 * body reserves its declared length), and bytes measured (what sockets have queued and not yet
 * sent, replaced at each {@link ByteBudget.measured} call). New work is refused while reserved
 * plus measured bytes would pass a limit; work already admitted is never cut short.
 */
export class ByteBudget {
  private readonly reserved = new Map<string, number>();
  private reservedTotal = 0;
  private queued = new Map<string, number>();
  private queuedTotal = 0;

  constructor(private readonly limits: BufferLimits) {}

  /** Bytes held for `address` now (reserved and measured). */
  heldBy(address: string): number {
    return (this.reserved.get(address) ?? 0) + (this.queued.get(address) ?? 0);
  }

  /** Bytes held for all clients now (reserved and measured). */
  get held(): number {
    return this.reservedTotal + this.queuedTotal;
  }

  /** Reserves `bytes` for `address` if both limits allow it; false (nothing reserved) if not. */
  tryReserve(address: string, bytes: number): boolean {
    if (this.held + bytes > this.limits.totalBytes) return false;
    const per = this.limits.perAddressBytes;
    if (per > 0 && this.heldBy(address) + bytes > per) return false;
    this.reserved.set(address, (this.reserved.get(address) ?? 0) + bytes);
    this.reservedTotal += bytes;
    return true;
  }

  /**
   * Reserves as {@link tryReserve} does.
   * @throws ProtocolError unavailable (503) with `retryAfterSeconds`, naming whose limit
   */
  reserve(address: string, bytes: number): void {
    if (this.tryReserve(address, bytes)) return;
    const error = new ProtocolError(
      "unavailable",
      this.held + bytes > this.limits.totalBytes
        ? "the relay holds all the bytes it may for its clients; retry later"
        : "this address holds all the bytes the relay keeps for one address; retry later",
    );
    (error as ProtocolError & { retryAfterSeconds: number }).retryAfterSeconds =
      BUDGET_RETRY_SECONDS;
    throw error;
  }

  /** Gives back bytes {@link tryReserve} or {@link reserve} took. */
  release(address: string, bytes: number): void {
    const left = (this.reserved.get(address) ?? 0) - bytes;
    if (left > 0) this.reserved.set(address, left);
    else this.reserved.delete(address);
    this.reservedTotal = Math.max(0, this.reservedTotal - bytes);
  }

  /** Replaces the measured bytes (what each address's sockets have queued, unsent). */
  measured(queued: Map<string, number>): void {
    this.queued = queued;
    let total = 0;
    for (const n of queued.values()) total += n;
    this.queuedTotal = total;
  }
}
