// WeftPeersAdapter alone (no folder) on two replicas over the in-memory hub: a document far
// larger than one ephemeral frame syncs in fragments; a malformed frame from a member is
// reported and changes nothing; a device coming online meets the online peers before its Repo
// asks for a document.
import { type Message, Repo, cbor } from "@automerge/automerge-repo";
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
import { PEERS_CHANNEL, WeftPeersAdapter } from "../src/index.js";

const open: { repo: Repo; replica: Replica }[] = [];
afterEach(async () => {
  for (const { repo, replica } of open.splice(0)) {
    await repo.shutdown();
    await replica.close();
  }
});

/** A folder on an in-memory hub; `join()` brings one more device online with a Repo on it. */
async function folder() {
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const hub = new MemoryHub();
  const join = async () => {
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
    return { replica, adapter, repo, errors };
  };
  return { join };
}

async function devices(n: number) {
  const { join } = await folder();
  const out = [];
  for (let i = 0; i < n; i++) out.push(await join());
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

test("a member's malformed or spoofed frames are reported and delivered to no Repo", async () => {
  const [a, b, mallory] = await devices(3);
  await Promise.all([met(a!.repo), met(b!.repo)]);
  const received: Message[] = [];
  b!.adapter.on("message", (m) => received.push(m));
  const channel = await mallory!.replica.openDocChannel(PEERS_CHANNEL, "automerge");
  // Speaking as a's Repo from another device; then bytes that are no frame at all.
  channel.publishEphemeral(
    cbor.encode({
      k: "msg",
      p: a!.repo.peerId,
      to: b!.repo.peerId,
      id: 0,
      i: 0,
      n: 1,
      b: cbor.encode({ type: "sync", senderId: a!.repo.peerId, targetId: b!.repo.peerId }),
    }),
  );
  channel.publishEphemeral(Uint8Array.of(0xff, 0x00, 0x13));
  await until(() => b!.errors.length > 0);
  expect(b!.errors.map((e) => e.message)).toEqual([
    expect.stringMatching(/^a peers frame from .* is malformed$/),
  ]);
  expect(received.filter((m) => m.senderId === a!.repo.peerId)).toEqual([]);
  expect(a!.repo.peers).toContain(b!.repo.peerId); // nothing broke between a and b
});

test("a device coming online finds a document that only an online peer's Repo holds", async () => {
  const { join } = await folder();
  const a = await join();
  const handle = a.repo.create({ title: "groceries" });
  // b's Repo connects its adapter as it is constructed, before the replica is online: it must
  // wait to meet a's Repo, not ask no one and declare the document unavailable.
  const b = await join();
  const found = await b.repo.find<{ title: string }>(handle.url);
  expect(found.doc().title).toBe("groceries");
  expect([...a.errors, ...b.errors]).toEqual([]);
});

/** Resolves once `check()` holds, polled on every turn of the event loop. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

/** Resolves once `repo` has a peer. */
function met(repo: Repo): Promise<void> {
  return new Promise((resolve) => {
    if (repo.peers.length > 0) return resolve();
    repo.networkSubsystem.once("peer", () => resolve());
  });
}
