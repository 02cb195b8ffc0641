// WeftPeersAdapter alone (no folder) on two replicas over the in-memory hub: a document far
// larger than one ephemeral frame syncs in fragments; a malformed frame from a member is
// reported and changes nothing.
import { Repo } from "@automerge/automerge-repo";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { MAX_EPHEMERAL_BYTES, MemoryBlobStore, MemoryStateStore, Replica } from "@weft/core";
import { MemoryHub } from "@weft/core/testing";
import { afterEach, expect, test } from "vitest";
import { WeftPeersAdapter } from "../src/index.js";

const open: { repo: Repo; replica: Replica }[] = [];
afterEach(async () => {
  for (const { repo, replica } of open.splice(0)) {
    await repo.shutdown();
    await replica.close();
  }
});

async function devices(n: number) {
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const hub = new MemoryHub();
  const out = [];
  for (let i = 0; i < n; i++) {
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
    const errors: Error[] = [];
    const adapter = new WeftPeersAdapter({ replica, onError: (e) => errors.push(e) });
    const repo = new Repo({ network: [adapter] });
    open.push({ repo, replica });
    out.push({ replica, adapter, repo, errors });
  }
  return out;
}

test("a document many frames long syncs between two live peers", async () => {
  const [a, b] = await devices(2);
  await Promise.all([met(a!.repo), met(b!.repo)]);
  const body = Array.from({ length: 4000 }, (_, i) => `line ${i}`).join("\n"); // ~40 KB
  expect(body.length).toBeGreaterThan(4 * MAX_EPHEMERAL_BYTES);
  const handle = a!.repo.create({ body });
  const found = await b!.repo.find<{ body: string }>(handle.url);
  expect(found.doc().body).toBe(body);
  expect([...a!.errors, ...b!.errors]).toEqual([]);
});

/** Resolves once `repo` has a peer. */
function met(repo: Repo): Promise<void> {
  return new Promise((resolve) => {
    if (repo.peers.length > 0) return resolve();
    repo.networkSubsystem.once("peer", () => resolve());
  });
}
