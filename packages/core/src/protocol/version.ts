/** Protocol versions and the negotiation of one in the `hello` → `welcome` handshake. */
import { ProtocolError } from "./errors.js";
import { frameLimits } from "./limits.js";
import type { VersionRange } from "./messages.js";

/**
 * The protocol version this code speaks best (the highest it supports). Version 2 added
 * `ping`; version 3 stops the relay pushing a session's own appends back to it (the writer
 * places its envelope at the seq `appended` names); version 4 added `appendIf` and `stale` (the
 * head check of strong-consistency folders); version 5 added `presenceList` (a subscriber gets
 * the folder's presence in one frame, and later changes batched); everything else is as in
 * version 1, which this code still speaks.
 */
export const PROTOCOL_VERSION = 5;

/** The versions this code supports, announced in `hello` and checked against it in `welcome`. */
export const SUPPORTED_VERSIONS: Readonly<VersionRange> = Object.freeze({
  min: 1,
  max: PROTOCOL_VERSION,
});

/**
 * The version two peers use: the highest one both support.
 *
 * Highest rather than, say, the client's preference, so a peer that knows a newer version
 * always gets its improvements when the other side has them too, and the choice is the same
 * whichever side computes it.
 *
 * @throws ProtocolError `unsupported_version` when the ranges do not overlap (the message names
 * both ranges, so the log says which side must upgrade); `bad_frame` when a range is malformed
 */
export function negotiateVersion(ours: VersionRange, theirs: VersionRange): number {
  checkRange(ours, "our version range");
  checkRange(theirs, "the peer's version range");
  const low = Math.max(ours.min, theirs.min);
  const high = Math.min(ours.max, theirs.max);
  if (low > high) {
    const older = ours.max < theirs.min ? "this side" : "the peer";
    throw new ProtocolError(
      "unsupported_version",
      `no common protocol version: this side supports ${show(ours)}, the peer supports ` +
        `${show(theirs)}; ${older} needs a newer version`,
    );
  }
  return high;
}

function show(range: VersionRange): string {
  return range.min === range.max ? `version ${range.min}` : `versions ${range.min}–${range.max}`;
}

function checkRange(range: VersionRange, what: string): void {
  const ok = (v: unknown): v is number =>
    Number.isSafeInteger(v) &&
    (v as number) >= 1 &&
    (v as number) <= frameLimits.maxProtocolVersion;
  if (!ok(range.min) || !ok(range.max) || range.min > range.max) {
    throw new ProtocolError(
      "bad_frame",
      `${what} must be integers 1 ≤ min ≤ max ≤ ${frameLimits.maxProtocolVersion}, got ` +
        `${String(range.min)}–${String(range.max)}`,
    );
  }
}
