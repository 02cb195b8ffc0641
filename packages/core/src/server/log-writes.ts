/**
 * What a write to a folder's log must pass before it is stored, and storing it: an append (the
 * envelope decoded, of this folder and device, its signature checked against the device's key)
 * and a snapshot (within the head and the folder's epoch, then the log pruned).
 */
import type { Envelope } from "@weft/crypto";
import { decodeEnvelope, verifyEnvelopeSignature } from "@weft/crypto";
import { ProtocolError } from "../protocol/errors.js";
import type { MessageOf } from "../protocol/messages.js";
import type { Principal } from "./connection.js";
import type { LogStore } from "./log-store.js";

/**
 * Checks and stores an append of `who` (an `appendIf` only if its claims hold: else nothing is
 * stored and the stale handles come back). Calls `signatureFailure` before refusing a signature.
 * @throws ProtocolError `bad_frame` (not an envelope, another folder's), `forbidden` (another
 * device's), `bad_signature`, `conflict` (the deviceSeq holds other bytes)
 */
export async function storeAppend(
  store: LogStore,
  who: Principal,
  m: MessageOf<"append"> | MessageOf<"appendIf">,
  signatureFailure: () => void,
): Promise<
  | { seq: number; deviceSeq: number; duplicate: boolean }
  | { stale: Uint8Array[]; deviceSeq: number }
> {
  const { folderId, envelope } = m;
  let env: Envelope;
  try {
    env = decodeEnvelope(envelope);
  } catch (cause) {
    throw new ProtocolError("bad_frame", `${m.type}.envelope is not an envelope`, { cause });
  }
  if (env.folderId !== folderId)
    throw new ProtocolError("bad_frame", "the envelope is of another folder");
  if (env.deviceId !== who.deviceId)
    throw new ProtocolError("forbidden", "the envelope is of another device");
  const key = await store.memberDeviceKey(folderId, who.deviceId);
  if (!key || !verifyEnvelopeSignature(env, key)) {
    signatureFailure();
    throw new ProtocolError(
      "bad_signature",
      "the envelope's signature does not verify for its device",
    );
  }
  try {
    const stored =
      m.type === "appendIf"
        ? await store.appendIf(folderId, env.deviceId, env.deviceSeq, envelope, m.claims)
        : await store.append(folderId, env.deviceId, env.deviceSeq, envelope);
    return { ...stored, deviceSeq: env.deviceSeq };
  } catch (error) {
    if ((error as { code?: string }).code === "ALREADY_EXISTS")
      throw new ProtocolError(
        "conflict",
        `deviceSeq ${env.deviceSeq} is taken by another envelope`,
      );
    throw error;
  }
}

/**
 * Checks and stores a snapshot, then prunes the log: entries every member device heard from
 * since `silentBefore` has acknowledged and the snapshot covers. `check` (the relay's quotas)
 * runs after the snapshot's own checks, before it is stored.
 * @throws ProtocolError `bad_frame` for a coversSeq past the head or an epoch past the folder's
 */
export async function storeSnapshot(
  store: LogStore,
  m: MessageOf<"snapshotPut">,
  silentBefore: number,
  check?: () => Promise<void>,
): Promise<void> {
  const head = await store.headSeq(m.folderId);
  if (m.coversSeq > head)
    throw new ProtocolError("bad_frame", `coversSeq is past the head ${head}`);
  // Sealed under a key the folder does not have yet: no member could open it, and it would
  // still replace the folder's snapshot.
  const epoch = (await store.folder(m.folderId))?.epoch ?? 0;
  if (m.epoch > epoch)
    throw new ProtocolError("bad_frame", `epoch ${m.epoch} is past the folder's ${epoch}`);
  await check?.();
  await store.putSnapshot(m.folderId, m.epoch, m.coversSeq, m.ciphertext);
  // A new snapshot is when older entries may become unneeded: those every member device has
  // acknowledged and the snapshot covers. A device silent for long counts as gone: one that
  // never acks would otherwise keep the whole log for ever. Pruned before the answer, so that
  // whoever heard `ok` finds the log as the snapshot left it, on any relay; a failed prune is
  // retried with the next snapshot.
  await store.pruneLog(m.folderId, silentBefore).catch(() => undefined);
}
