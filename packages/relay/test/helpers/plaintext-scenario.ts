// Two accounts' Replicas syncing a file with a distinctive name and content, and a Yjs document,
// through a relay: what a plaintext scan of the relay's storage looks for afterwards.
import {
  HttpBlobStore,
  MemoryBlobStore,
  MemoryStateStore,
  Replica,
  createWebSocketTransport,
} from "@weft/core";
import {
  type DeviceIdentity,
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { expect } from "vitest";
import { WebSocket } from "ws";
import { call, signUp } from "@weft/test-support";

/**
 * Syncs `plans/SECRET-NAME.txt` and a document from one new account to another through the relay
 * at `url`; returns the byte strings that must appear nowhere in the relay's storage.
 */
export async function syncDistinctiveFile(url: string): Promise<Buffer[]> {
  await ready();
  const alice = generateDeviceIdentity();
  const bob = generateDeviceIdentity();
  const aliceToken = await signUp(url, "scan-alice", alice);
  const bobToken = await signUp(url, "scan-bob", bob);
  const folderId = newFolderId();
  expect((await call(url, "POST", "/v1/folders", { folderId }, aliceToken)).status).toBe(201);
  const member = { user: "scan-bob", role: "editor" };
  const added = await call(url, "POST", `/v1/folders/${folderId}/members`, member, aliceToken);
  expect(added.status).toBe(204);
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey()); // shared out of band here
  const open = (identity: DeviceIdentity, token: string): Promise<Replica> =>
    Replica.open({
      identity,
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      connect: () =>
        createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket, token }),
      token,
      remoteBlobs: new HttpBlobStore({ baseUrl: url, folderId, token }),
    });
  const a = await open(alice, aliceToken);
  const b = await open(bob, bobToken);
  const secret = "QUARTERLY-SECRET-PLAN ".repeat(100);
  try {
    a.start();
    b.start();
    await a.writeFile("plans/SECRET-NAME.txt", new TextEncoder().encode(secret));
    (await a.doc("minutes")).getText("t").insert(0, "MINUTES-MARKER");
    await a.syncOnce(); // stored by the relay
    // syncOnce cannot know of an entry the relay has not pushed yet: wait for it to arrive.
    const arrived = () =>
      !!b.stat("plans/SECRET-NAME.txt") && b.stats().appliedSeq >= a.stats().appliedSeq;
    await new Promise<void>((resolve) => {
      const done = () => {
        if (!arrived()) return;
        off();
        resolve();
      };
      const off = b.on("change", done);
      done();
    });
    await b.syncOnce(); // its chunks downloaded
    expect(new TextDecoder().decode(await b.readFile("plans/SECRET-NAME.txt"))).toBe(secret);
    expect((await b.doc("minutes")).getText("t").toJSON()).toBe("MINUTES-MARKER");
  } finally {
    await a.close();
    await b.close();
  }
  return ["SECRET-NAME", "QUARTERLY-SECRET", "MINUTES-MARKER", "plans"].map((s) => Buffer.from(s));
}
