// The in-memory stores against the shared conformance suites; they keep nothing, so no reopen.
import { runBlobStoreTests, runStateStoreTests } from "@weft/core/conformance";
import { MemoryBlobStore, MemoryStateStore } from "../src/storage/index.js";

const nothingToRemove = (): Promise<void> => Promise.resolve();

runStateStoreTests("MemoryStateStore", () =>
  Promise.resolve({ store: new MemoryStateStore(), teardown: nothingToRemove }),
);
runBlobStoreTests("MemoryBlobStore", () =>
  Promise.resolve({ store: new MemoryBlobStore(), teardown: nothingToRemove }),
);
