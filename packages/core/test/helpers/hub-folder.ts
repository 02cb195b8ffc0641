/** Test helper: one folder on a MemoryHub with two seeded member devices, a writer and a reader. */
import {
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  deviceIdentityFromSeeds,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import type { Replica } from "../../src/index.js";
import { MemoryHub } from "../../src/testing/index.js";

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/** What {@link hubFolder} makes: the hub (close it after the test) and the folder's members. */
export interface HubFolder {
  hub: MemoryHub;
  folderId: FolderId;
  keyring: FolderKeyring;
  writer: DeviceIdentity;
  reader: DeviceIdentity;
}

/**
 * A new folder with a key at epoch 0 on a new hub (delivery order from `hubSeed`), whose members
 * are two devices with fixed keys: `writer` and `reader`.
 */
export async function hubFolder(hubSeed: number): Promise<HubFolder> {
  await ready();
  const hub = new MemoryHub({ seed: hubSeed });
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const writer = deviceIdentityFromSeeds(seed(1), seed(2));
  const reader = deviceIdentityFromSeeds(seed(3), seed(4));
  hub.addMember(folderId, writer.signPublicKey);
  hub.addMember(folderId, reader.signPublicKey);
  return { hub, folderId, keyring, writer, reader };
}

/** `replica.syncOnce()` on `hub`, delivering the hub's queued traffic until it resolves. */
export async function syncOnHub(hub: MemoryHub, replica: Replica): Promise<void> {
  let done = false;
  const synced = replica.syncOnce().finally(() => (done = true));
  while (!done) {
    await hub.drain();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await synced;
}
