// The relay's limits on what one account or device can make it keep, against one relay process
// (`WEFT_RELAY_PRUNE_SILENT_AFTER=1`, `WEFT_RELAY_ACCOUNT_FOLDERS=3`, an account quota of 1 MiB,
// a folder log of at most 8 entries and 256 KiB):
// - a device that goes silent stops holding back log pruning, and catches up from the snapshot
//   when it returns: bob syncs once and closes; a second later alice's next snapshot lets the
//   relay prune past bob's last ack (which, before, kept the whole log for ever); bob reopens,
//   finds the log pruned after his position, loads the snapshot, and has every file;
// - an account owns at most so many folders (each has its own chunk quota);
// - a snapshot sealed under an epoch the folder has not reached is refused;
// - an account's bytes are counted over every folder it owns, unfinished uploads included, and
//   an editor's writes are charged to the owner; the log and snapshots count, and the log of a
//   folder refuses appends past its limits; nothing stored is lost.
import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import {
  HttpBlobStore,
  MemoryBlobStore,
  MemoryStateStore,
  type Message,
  Replica,
  SUPPORTED_VERSIONS,
  createWebSocketTransport,
  formatBytes,
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
    WEFT_RELAY_ACCOUNT_QUOTA: "1MiB",
    WEFT_RELAY_FOLDER_LOG_ENTRIES: "8",
    WEFT_RELAY_FOLDER_LOG_BYTES: "256KiB",
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
  await using session = await socketSession(token);
  const put = (epoch: number) =>
    session.request({
      type: "snapshotPut",
      requestId: 0,
      folderId,
      epoch,
      coversSeq: 0,
      ciphertext: new Uint8Array(1000),
    });
  expect(await put(1)).toMatchObject({ type: "error", code: "bad_frame" });
  expect((await put(0)).type).toBe("ok");
});

const KiB = 1024;
const exact = (n: number): string => formatBytes(n, { exact: true });
const blobPath = (folderId: FolderId, id: string): string => `/v1/folders/${folderId}/blobs/${id}`;

/** PUTs `bytes` as chunk `id` (or, with `range`, one part of it); the status and the error. */
async function putChunk(
  token: string,
  folderId: FolderId,
  id: string,
  bytes: Uint8Array,
  range?: string,
): Promise<{ status: number; error?: { code: string; message: string } }> {
  const res = await fetch(`${relay.url}${blobPath(folderId, id)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, ...(range ? { "content-range": range } : {}) },
    body: bytes,
  });
  const text = await res.text();
  const body = text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : {};
  const error = body["error"] as { code: string; message: string } | undefined;
  return { status: res.status, ...(error ? { error } : {}) };
}

test("an account's byte quota counts every folder it owns and unfinished uploads, and charges the owner for an editor's writes; stored chunks stay", async () => {
  const frank = await signUp(relay.url, "frank");
  const gina = await signUp(relay.url, "gina");
  const [one, two, three] = [newFolderId(), newFolderId(), newFolderId()];
  for (const folderId of [one, two, three])
    expect((await call(relay.url, "POST", "/v1/folders", { folderId }, frank)).status).toBe(201);
  await call(
    relay.url,
    "POST",
    `/v1/folders/${three}/members`,
    { user: "gina", role: "editor" },
    frank,
  );
  const stored = randomBytes(400 * KiB);
  const storedId = randomBytes(32).toString("hex");
  expect((await putChunk(frank, one, storedId, stored)).status).toBe(201);
  // The first 64 KiB of a 400 KiB chunk: the upload counts by its whole size from now on.
  const partId = randomBytes(32).toString("hex");
  const part = randomBytes(400 * KiB);
  const first = await putChunk(
    frank,
    two,
    partId,
    part.subarray(0, 64 * KiB),
    `bytes 0-${64 * KiB - 1}/${400 * KiB}`,
  );
  expect(first.status).toBe(202);

  // 400 KiB stored + 400 KiB under way + 300 KiB > 1 MiB, in a third folder, by its editor.
  for (const token of [frank, gina]) {
    const refused = await putChunk(
      token,
      three,
      randomBytes(32).toString("hex"),
      randomBytes(300 * KiB),
    );
    expect(refused.status).toBe(507);
    expect(refused.error?.code).toBe("quota_exceeded");
    expect(refused.error?.message).toContain("the account quota is full");
    expect(refused.error?.message).toContain(`of ${exact(1024 * KiB)}`);
    expect(refused.error?.message).toContain(`${exact(300 * KiB)} more do not fit`);
  }
  // Another account is not affected; the upload under way finishes; nothing stored is lost.
  const other = await signUp(relay.url, "hank");
  const theirs = newFolderId();
  await call(relay.url, "POST", "/v1/folders", { folderId: theirs }, other);
  expect(
    (await putChunk(other, theirs, randomBytes(32).toString("hex"), randomBytes(300 * KiB))).status,
  ).toBe(201);
  const rest = await putChunk(
    frank,
    two,
    partId,
    part.subarray(64 * KiB),
    `bytes ${64 * KiB}-${400 * KiB - 1}/${400 * KiB}`,
  );
  expect(rest.status).toBe(201);
  const back = await fetch(`${relay.url}${blobPath(one, storedId)}`, {
    headers: { authorization: `Bearer ${frank}` },
  });
  expect(Buffer.from(await back.arrayBuffer()).equals(stored)).toBe(true);
});

test("a folder's log refuses appends past its entries and bytes with quota_exceeded, a snapshot still goes, and the account quota counts snapshots", async () => {
  const ivy = generateDeviceIdentity();
  const token = await signUp(relay.url, "ivy", ivy);
  const [small, large] = [newFolderId(), newFolderId()];
  for (const folderId of [small, large])
    await call(relay.url, "POST", "/v1/folders", { folderId }, token);
  await using session = await socketSession(token);
  const indexKey = randomBytes(32);
  const append = (folderId: FolderId, deviceSeq: number, bytes: number) =>
    session.request({
      type: "append",
      requestId: 0,
      folderId,
      envelope: encodeEnvelope(
        sealEnvelope(
          { folderId, deviceId: ivy.deviceId, deviceSeq, epoch: 0 },
          indexKey,
          ivy.signSecretKey,
          randomBytes(bytes),
        ),
      ),
    });
  for (let i = 1; i <= 8; i++) expect((await append(small, i, 100)).type).toBe("appended");
  const ninth = await append(small, 9, 100);
  expect(ninth).toMatchObject({ type: "error", code: "quota_exceeded" });
  expect((ninth as { message: string }).message).toContain(
    "the folder's log is full: it holds 8 of 8 entries",
  );

  expect((await append(large, 1, 200 * KiB)).type).toBe("appended");
  const over = await append(large, 2, 100 * KiB);
  expect(over).toMatchObject({ type: "error", code: "quota_exceeded" });
  expect((over as { message: string }).message).toContain(`of ${exact(256 * KiB)}`);

  // A snapshot is what lets the log be pruned: the full log does not refuse it. (It covers no
  // entry here: with devices silent after 1 s, the relay would prune them, and this test counts
  // them below.)
  const snapshot = (folderId: FolderId, coversSeq: number, bytes: number) =>
    session.request({
      type: "snapshotPut",
      requestId: 0,
      folderId,
      epoch: 0,
      coversSeq,
      ciphertext: new Uint8Array(bytes),
    });
  expect((await snapshot(small, 0, 1000)).type).toBe("ok");
  // 200 KiB of log + a 900 KiB snapshot > the account's 1 MiB.
  const big = await snapshot(large, 1, 900 * KiB);
  expect(big).toMatchObject({ type: "error", code: "quota_exceeded" });
  expect((big as { message: string }).message).toContain("the account quota is full");

  db = new Database(join(relay.dir, "data", "relay.db"), { readonly: true });
  const count = db.prepare<[string], { n: number }>(
    "SELECT count(*) AS n FROM log WHERE folder_id = ?",
  );
  expect(count.get(small)?.n).toBe(8);
  expect(count.get(large)?.n).toBe(1);
});

/** A WebSocket session through `auth`, with one request at a time answered by its requestId. */
async function socketSession(token: string): Promise<{
  request(m: Message): Promise<Message>;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const transport = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, {
    WebSocket,
    token,
  });
  const waiters = new Map<number, (m: Message) => void>();
  transport.on("message", (m) => {
    const id = "requestId" in m ? (m.requestId ?? -1) : -1;
    waiters.get(id)?.(m);
    waiters.delete(id);
  });
  let next = 1;
  const request = (m: Message): Promise<Message> => {
    const requestId = next++;
    const answer = new Promise<Message>((resolve) => waiters.set(requestId, resolve));
    transport.send({ ...m, requestId } as Message);
    return answer;
  };
  await transport.connect();
  transport.send({
    type: "hello",
    versions: SUPPORTED_VERSIONS,
    client: { name: "t", version: "1" },
  });
  expect((await request({ type: "auth", requestId: 0, token })).type).toBe("ok");
  return {
    request,
    [Symbol.asyncDispose]: () => {
      transport.close();
      return Promise.resolve();
    },
  };
}
