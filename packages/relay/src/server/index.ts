/** The relay's network face: HTTP routes (accounts, folders, members, invites, chunks), the WebSocket server around core's ProtocolServer, access checks and metrics. */
export { DEVICE_REMOVED, SIGN_IN_ENDED, verifiedClaims } from "./access.js";
export {
  type BufferLimits,
  ByteBudget,
  DEFAULT_BUFFER_BYTES_PER_ACCOUNT,
  DEFAULT_BUFFER_BYTES_PER_ADDRESS,
  defaultBufferLimits,
} from "./byte-budget.js";
export { ACCESS_TTL_SECONDS, registerApi } from "./api.js";
export { FolderBlobs } from "./folder-blobs.js";
export { json, route } from "./http.js";
export { type QuotaLimits, Quotas } from "./quotas.js";
export { RelayMetrics } from "./metrics.js";
export { DEFAULT_SOCKET_LIMITS, type SocketLimits, registerSocketServer } from "./ws-server.js";
