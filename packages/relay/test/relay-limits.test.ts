// The relay's limits on what one account or device can make it keep, against one relay process
// (`WEFT_RELAY_PRUNE_SILENT_AFTER=1`, `WEFT_RELAY_ACCOUNT_FOLDERS=3`):
// - a device that goes silent stops holding back log pruning, and catches up from the snapshot
//   when it returns: bob syncs once and closes; a second later alice's next snapshot lets the
//   relay prune past bob's last ack (which, before, kept the whole log for ever); bob reopens,
//   finds the log pruned after his position, loads the snapshot, and has every file;
// - an account owns at most so many folders (each has its own chunk quota);
// - a snapshot sealed under an epoch the folder has not reached is refused.
import Database from "better-sqlite3";
import { join } from "node:path";
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
  type Message,
  Replica,
  SUPPORTED_VERSIONS,
  createWebSocketTransport,
} from "@weft/core";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess;
let db: Database.Database | undefined;
const replicas: Replica[] = [];

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess({
    WEFT_RELAY_PRUNE_SILENT_AFTER: "1",
    WEFT_RELAY_ACCOUNT_FOLDERS: "3",
  });
}, 60_000);
afterEach(async () => {
  for (const r of replicas.splice(0)) await r.close();
  db?.close();
});
afterAll(async () => {
  await relay?.dispose();
});

/** Resolves at `time` (ms since the epoch): silence is measured by the relay's clock. */
function sleepUntil(time: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, time - Date.now())));
}

/** Polls `check` every 50 ms until it holds, for up to 20 s. */
async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("a device silent past the limit no longer holds back pruning, and resyncs from the snapshot", async () => {
  const url = relay.url;
  const [alice, bob] = [generateDeviceIdentity(), generateDeviceIdentity()];
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
  const open = async (
    identity: DeviceIdentity,
    token: string,
    stores: { state: MemoryStateStore; blobs: MemoryBlobStore },
    snapshotEvery?: number,
  ) => {
    const replica = await Replica.open({
      identity,
      folderId,
      keyring,
      ...stores,
      connect: () => createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket }),
      token,
      remoteBlobs: new HttpBlobStore({ baseUrl: url, folderId, token }),
      ...(snapshotEvery === undefined ? {} : { snapshotEvery }),
    });
    replicas.push(replica);
    return replica;
  };
  const text = (s: string) => new TextEncoder().encode(s);
  const a = await open(alice, aliceToken, stores(), 1);
  const bobStores = stores();
  const b = await open(bob, bobToken, bobStores);

  await a.writeFile("one.txt", text("one"));
  await a.syncOnce();
  await b.syncOnce();
  const bobAt = b.stats().appliedSeq;
  expect(bobAt).toBeGreaterThan(0);
  await b.close();
  // Bob's last ack is now over a second old: silent, as far as the relay is concerned.
  await sleepUntil(Date.now() + 1100);

  db = new Database(join(relay.dir, "data", "relay.db"), { readonly: true });
  const oldest = db.prepare<[string], { low: number | null }>(
    "SELECT min(seq) AS low FROM log WHERE folder_id = ?",
  );
  for (const name of ["two.txt", "three.txt"]) {
    await a.writeFile(name, text(name));
    await a.syncOnce();
  }
  // Alice's snapshots (one per entry here) prune past bob's position.
  await waitFor(() => (oldest.get(folderId)?.low ?? Infinity) > bobAt + 1, "pruning past bob");

  const back = await open(bob, bobToken, bobStores);
  await back.syncOnce();
  expect(back.stats().snapshotsLoaded).toBe(1);
  expect(new TextDecoder().decode(await back.readFile("three.txt"))).toBe("three.txt");
  expect(back.list().map((e) => e.path)).toEqual(["one.txt", "three.txt", "two.txt"]);
}, 60_000);

function stores(): { state: MemoryStateStore; blobs: MemoryBlobStore } {
  return { state: new MemoryStateStore(), blobs: new MemoryBlobStore() };
}

test("an account owns at most --account-folders folders; 507 quota_exceeded says so", async () => {
  const carol = await signUp(relay.url, "carol");
  for (let i = 0; i < 3; i++)
    expect(
      (await call(relay.url, "POST", "/v1/folders", { folderId: newFolderId() }, carol)).status,
    ).toBe(201);
  const refused = await call(relay.url, "POST", "/v1/folders", { folderId: newFolderId() }, carol);
  expect(refused.status).toBe(507);
  const error = refused.json["error"] as { code: string; message: string };
  expect(error.code).toBe("quota_exceeded");
  expect(error.message).toContain("the relay's quota for folders per account is full");
  expect(error.message).toContain("3 of 3");
  // Another account is not affected.
  const dave = await signUp(relay.url, "dave");
  expect(
    (await call(relay.url, "POST", "/v1/folders", { folderId: newFolderId() }, dave)).status,
  ).toBe(201);
});

test("a snapshot at a key epoch the folder has not reached is refused", async () => {
  const erin = generateDeviceIdentity();
  const token = await signUp(relay.url, "erin", erin);
  const folderId = newFolderId();
  await call(relay.url, "POST", "/v1/folders", { folderId }, token);
  const transport = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, {
    WebSocket,
  });
  const answers = new Map<number, Message>();
  const waiters = new Map<number, (m: Message) => void>();
  transport.on("message", (m) => {
    const id = "requestId" in m ? (m.requestId ?? -1) : -1;
    answers.set(id, m);
    waiters.get(id)?.(m);
  });
  const answer = (requestId: number) =>
    new Promise<Message>((resolve) => {
      const got = answers.get(requestId);
      if (got) resolve(got);
      else waiters.set(requestId, resolve);
    });
  try {
    await transport.connect();
    transport.send({
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "t", version: "1" },
    });
    transport.send({ type: "auth", requestId: 1, token });
    expect((await answer(1)).type).toBe("ok");
    const put = (requestId: number, epoch: number) =>
      transport.send({
        type: "snapshotPut",
        requestId,
        folderId,
        epoch,
        coversSeq: 0,
        ciphertext: new Uint8Array(1000),
      });
    put(2, 1);
    expect(await answer(2)).toMatchObject({ type: "error", code: "bad_frame" });
    put(3, 0);
    expect((await answer(3)).type).toBe("ok");
  } finally {
    transport.close();
  }
});
