/**
 * A strong folder's change sealed and waiting for the relay's answer, and how it is kept in the
 * state store (resent as is after a reconnect or a crash).
 */
import { fromBase64Url, toBase64Url } from "@weft/crypto";
import type { HeadClaim } from "../protocol/messages.js";

const encoder = new TextEncoder();

/**
 * Queued writes sealed together as envelope `deviceSeq`, waiting for the relay's answer (resent
 * as is): accepted or refused together.
 */
export interface SentWrite {
  /** The first write's id. */
  id: string;
  /** Every write sealed in it, in queue order (the first is {@link id}). */
  ids: string[];
  deviceSeq: number;
  envelope: Uint8Array;
  update: Uint8Array;
  claims: HeadClaim[];
  attestation: Uint8Array;
  /** What it made of each key it saw: the key (a path now taken becomes its file) and head. */
  made: Record<string, [string, string | null]>;
  /** Not sent yet by this run (not stored: an envelope loaded from the state may have been). */
  fresh?: boolean;
}

/** The stored form of a sealed change. */
export function encodeSent(s: SentWrite): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      id: s.id,
      ids: s.ids,
      deviceSeq: s.deviceSeq,
      envelope: toBase64Url(s.envelope),
      update: toBase64Url(s.update),
      attestation: toBase64Url(s.attestation),
      claims: s.claims.map((c) => [c.handle, c.base, c.next].map(toBase64Url)),
      made: s.made,
    }),
  );
}

/** A sealed change from its stored form ({@link encodeSent}). */
export function decodeSent(v: Record<string, unknown>): SentWrite {
  const b = (x: unknown): Uint8Array => fromBase64Url(String(x));
  return {
    id: String(v["id"]),
    // Stored before writes were sealed together: one write.
    ids: Array.isArray(v["ids"]) ? v["ids"].map(String) : [String(v["id"])],
    deviceSeq: Number(v["deviceSeq"]),
    envelope: b(v["envelope"]),
    update: b(v["update"]),
    attestation: b(v["attestation"]),
    claims: (v["claims"] as unknown[][]).map(([handle, base, next]) => ({
      handle: b(handle),
      base: b(base),
      next: b(next),
    })),
    made: (v["made"] ?? {}) as SentWrite["made"],
  };
}
