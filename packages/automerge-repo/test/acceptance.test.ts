// automerge-repo's own network adapter acceptance suite, run against WeftNetworkAdapter on three
// replicas of one folder over the in-memory hub (the relay's protocol, in process): each Repo
// has the live peers adapter and the folder adapter, as an app would.
import { runNetworkAdapterTests } from "@automerge/automerge-repo/helpers/tests/network-adapter-tests.js";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { MemoryBlobStore, MemoryStateStore, Replica } from "@weft/core";
import { MemoryHub } from "@weft/core/testing";
import { WeftNetworkAdapter, WeftPeersAdapter } from "../src/index.js";

runNetworkAdapterTests(async () => {
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const hub = new MemoryHub();
  const replicas: Replica[] = [];
  const adapter = async () => {
    const identity = generateDeviceIdentity();
    hub.addMember(folderId, identity.signPublicKey);
    const replica = await Replica.open({
      identity,
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      connect: () => hub.connect(),
      token: hub.tokenFor(identity.deviceId),
      remoteBlobs: hub.blobClient(identity.deviceId),
    });
    replica.start();
    replicas.push(replica);
    // The suite gives peers 50 ms to meet: start it with the devices on the hub.
    await online(replica);
    // The live peers first: the suite's low-level tests take each peer's first adapter.
    // The suite's teardown closes the replicas under Repos still running: their late stores fail.
    const onError = () => undefined;
    return [
      new WeftPeersAdapter({ replica, onError }),
      new WeftNetworkAdapter({ replica, onError }),
    ];
  };
  return {
    adapters: [await adapter(), await adapter(), await adapter()],
    teardown: () => {
      for (const r of replicas) void r.close();
    },
  };
});

function online(replica: Replica): Promise<void> {
  return new Promise((resolve) => {
    if (replica.status === "online") return resolve();
    const off = replica.on("status", ({ status }) => {
      if (status !== "online") return;
      off();
      resolve();
    });
  });
}
