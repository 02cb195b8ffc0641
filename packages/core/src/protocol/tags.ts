/** The numbers on the wire: frame format, tags, error codes, enumerations. Never renumber. */
import type { ProtocolErrorCode } from "./errors.js";
import type { MessageType, PresenceStatus } from "./messages.js";

/**
 * Byte 0 of every frame. It versions the framing (this header and the tag table's meaning),
 * not the negotiated protocol: it stays 1 across protocol versions so that any two peers can
 * always exchange `hello`, `welcome` and `error`.
 */
export const FRAME_FORMAT = 1;

/**
 * Byte 1 of every frame: the message type. Never renumber or reuse a value; a retired message
 * keeps its number here, commented out, so an old frame can never be misread as a new one.
 *
 *   0x00        reserved: a zeroed buffer must not decode as a message
 *   0x01–0x0f   connection: hello, welcome, auth, ok, error, ping
 *   0x10–0x1f   the folder log
 *   0x20–0x2f   snapshots
 *   0x30–0x3f   blobs
 *   0x40–0x4f   presence and awareness
 *   0xff        reserved for a future extension frame
 *   (retired tags: none yet)
 */
export const MESSAGE_TAGS: Readonly<Record<MessageType, number>> = Object.freeze({
  hello: 0x01,
  welcome: 0x02,
  auth: 0x03,
  ok: 0x04,
  error: 0x05,
  ping: 0x06,
  subscribe: 0x10,
  subscribed: 0x11,
  unsubscribe: 0x12,
  append: 0x13,
  appended: 0x14,
  envelopes: 0x15,
  ack: 0x16,
  appendIf: 0x17,
  stale: 0x18,
  snapshotPut: 0x20,
  snapshotGet: 0x21,
  snapshot: 0x22,
  haveCheck: 0x30,
  haveResult: 0x31,
  presence: 0x40,
  ephemeral: 0x41,
  presenceList: 0x42,
});

/** Wire numbers of the error codes; 0 is reserved. Same rule as tags: never renumber. */
export const ERROR_CODE_NUMBERS: Readonly<Record<ProtocolErrorCode, number>> = Object.freeze({
  bad_frame: 1,
  unsupported_version: 2,
  unauthorized: 3,
  forbidden: 4,
  not_found: 5,
  conflict: 6,
  too_large: 7,
  rate_limited: 8,
  bad_signature: 9,
  unavailable: 10,
  internal: 11,
  quota_exceeded: 12,
});

/** Wire numbers of presence states; 0 is reserved. */
export const PRESENCE_NUMBERS: Readonly<Record<PresenceStatus, number>> = Object.freeze({
  online: 1,
  away: 2,
  offline: 3,
});

/** Message type by tag, for the decoder. */
export const TYPE_BY_TAG = invert(MESSAGE_TAGS);
/** Error code by wire number, for the decoder. */
export const CODE_BY_NUMBER = invert(ERROR_CODE_NUMBERS);
/** Presence status by wire number, for the decoder. */
export const PRESENCE_BY_NUMBER = invert(PRESENCE_NUMBERS);

function invert<K extends string>(table: Readonly<Record<K, number>>): ReadonlyMap<number, K> {
  return new Map(Object.entries(table).map(([k, v]) => [v as number, k as K]));
}
