/**
 * @weft/core/testing — a test network for apps and for Weft's own tests: n replicas of one
 * folder over an in-memory hub that speaks the relay's protocol and sees only ciphertext.
 * Needs no test framework.
 */
export { createTestNetwork, type TestNetwork, type TestNetworkOptions } from "./network.js";
export { MemoryHub, type MemoryHubOptions } from "./hub.js";
export {
  type HubBlobClient,
  type HubTraffic,
  type MemoryHubTransport,
  seededRandom,
} from "./scheduler.js";
