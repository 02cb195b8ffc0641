/** Opening what arrives from the log: decode, decrypt, prove the writer, authorize, then hand over the parts. */
import {
  CryptoError,
  type DeviceId,
  type Envelope,
  decodeEnvelope,
  decryptEnvelopeUnverified,
  deviceIdFromSignPublicKey,
  verifyEnvelopeSignature,
} from "@weft/crypto";
import { WeftError } from "../errors.js";
import type { ReplicaContext } from "./context.js";
import { type EnvelopePayload, type PayloadPart, decodePayload } from "./payload.js";

/** An envelope proven to come from `device`, with its parts. */
export interface OpenedEnvelope {
  envelope: Envelope;
  device: DeviceId;
  signPublicKey: Uint8Array;
  parts: PayloadPart[];
  /** Encoded record attestations it carries (unchecked: see attestation.ts). */
  attestations: readonly Uint8Array[];
}

/**
 * Opens one envelope from the log of `ctx`'s folder. The order of checks matters: the AEAD
 * first (only a holder of the folder key can have sealed it, and it binds the header), then the
 * key inside must hash to the header's device id, then the signature must verify with it, so a
 * member cannot pass off an envelope as another device's.
 * @throws WeftError INTEGRITY (with a message for people) when any check fails
 */
export function openLogEnvelope(ctx: ReplicaContext, bytes: Uint8Array): OpenedEnvelope {
  let envelope: Envelope;
  try {
    envelope = decodeEnvelope(bytes);
  } catch (cause) {
    throw new WeftError("INTEGRITY", "an envelope from the log is malformed", { cause });
  }
  if (envelope.folderId !== ctx.folderId)
    throw new WeftError(
      "INTEGRITY",
      `an envelope of folder ${envelope.folderId} arrived in ${ctx.folderId}`,
    );
  let plain: Uint8Array;
  try {
    plain = decryptEnvelopeUnverified(envelope, ctx.keys.subkeys(envelope.epoch).index);
  } catch (cause) {
    const why =
      cause instanceof CryptoError && cause.code === "BAD_KEY"
        ? `this device has no key for epoch ${envelope.epoch}`
        : "it does not decrypt (forged or corrupt)";
    throw new WeftError(
      "INTEGRITY",
      `envelope ${envelope.deviceSeq} of ${envelope.deviceId} refused: ${why}`,
      { cause },
    );
  }
  let payload: EnvelopePayload;
  try {
    payload = decodePayload(plain);
  } catch (cause) {
    throw new WeftError(
      "INTEGRITY",
      `envelope ${envelope.deviceSeq} of ${envelope.deviceId} has a malformed payload`,
      { cause },
    );
  }
  if (
    deviceIdFromSignPublicKey(payload.signPublicKey) !== envelope.deviceId ||
    !verifyEnvelopeSignature(envelope, payload.signPublicKey)
  ) {
    throw new WeftError(
      "INTEGRITY",
      `envelope ${envelope.deviceSeq} claims to be from ${envelope.deviceId} but is not signed by it`,
    );
  }
  return {
    envelope,
    device: envelope.deviceId,
    signPublicKey: payload.signPublicKey,
    parts: payload.parts,
    attestations: payload.attestations ?? [],
  };
}
