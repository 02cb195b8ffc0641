// MemoryHub's blob client against the shared BlobStore conformance suite: one fresh hub per test.
import { generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { runBlobStoreTests } from "../src/conformance/index.js";
import { MemoryHub } from "../src/testing/index.js";

runBlobStoreTests("MemoryHub blob client", async () => {
  await ready();
  const hub = new MemoryHub({ seed: 1 });
  const deviceId = hub.addMember(newFolderId(), generateDeviceIdentity().signPublicKey);
  return {
    store: hub.blobClient(deviceId),
    teardown: () => {
      hub.close();
      return Promise.resolve();
    },
  };
});
