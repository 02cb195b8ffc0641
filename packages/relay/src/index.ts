/** @weft/relay — the relay: a thin uWebSockets.js server that stores ciphertext and metadata only. */
export { startRelay, type Relay, type StartOptions } from "./relay.js";
export { parseConfig, DEFAULTS, HELP, type RelayConfig } from "./config.js";
export { runRelayCommand } from "./run.js";
