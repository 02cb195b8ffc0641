// The IndexedDB stores against the shared conformance suites, in Chromium (vitest browser mode):
// each test gets a database of its own, reopened as a reloaded page would, and deleted after.
import { runBlobStoreTests, runStateStoreTests } from "@weft/core/conformance";
import { IndexedDbBlobStore, IndexedDbStateStore } from "@weft/browser";

let n = 0;
const freshName = (): string => `weft-conformance-${Date.now()}-${n++}`;

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error ?? new Error(`could not delete ${name}`));
  });
}

runStateStoreTests("IndexedDbStateStore", async () => {
  const name = freshName();
  return {
    store: await IndexedDbStateStore.open(name),
    reopen: () => IndexedDbStateStore.open(name),
    teardown: () => deleteDatabase(name),
  };
});

runBlobStoreTests("IndexedDbBlobStore", async () => {
  const name = freshName();
  return {
    store: await IndexedDbBlobStore.open(name),
    reopen: () => IndexedDbBlobStore.open(name),
    teardown: () => deleteDatabase(name),
  };
});
