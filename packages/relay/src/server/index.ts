/** The relay's network face: HTTP routes (accounts, folders, members, invites, chunks), the WebSocket server around core's ProtocolServer, access checks and metrics. */
export { DEVICE_REMOVED } from "./access.js";
export { registerApi } from "./api.js";
export { FolderBlobs } from "./folder-blobs.js";
export { json, route } from "./http.js";
export { RelayMetrics } from "./metrics.js";
export { DEFAULT_SOCKET_LIMITS, type SocketLimits, registerSocketServer } from "./ws-server.js";
