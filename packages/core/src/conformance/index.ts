/**
 * @weft/core/conformance — the suites that every StateStore, BlobStore, Transport and protocol server runs
 * from its own test file (written once, as automerge-repo does for its adapters).
 *
 * This entry point imports vitest, so it needs vitest installed (an optional peer dependency of
 * @weft/core); no other entry of @weft/core loads it.
 */
export {
  type StoreFixture,
  type StoreSetup,
  expectSameBytes,
  expectWeftError,
  patternBytes,
} from "./fixtures.js";
export { runStateStoreTests } from "./state-store-suite.js";
export { type BlobStoreTestOptions, runBlobStoreTests } from "./blob-store-suite.js";
export { runTransportTests, type TransportPair, type TransportSetup } from "./transport-suite.js";
export {
  type ProtocolDevice,
  type ProtocolFixture,
  type ProtocolSetup,
  runProtocolTests,
} from "./protocol-suite.js";
