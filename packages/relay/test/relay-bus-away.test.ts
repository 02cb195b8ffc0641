// A relay cut off from NATS while the others are not (two relay processes over one PostgreSQL
// database and NATS; the second reaches NATS through a proxy that can reset it). What it publishes
// while cut off is lost (nats.js empties its outgoing buffer at each attempt to reconnect), and
// the other relay, which never lost the bus, has no reason to read the store. Once back, the cut
// off relay tells the others to read the store for the folders it appended to, and sends its
// devices' presence again: a subscriber on the other relay gets the entry and sees the device
// online. (This is how relay-cluster's NATS restart test failed now and then: the relay that
// reconnected last had stored an entry after the others had read the store on their return.)
import { randomBytes } from "node:crypto";
import {
  type Message,
  SUPPORTED_VERSIONS,
  type Transport,
  createWebSocketTransport,
} from "@weft/core";
import {
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import {
  type FaultProxy,
  type NatsHandle,
  type RelayProcess,
  type TestDatabase,
  call,
  createTestDatabase,
  signUp,
  startFaultProxy,
  startNatsServer,
  startRelayProcess,
} from "@weft/test-support";

let db: TestDatabase;
let nats: NatsHandle;
let proxy: FaultProxy;
let steady: RelayProcess;
let away: RelayProcess;
const transports: Transport[] = [];

beforeAll(async () => {
  await ready();
  [db, nats] = await Promise.all([createTestDatabase(), startNatsServer()]);
  proxy = await startFaultProxy(`127.0.0.1:${nats.port}`);
  // The first makes the schema and the shared JWT secret.
  steady = await startRelayProcess({ WEFT_RELAY_DATABASE: db.url, WEFT_RELAY_BUS: nats.url });
  away = await startRelayProcess({
    WEFT_RELAY_DATABASE: db.url,
    WEFT_RELAY_BUS: `nats://127.0.0.1:${proxy.port}`,
  });
}, 60_000);
afterAll(async () => {
  for (const t of transports) t.close();
  await Promise.all([steady?.dispose(), away?.dispose()]);
  await proxy?.close();
  await nats?.stop();
  await db?.drop();
});

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A device's connection to `relay`, hello sent; what it receives is in `got`. */
async function connect(
  relay: RelayProcess,
  token: string,
): Promise<{ t: Transport; got: Message[] }> {
  const t = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, {
    WebSocket,
    token,
  });
  transports.push(t);
  const got: Message[] = [];
  t.on("message", (m) => got.push(m));
  t.on("error", () => undefined);
  await t.connect();
  t.send({ type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "test", version: "1" } });
  return { t, got };
}

test("a relay back on the bus after being cut off tells the others what it stored and who is online meanwhile", async () => {
  const folderId = newFolderId();
  const writer = generateDeviceIdentity();
  const ownerToken = await signUp(steady.url, "away-owner", generateDeviceIdentity());
  const writerToken = await signUp(away.url, "away-writer", writer);
  expect((await call(steady.url, "POST", "/v1/folders", { folderId }, ownerToken)).status).toBe(
    201,
  );
  const add = { user: "away-writer", role: "editor" };
  const members = `/v1/folders/${folderId}/members`;
  expect((await call(steady.url, "POST", members, add, ownerToken)).status).toBe(204);

  const watcher = await connect(steady, ownerToken);
  watcher.t.send({ type: "subscribe", requestId: 1, folderId, afterSeq: 0 });
  await until("the watcher's subscription", () => watcher.got.some((m) => m.type === "subscribed"));

  await proxy.reset();
  await until("the relay to notice", () => away.logs().includes("lost the bus"));
  // Cut off: the writer comes online there and appends.
  const w = await connect(away, writerToken);
  w.t.send({ type: "subscribe", requestId: 1, folderId, afterSeq: 0 });
  const envelope = sealEnvelope(
    { folderId, deviceId: writer.deviceId, deviceSeq: 1, epoch: 0 },
    randomBytes(32),
    writer.signSecretKey,
    randomBytes(256),
  );
  w.t.send({ type: "append", requestId: 2, folderId, envelope: encodeEnvelope(envelope) });
  await until("the append", () => w.got.some((m) => m.type === "appended"));

  await proxy.pass();
  await until("the entry on the other relay", () =>
    watcher.got.some((m) => m.type === "envelopes" && m.items.some((e) => e.seq === 1)),
  );
  await until("the writer online on the other relay", () =>
    watcher.got.some((m) =>
      (m.type === "presence" ? [m] : m.type === "presenceList" ? m.items : []).some(
        (p) => p.deviceId === writer.deviceId && p.status === "online",
      ),
    ),
  );
}, 60_000);
