/** The wire protocol: relay ⇄ device messages, binary codec, limits, Transport. Pure, no I/O. */
export {
  PROTOCOL_ERROR_CODES,
  PROTOCOL_ERROR_HTTP_STATUS,
  ProtocolError,
  type ProtocolErrorCode,
  isProtocolErrorCode,
} from "./errors.js";
export {
  type AckMessage,
  type AppendIfMessage,
  type AppendMessage,
  type AppendedMessage,
  type HeadClaim,
  type StaleMessage,
  type AuthMessage,
  type EphemeralMessage,
  type EnvelopesMessage,
  type ErrorMessage,
  type HaveCheckMessage,
  type HaveResultMessage,
  type HelloMessage,
  type Message,
  type MessageOf,
  type MessageType,
  type OkMessage,
  type PingMessage,
  type PresenceItem,
  type PresenceListMessage,
  type PresenceMessage,
  type PresenceStatus,
  type SequencedEnvelope,
  type SnapshotData,
  type SnapshotGetMessage,
  type SnapshotMessage,
  type SnapshotPutMessage,
  type SoftwareInfo,
  type SubscribeMessage,
  type SubscribedMessage,
  type UnsubscribeMessage,
  type VersionRange,
  type WelcomeMessage,
  errorMessageFor,
  protocolErrorFrom,
} from "./messages.js";
export {
  ENVELOPE_OVERHEAD_BYTES,
  HEAD_DIGEST_BYTES,
  frameLimits,
  messageFrameLimits,
} from "./limits.js";
export { PROTOCOL_VERSION, SUPPORTED_VERSIONS, negotiateVersion } from "./version.js";
export { validateMessage } from "./validate.js";
export { decodeMessage, encodeMessage } from "./codec.js";
export { FRAME_FORMAT, MESSAGE_TAGS } from "./tags.js";
export {
  type MemoryTransport,
  type Transport,
  type TransportCloseInfo,
  type TransportEventMap,
  type TransportListener,
  type TransportState,
  createMemoryTransportPair,
} from "./transport.js";
export {
  BATCH_CHUNK_LIMIT,
  type BatchChunk,
  MAX_CHUNK_BATCH_BYTES,
  MAX_BATCH_CHUNKS,
  batchedSize,
  decodeChunkBatch,
  encodeChunkBatch,
} from "./chunk-batch.js";
