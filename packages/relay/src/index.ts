/** @weft/relay — the relay: a thin uWebSockets.js server that stores ciphertext and metadata only. */
export { startRelay, type Relay, type StartOptions } from "./relay.js";
export { parseConfig, DEFAULTS, HELP, type RelayConfig } from "./config.js";
export { runRelayCommand } from "./run.js";
// Types the configuration refers to (for the API docs and for code that builds a RelayConfig).
export type { BlobsConfig } from "./store/s3/blobs-config.js";
export type { LoginLimits } from "./auth/login-gate.js";
export type { SocketLimits } from "./server/ws-server.js";
export type { BufferLimits } from "./server/byte-budget.js";
