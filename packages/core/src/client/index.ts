/** Clients of the relay: the WebSocket transport for the protocol, the HTTP chunk store, and accounts, folders and invites. */
export {
  type WebSocketConstructor,
  type WebSocketLike,
  type WebSocketTransportOptions,
  createWebSocketTransport,
} from "./websocket-transport.js";
export { RelayEndpoints } from "./relay-endpoints.js";
export { HttpBlobStore, type HttpBlobStoreOptions } from "./http-blob-store.js";
export {
  BLOB_ROUTES,
  type BlobDeleteAnswer,
  HTTP_BLOB_ID_LIST_BYTES,
  HTTP_BLOB_ID_PAGE,
  HTTP_BLOB_MAX_BYTES,
  HTTP_BLOB_MAX_IDS,
  HTTP_BLOB_PART_BYTES,
} from "./blob-routes.js";
export {
  type AccountDevice,
  type CreateInviteOptions,
  type DevicePublicKeys,
  type FolderMemberDevice,
  type FolderMemberInfo,
  type FolderMembers,
  type FolderRole,
  type FolderState,
  type RefusedKey,
  type RotationResult,
  mergeKeyring,
  type RedeemedInvite,
  type RelayHttpOptions,
  type RelayInvite,
  type RelayLoginOptions,
  type RelayReplicaOptions,
  type RelayResumeOptions,
  RelaySession,
  type RelaySessionOptions,
  type RelayTokenStore,
  type RelayTokens,
  RelayAccount,
  encodeInvite,
  parseInvite,
} from "./relay-account.js";
export {
  EPOCH_RECORD_CONTEXT,
  type EpochRecord,
  MAX_EPOCH_DEVICES,
  decodeEpochRecord,
  encodeEpochRecord,
  epochKeyCheck,
  epochKeyMatches,
  makeEpochRecord,
  openPreviousKey,
  verifyEpochRecord,
} from "./epoch-record.js";
export {
  FOLDER_META_CONTEXT,
  MAX_FOLDER_META_CHARS,
  type FolderMetaRecord,
  type FolderMetadata,
  decodeFolderMeta,
  encodeFolderMeta,
  makeFolderMeta,
  openFolderMeta,
  verifyFolderMeta,
} from "./folder-meta.js";
export type { VerifiedFolderMetadata } from "./relay-folder-meta.js";
export { type KeyChainInput, type KeyChainResult, extendKeyring } from "./key-chain.js";
export { type RelayHttp } from "./relay-http.js";
