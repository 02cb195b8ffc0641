/** @weft/core/server — the relay's WebSocket protocol without the sockets: one ProtocolServer over a LogStore, run by the relay (SQLite) and the test hub (memory). */
export {
  type Principal,
  type ProtocolConnection,
  type ProtocolServerEvents,
  newConnectionState,
} from "./connection.js";
export {
  MAX_SESSIONS_PER_ACCOUNT,
  MAX_SUBSCRIPTIONS,
  REPLAY_HIGH_WATER_BYTES,
  SUBSCRIBES_PER_SECOND,
  SUBSCRIBE_BURST,
} from "./limits.js";
export type { AppendIfResult, LogEntry, LogStore, Role, SnapshotRecord } from "./log-store.js";
export { MemoryLogStore } from "./memory-log-store.js";
export { ProtocolServer, type ProtocolServerOptions } from "./protocol-server.js";
