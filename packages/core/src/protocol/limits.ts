/** Size limits of the wire protocol, shared by the codec, the relay and the clients. */
import { MAX_ENVELOPE_CIPHERTEXT } from "@weft/crypto";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Bytes an encoded envelope adds around its ciphertext (see @weft/crypto's README): version 1,
 * folder id 1 + 26, device id 1 + 39, deviceSeq 8, epoch 4, nonce 24, ciphertext length 4,
 * signature 64. A test seals a real envelope to keep this in step with @weft/crypto.
 */
export const ENVELOPE_OVERHEAD_BYTES = 1 + 1 + 26 + 1 + 39 + 8 + 4 + 24 + 4 + 64;

/**
 * Every size limit of the protocol. The decoder enforces each one before it copies anything,
 * the encoder refuses to produce a frame the other side would refuse, and the relay reads its
 * HTTP limits from here, so one number never differs between the ends.
 */
export const frameLimits = Object.freeze({
  /**
   * Largest frame of any type: one envelope of the largest size plus 64 KiB for the frame's
   * own fields. WebSocket servers should set their max payload to this.
   */
  maxFrameBytes: 16 * MiB + 64 * KiB,
  /** Largest encoded envelope: @weft/crypto's 16 MiB ciphertext limit plus its header. */
  maxEnvelopeBytes: MAX_ENVELOPE_CIPHERTEXT + ENVELOPE_OVERHEAD_BYTES,
  /**
   * Most envelopes in one `envelopes` batch. The batch is also bounded by `maxFrameBytes`; the
   * relay cuts a batch at whichever comes first. 256 small index updates (a few hundred bytes
   * each) make a frame of about 100 KiB: enough to amortise framing and per-message work on
   * catch-up, small enough that one batch is not a long stall for a slow link.
   */
  maxEnvelopesPerBatch: 256,
  /** Most chunk ids in one `haveCheck` (32 KiB of ids) and its `haveResult`. */
  maxChunkIdsPerCheck: 1024,
  /** Most claims of one `appendIf`, and handles of one `stale`. */
  maxHeadClaims: 256,
  /**
   * Largest snapshot ciphertext. A snapshot travels in one frame, so it shares the envelope's
   * bound; an index that outgrows it needs a snapshot split across frames or stored as chunks,
   * which is a new message and so a new protocol version.
   */
  maxSnapshotBytes: 16 * MiB,
  /** Largest presence payload: awareness (cursors, selections) is small and sent often. */
  maxPresencePayloadBytes: 1 * KiB,
  /** Most devices in one `presenceList` (a larger folder's list takes several frames). */
  maxPresenceListItems: 256,
  /**
   * Largest `ephemeral` payload: awareness beyond a presence payload (a selection, a short
   * "is typing" state), never stored, so kept small enough to fan out often.
   */
  maxEphemeralBytes: 8 * KiB,
  /** Longest access token; JWTs with a few claims are well under 1 KiB. */
  maxTokenBytes: 8 * KiB,
  /** Longest software name or version string in `hello`/`welcome`. */
  maxSoftwareInfoBytes: 64,
  /** Longest human-readable text of an `error` message. */
  maxErrorMessageBytes: 1 * KiB,
  /** Highest protocol version number a peer may announce (versions are small integers). */
  maxProtocolVersion: 0xffff,
});

/** Bytes of a strong folder's file handle and head token (`HeadClaim`): a 256-bit keyed digest. */
export const HEAD_DIGEST_BYTES = 32;

/** Every frame that carries no bulk data fits in this: a few ids and integers. */
const SMALL = 256;

/**
 * The largest frame of each message type. A frame above its type's limit is refused as
 * `too_large` as soon as its header is read, before any field is parsed. Each value is the
 * largest valid message of the type plus slack (a test encodes the largest message of every
 * type and checks it fits).
 */
export const messageFrameLimits = Object.freeze({
  hello: SMALL,
  welcome: SMALL,
  auth: frameLimits.maxTokenBytes + 64,
  ok: SMALL,
  ping: SMALL,
  error: frameLimits.maxErrorMessageBytes + 64,
  subscribe: SMALL,
  subscribed: SMALL,
  unsubscribe: SMALL,
  append: frameLimits.maxEnvelopeBytes + 64,
  appendIf: frameLimits.maxEnvelopeBytes + frameLimits.maxHeadClaims * 99 + 64,
  stale: frameLimits.maxHeadClaims * 33 + 64,
  appended: SMALL,
  envelopes: frameLimits.maxFrameBytes,
  ack: SMALL,
  snapshotPut: frameLimits.maxSnapshotBytes + 64,
  snapshotGet: SMALL,
  snapshot: frameLimits.maxSnapshotBytes + 64,
  haveCheck: frameLimits.maxChunkIdsPerCheck * 32 + 64,
  haveResult: frameLimits.maxChunkIdsPerCheck * 32 + 64,
  presence: frameLimits.maxPresencePayloadBytes + 128,
  presenceList: frameLimits.maxPresenceListItems * (frameLimits.maxPresencePayloadBytes + 64) + 64,
  ephemeral: frameLimits.maxEphemeralBytes + 128,
});
