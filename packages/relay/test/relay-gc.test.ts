// Garbage collection end to end: a Replica asks the real relay to delete the chunks that no
// version references any more (history dropped by retention), and the relay's grace period keeps
// fresh ones. Another device still reads the current version and restores the one kept in history.
import {
  type DeviceIdentity,
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import {
  HttpBlobStore,
  MemoryBlobStore,
  MemoryStateStore,
  Replica,
  createWebSocketTransport,
} from "@weft/core";
import { afterEach, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess | undefined;
const replicas: Replica[] = [];

afterEach(async () => {
  for (const r of replicas.splice(0)) await r.close();
  await relay?.dispose();
});

async function setup(graceSeconds: number) {
  await ready();
  relay = await startRelayProcess({ WEFT_RELAY_GC_GRACE: String(graceSeconds) });
  const url = relay.url;
  const alice = generateDeviceIdentity();
  const bob = generateDeviceIdentity();
  const aliceToken = await signUp(url, "alice", alice);
  const bobToken = await signUp(url, "bob", bob);
  const folderId = newFolderId();
  await call(url, "POST", "/v1/folders", { folderId }, aliceToken);
  await call(
    url,
    "POST",
    `/v1/folders/${folderId}/members`,
    { user: "bob", role: "editor" },
    aliceToken,
  );
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  const open = async (identity: DeviceIdentity, token: string) => {
    const remote = new HttpBlobStore({ baseUrl: url, folderId, token });
    const replica = await Replica.open({
      identity,
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      connect: () =>
        createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket, token }),
      token,
      remoteBlobs: remote,
      retention: { maxVersions: 1, maxAgeMs: 365 * 24 * 3600 * 1000 },
    });
    replicas.push(replica);
    return { replica, remote };
  };
  return { a: await open(alice, aliceToken), b: await open(bob, bobToken) };
}

const text = (s: string) => new TextEncoder().encode(s.repeat(2000));
async function count(remote: HttpBlobStore): Promise<number> {
  let n = 0;
  for await (const _ of remote.listIds()) n++;
  return n;
}

test("chunks of versions that fell out of history are deleted; current and kept history stay readable", async () => {
  const { a, b } = await setup(0);
  for (const v of ["one ", "two ", "three "]) {
    await a.replica.writeFile("doc.txt", text(v));
    await a.replica.syncOnce();
  }
  expect(await count(a.remote)).toBe(3); // one chunk per version, all still on the relay
  const report = await a.replica.collectGarbage();
  // "one" fell out of history (retention keeps 1 earlier version): its chunk is garbage.
  expect(report).toEqual({ live: 2, unreferenced: 1, deleted: 1, kept: 0 });
  expect(await count(a.remote)).toBe(2);

  await b.replica.syncOnce();
  expect(new TextDecoder().decode(await b.replica.readFile("doc.txt"))).toBe("three ".repeat(2000));
  const [previous] = b.replica.history("doc.txt");
  await b.replica.restore("doc.txt", `${previous!.device}:${previous!.vv.get(previous!.device)}`);
  expect(new TextDecoder().decode(await b.replica.readFile("doc.txt"))).toBe("two ".repeat(2000));
}, 60_000);

test("within the grace period nothing is deleted: an upload whose entry has not arrived is safe", async () => {
  const { a } = await setup(3600);
  for (const v of ["one ", "two ", "three "]) {
    await a.replica.writeFile("doc.txt", text(v));
    await a.replica.syncOnce();
  }
  expect(await a.replica.collectGarbage()).toEqual({
    live: 2,
    unreferenced: 1,
    deleted: 0,
    kept: 1,
  });
  expect(await count(a.remote)).toBe(3);
}, 60_000);
