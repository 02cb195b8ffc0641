/** Hybrid logical clocks: wall-clock time that never runs backwards and orders causally. */
import { WeftError } from "../errors.js";

/** A hybrid logical timestamp: milliseconds since the epoch plus a logical counter. */
export interface Hlc {
  readonly wall: number;
  readonly logical: number;
}

/** Orders timestamps: wall time first, then the logical counter. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall - b.wall || a.logical - b.logical;
}

/** Validates an untrusted timestamp. */
export function parseHlc(value: unknown): Hlc {
  if (typeof value !== "object" || value === null)
    throw new WeftError("INVALID_RECORD", "hlc must be an object");
  const { wall, logical } = value as Record<string, unknown>;
  if (typeof wall !== "number" || !Number.isSafeInteger(wall) || wall < 0) {
    throw new WeftError("INVALID_RECORD", "hlc.wall must be a non-negative integer");
  }
  if (typeof logical !== "number" || !Number.isSafeInteger(logical) || logical < 0) {
    throw new WeftError("INVALID_RECORD", "hlc.logical must be a non-negative integer");
  }
  return { wall, logical };
}

/** Options for {@link HybridClock}. */
export interface HybridClockOptions {
  /** The time source in milliseconds; injected so tests control time. Default `Date.now`. */
  now?: () => number;
  /**
   * Remote timestamps further than this ahead of our wall clock are not adopted, so one peer
   * with a broken clock cannot drag every later write into the future. Default one hour.
   */
  maxDriftMs?: number;
}

/** A hybrid logical clock (Kulkarni et al.), one per device. */
export class HybridClock {
  private readonly nowFn: () => number;
  private readonly maxDriftMs: number;
  private last: Hlc = { wall: 0, logical: 0 };

  constructor(options: HybridClockOptions = {}) {
    this.nowFn = options.now ?? Date.now;
    this.maxDriftMs = options.maxDriftMs ?? 3_600_000;
  }

  /** A fresh timestamp for a local event, greater than every one issued or observed before. */
  tick(): Hlc {
    const wall = Math.max(this.last.wall, Math.floor(this.nowFn()));
    this.last = { wall, logical: wall === this.last.wall ? this.last.logical + 1 : 0 };
    return this.last;
  }

  /** Takes a remote timestamp into account so later local events order after it. */
  observe(remote: Hlc): void {
    if (remote.wall > this.nowFn() + this.maxDriftMs) return;
    if (compareHlc(remote, this.last) > 0)
      this.last = { wall: remote.wall, logical: remote.logical };
  }

  /** The latest timestamp issued or observed. */
  peek(): Hlc {
    return this.last;
  }
}
