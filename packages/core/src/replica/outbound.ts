/** Sealing what leaves: this device's envelopes (log entries and snapshots), signed and encrypted under the folder's newest epoch. */
import { encodeEnvelope, sealEnvelope } from "@weft/crypto";
import type { ReplicaContext } from "./context.js";
import { type PayloadPart, encodePayload } from "./payload.js";

/**
 * Seals `parts` (and record attestations, if any) as this device's envelope number `deviceSeq`
 * (0 for a snapshot), encoded.
 */
export function sealParts(
  ctx: ReplicaContext,
  deviceSeq: number,
  parts: PayloadPart[],
  attestations: readonly Uint8Array[] = [],
): Uint8Array {
  const epoch = ctx.keys.epoch;
  const payload = encodePayload({
    signPublicKey: ctx.identity.signPublicKey,
    parts,
    attestations,
  });
  return encodeEnvelope(
    sealEnvelope(
      { folderId: ctx.folderId, deviceId: ctx.identity.deviceId, deviceSeq, epoch },
      ctx.keys.subkeys(epoch).index,
      ctx.identity.signSecretKey,
      payload,
    ),
  );
}
