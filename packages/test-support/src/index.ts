// Test support: Weft's relay and `weft` agents as real processes, a fault-injecting proxy, free ports.
export * from "./agent-process.js";
export * from "./fault-proxy.js";
export * from "./nats-process.js";
export * from "./page-server.js";
export * from "./pg-database.js";
export * from "./free-port.js";
export * from "./relay-cluster.js";
export * from "./relay-process.js";
export * from "./s3rver-process.js";
export * from "./ui-process.js";
