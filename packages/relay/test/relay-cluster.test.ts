// Three relay processes as an operator scales out (issue 17): one PostgreSQL database, one
// s3rver bucket, and a NATS server of this file's own between them. Core's protocol suite runs
// with each connection on the next relay, so every fan-out, presence and refusal it checks
// crosses relays; Replicas on different relays sync a file and a Yjs document live; the bus is
// killed and restarted under writes; a logout through one relay refuses the access token on the
// others (and on one that was down meanwhile, once back); and nothing a relay put on the bus
// names a file or holds its content in the clear.
import { execFile } from "node:child_process";
import { type AddressInfo, type Socket, createServer, connect as netConnect } from "node:net";
import { fileURLToPath } from "node:url";
import {
  HttpBlobStore,
  MemoryBlobStore,
  type Message,
  MemoryStateStore,
  Replica,
  SUPPORTED_VERSIONS,
  type Transport,
  createWebSocketTransport,
} from "@weft/core";
import { type ProtocolDevice, runProtocolTests } from "@weft/core/conformance";
import {
  type DeviceIdentity,
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  toBase64Url,
} from "@weft/crypto";
import { connect as natsConnect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import {
  type NatsHandle,
  type RelayCluster,
  type RelayProcess,
  type TestDatabase,
  call,
  signUp,
  startRelayCluster,
  startRelayProcess,
} from "@weft/test-support";
import { describeBus } from "../src/bus/bus.js";
import { parseConfig } from "../src/config.js";
import { SIGN_IN_ENDED } from "../src/server/index.js";
import { type SuiteDevices, relayProtocolFixture } from "./helpers/protocol-fixture.js";

let db: TestDatabase;
let nats: NatsHandle;
let cluster: RelayCluster;
let relays: RelayProcess[] = [];
/** What crossed the bus, as a NATS client subscribed to every subject of it saw it. */
let tap: NatsConnection;
const onBus: Uint8Array[] = [];
let devices: SuiteDevices;
let next = 0;

const ws = (relay: RelayProcess): string => `${relay.url.replace("http", "ws")}/v1/ws`;

beforeAll(async () => {
  await ready();
  cluster = await startRelayCluster(3, "weft-cluster");
  ({ db, nats, relays } = cluster);
  tap = await natsConnect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  tap.subscribe("weft.>", { callback: (error, msg) => !error && onBus.push(msg.data) });
  const device = async (user: string, relay: RelayProcess): Promise<ProtocolDevice> => {
    const identity = generateDeviceIdentity();
    return { identity, token: await signUp(relay.url, user, identity) };
  };
  devices = {
    owner: await device("owner", relays[0]!),
    editor: await device("editor", relays[1]!),
    viewer: await device("viewer", relays[2]!),
    outsider: await device("outsider", relays[0]!),
  };
  const created = await call(
    relays[1]!.url,
    "POST",
    "/v1/folders",
    { folderId: newFolderId() },
    devices.outsider.token,
  );
  expect(created.status).toBe(201);
}, 60_000);

afterAll(async () => {
  await tap?.close();
  await cluster?.dispose();
});

describe("one protocol, three relays: each connection of the suite goes to the next relay", () => {
  runProtocolTests("relay cluster", () =>
    relayProtocolFixture(devices, () => relays[next++ % relays.length]!.url),
  );
});

/** Waits until `check` holds (polling every 50 ms), up to `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("replicas on three relays sync a file and a Yjs document live, through a NATS restart and lost database connections", async () => {
  const folderId = newFolderId();
  const people = ["ana", "ben", "cy"].map((name) => ({ name, identity: generateDeviceIdentity() }));
  const tokens = await Promise.all(
    people.map((p, i) => signUp(relays[i]!.url, `live-${p.name}`, p.identity)),
  );
  expect((await call(relays[0]!.url, "POST", "/v1/folders", { folderId }, tokens[0])).status).toBe(
    201,
  );
  for (const p of people.slice(1)) {
    const member = { user: `live-${p.name}`, role: "editor" };
    const path = `/v1/folders/${folderId}/members`;
    expect((await call(relays[1]!.url, "POST", path, member, tokens[0])).status).toBe(204);
  }
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey()); // shared out of band here
  const open = (identity: DeviceIdentity, token: string, relay: RelayProcess): Promise<Replica> =>
    Replica.open({
      identity,
      folderId,
      keyring,
      state: new MemoryStateStore(),
      blobs: new MemoryBlobStore(),
      connect: () => createWebSocketTransport(ws(relay), { WebSocket, token }),
      token,
      remoteBlobs: new HttpBlobStore({ baseUrl: relay.url, folderId, token }),
    });
  const [ana, ben, cy] = await Promise.all(
    people.map((p, i) => open(p.identity, tokens[i]!, relays[i]!)),
  );
  const text = (r: Replica, path: string): Promise<string> =>
    r.readFile(path).then((bytes) => new TextDecoder().decode(bytes));
  try {
    for (const r of [ana!, ben!, cy!]) r.start();
    // Written through relay 0; ben (relay 1) and cy (relay 2) only listen.
    await ana!.writeFile("plans/ROADMAP-SECRET.md", new TextEncoder().encode("CONFIDENTIAL-PLAN"));
    (await ana!.doc("minutes")).getText("t").insert(0, "MINUTES-MARKER");
    for (const r of [ben!, cy!]) {
      await until(
        "the file on another relay",
        async () => (await text(r, "plans/ROADMAP-SECRET.md")) === "CONFIDENTIAL-PLAN",
      );
      await until(
        "the document on another relay",
        async () => (await r.doc("minutes")).getText("t").toJSON() === "MINUTES-MARKER",
      );
    }
    // Cy edits the document through relay 2: ana and ben see it.
    (await cy!.doc("minutes")).getText("t").insert(0, "cy: ");
    for (const r of [ana!, ben!])
      await until(
        "cy's edit",
        async () => (await r.doc("minutes")).getText("t").toJSON() === "cy: MINUTES-MARKER",
      );

    // The bus dies: what ben writes still reaches ana and cy (their relays read the database
    // while NATS is away), and after NATS is back, what cy writes too.
    await nats.kill();
    await ben!.writeFile(
      "during-outage.txt",
      new TextEncoder().encode("written while NATS was down"),
    );
    for (const r of [ana!, cy!])
      await until(
        "a file written while the bus was down",
        async () => (await text(r, "during-outage.txt")) === "written while NATS was down",
      );
    await nats.start();
    await cy!.writeFile("after.txt", new TextEncoder().encode("after the restart"));
    for (const r of [ana!, ben!])
      await until(
        "a file written after the bus came back",
        async () => (await text(r, "after.txt")) === "after the restart",
      );
  } finally {
    await Promise.all([ana!.close(), ben!.close(), cy!.close()]);
  }

  // Entries and presence crossed the bus, none of it in the clear.
  expect(onBus.length).toBeGreaterThan(5);
  const all = Buffer.concat(onBus.map((m) => Buffer.from(m)));
  for (const needle of ["ROADMAP-SECRET", "plans", "CONFIDENTIAL-PLAN", "MINUTES-MARKER", "outage"])
    expect(all.indexOf(needle), `${needle} on the bus`).toBe(-1);
}, 90_000);

test("a member removed through one relay is cut off at once on another", async () => {
  const folderId = newFolderId();
  const owner = generateDeviceIdentity();
  const member = generateDeviceIdentity();
  const ownerToken = await signUp(relays[0]!.url, "cut-owner", owner);
  const memberToken = await signUp(relays[2]!.url, "cut-member", member);
  expect((await call(relays[0]!.url, "POST", "/v1/folders", { folderId }, ownerToken)).status).toBe(
    201,
  );
  const add = { user: "cut-member", role: "editor" };
  const members = `/v1/folders/${folderId}/members`;
  expect((await call(relays[0]!.url, "POST", members, add, ownerToken)).status).toBe(204);

  const t = createWebSocketTransport(ws(relays[2]!), { WebSocket, token: memberToken });
  const got: Message[] = [];
  let closed = false;
  t.on("message", (m) => got.push(m));
  t.on("close", () => (closed = true));
  t.on("error", () => undefined);
  await t.connect();
  t.send({ type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "test", version: "1" } });
  t.send({ type: "subscribe", requestId: 1, folderId, afterSeq: 0 });
  await until("the subscription", () => Promise.resolve(got.some((m) => m.type === "subscribed")));

  const removed = await call(
    relays[0]!.url,
    "DELETE",
    `${members}/cut-member`,
    undefined,
    ownerToken,
  );
  expect(removed.status).toBe(200);
  await until("the removed member's connection to close", () => Promise.resolve(closed), 5000);
  expect(got.at(-1)).toMatchObject({
    type: "error",
    code: "forbidden",
    message: "you were removed from this folder",
  });
}, 30_000);

/**
 * A TCP proxy to NATS that can cut the relays behind it off (closing their connections and
 * refusing new ones) while the others keep the bus: one relay away from NATS.
 */
async function natsProxy(
  target: number,
): Promise<{ url: string; cut(on: boolean): void; close(): void }> {
  const sockets = new Set<Socket>();
  let cutOff = false;
  const server = createServer((client) => {
    if (cutOff) return client.destroy();
    const upstream = netConnect(target, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `nats://127.0.0.1:${port}`,
    cut(on) {
      cutOff = on;
      if (on) for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test("a member removed through one relay while another was away from NATS is cut off there once it is back", async () => {
  const proxy = await natsProxy(nats.port);
  const away = await startRelayProcess({
    WEFT_RELAY_DATABASE: db.url,
    WEFT_RELAY_BUS: proxy.url,
    WEFT_RELAY_BLOBS: "s3://weft-cluster",
    WEFT_RELAY_S3_ENDPOINT: cluster.s3.endpoint,
    AWS_ACCESS_KEY_ID: cluster.s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: cluster.s3.credentials.secretAccessKey,
    AWS_REGION: cluster.s3.region,
  });
  let t: Transport | undefined;
  try {
    const folderId = newFolderId();
    const owner = generateDeviceIdentity();
    const member = generateDeviceIdentity();
    const ownerToken = await signUp(relays[0]!.url, "away-owner", owner);
    const memberToken = await signUp(away.url, "away-member", member);
    const created = await call(relays[0]!.url, "POST", "/v1/folders", { folderId }, ownerToken);
    expect(created.status).toBe(201);
    const members = `/v1/folders/${folderId}/members`;
    const add = { user: "away-member", role: "editor" };
    expect((await call(relays[0]!.url, "POST", members, add, ownerToken)).status).toBe(204);

    t = createWebSocketTransport(ws(away), { WebSocket, token: memberToken });
    const got: Message[] = [];
    let closed = false;
    t.on("message", (m) => got.push(m));
    t.on("close", () => (closed = true));
    t.on("error", () => undefined);
    await t.connect();
    t.send({ type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "test", version: "1" } });
    t.send({ type: "subscribe", requestId: 1, folderId, afterSeq: 0 });
    await until("the subscription", () =>
      Promise.resolve(got.some((m) => m.type === "subscribed")),
    );

    // The relay loses NATS; the removal through relay 1 is published while it is away.
    proxy.cut(true);
    await until("the relay to notice", () => Promise.resolve(away.logs().includes("lost the bus")));
    const removed = await call(
      relays[0]!.url,
      "DELETE",
      `${members}/away-member`,
      undefined,
      ownerToken,
    );
    expect(removed.status).toBe(200);
    expect(closed).toBe(false);

    // Back on the bus, the relay checks its sessions against the database.
    proxy.cut(false);
    await until("the removed member's connection to close", () => Promise.resolve(closed), 10_000);
    expect(got.at(-1)).toMatchObject({
      type: "error",
      code: "forbidden",
      message: "you were removed from this folder",
    });
  } finally {
    t?.close();
    proxy.close();
    await away.dispose();
  }
}, 30_000);

/** A second sign-in of `user` (signed up with `device`) through `relay`: its tokens. */
async function signIn(relay: RelayProcess, user: string, device: DeviceIdentity) {
  const login = await call(relay.url, "POST", "/v1/auth/login", {
    user,
    password: `${user}-correct-horse`,
    device: {
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  expect(login.status).toBe(200);
  return {
    access: login.json["accessToken"] as string,
    refresh: login.json["refreshToken"] as string,
  };
}

/** The relay's answer to `auth` with `token` on a new connection (`ok` or an error), and the connection. */
async function authAnswer(
  relay: RelayProcess,
  token: string,
): Promise<{ answer: Message; got: Message[]; t: Transport }> {
  const t = createWebSocketTransport(ws(relay), { WebSocket });
  const got: Message[] = [];
  t.on("message", (m) => got.push(m));
  t.on("error", () => undefined);
  await t.connect();
  t.send({ type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "test", version: "1" } });
  t.send({ type: "auth", requestId: 1, token });
  await until("the answer to auth", () =>
    Promise.resolve(got.some((m) => m.type === "ok" || m.type === "error")),
  );
  return { answer: got.find((m) => m.type === "ok" || m.type === "error")!, got, t };
}

const signedOut = {
  status: 401,
  json: { error: { code: "unauthorized", message: SIGN_IN_ENDED } },
};

test("a logout through one relay refuses its access token on another at once, on the API and for auth", async () => {
  const device = generateDeviceIdentity();
  await signUp(relays[0]!.url, "out-cluster", device);
  const { access, refresh } = await signIn(relays[0]!, "out-cluster", device);
  const open = await authAnswer(relays[2]!, access);
  expect(open.answer).toMatchObject({ type: "ok" });
  expect((await call(relays[2]!.url, "GET", "/v1/folders", undefined, access)).status).toBe(200);

  const out = await call(relays[0]!.url, "POST", "/v1/auth/logout", { refreshToken: refresh });
  expect(out.status).toBe(204);
  // Relay 2 heard of it on the bus (its session ends): from then on the token is refused there.
  await until("the session on the other relay to end", () =>
    Promise.resolve(open.got.some((m) => m.type === "error")),
  );
  open.t.close();
  expect(await call(relays[2]!.url, "GET", "/v1/folders", undefined, access)).toEqual(signedOut);
  const again = await authAnswer(relays[2]!, access);
  again.t.close();
  expect(again.answer).toMatchObject({
    type: "error",
    code: "unauthorized",
    message: SIGN_IN_ENDED,
  });
}, 30_000);

test("a relay killed without a word: its devices go offline for subscribers on the others; a sign-out meanwhile is refused by it when back", async () => {
  const folderId = newFolderId();
  const [watcher, doomed] = [generateDeviceIdentity(), generateDeviceIdentity()];
  const watcherToken = await signUp(relays[0]!.url, "gone-watcher", watcher);
  const doomedToken = await signUp(relays[0]!.url, "gone-doomed", doomed);
  const folders = "/v1/folders";
  expect((await call(relays[0]!.url, "POST", folders, { folderId }, watcherToken)).status).toBe(
    201,
  );
  const add = { user: "gone-doomed", role: "editor" };
  expect(
    (await call(relays[0]!.url, "POST", `${folders}/${folderId}/members`, add, watcherToken))
      .status,
  ).toBe(204);
  const join = async (relay: RelayProcess, token: string): Promise<Message[]> => {
    const t = createWebSocketTransport(ws(relay), { WebSocket, token });
    const got: Message[] = [];
    t.on("message", (m) => got.push(m));
    t.on("error", () => undefined);
    await t.connect();
    t.send({ type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "test", version: "1" } });
    t.send({ type: "subscribe", requestId: 1, folderId, afterSeq: 0 });
    return got;
  };
  const seen = await join(relays[0]!, watcherToken);
  // Subscribed: relay 0 listens to the folder on the bus, so the doomed device's presence
  // (published once, when it subscribes through relay 1) cannot pass before it does.
  await until("the watcher's subscription", () =>
    Promise.resolve(seen.some((m) => m.type === "subscribed")),
  );
  await join(relays[1]!, doomedToken);
  const presence = (status: string) => () =>
    Promise.resolve(
      seen.some((m) =>
        (m.type === "presence" ? [m] : m.type === "presenceList" ? m.items : []).some(
          (p) => p.deviceId === doomed.deviceId && p.status === status,
        ),
      ),
    );
  await until("the doomed device online through another relay", presence("online"));
  await relays[1]!.kill();
  await until("the doomed device offline once its relay is gone", presence("offline"));
  // A sign-out while the relay is down reaches it through no bus: it reads the sign-ins revoked
  // lately from the database when it starts, and refuses that access token from its first request.
  const { access, refresh } = await signIn(relays[0]!, "gone-watcher", watcher);
  const out = await call(relays[0]!.url, "POST", "/v1/auth/logout", { refreshToken: refresh });
  expect(out.status).toBe(204);
  await relays[1]!.start();
  expect(await call(relays[1]!.url, "GET", "/v1/folders", undefined, access)).toEqual(signedOut);
}, 60_000);

describe("--bus", () => {
  const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

  test("comes from the flag or WEFT_RELAY_BUS; anything but nats:// or tls:// is refused", () => {
    const url = "nats://10.0.0.5:4222,nats://10.0.0.6:4222";
    expect(parseConfig(["--bus", url], {})).toMatchObject({ bus: url });
    expect(parseConfig([], { WEFT_RELAY_BUS: url })).toMatchObject({ bus: url });
    expect(parseConfig([], {})).not.toHaveProperty("bus");
    expect(() => parseConfig(["--bus", "redis://h:6379"], {})).toThrow(/NATS URL/);
  });

  test("a bus password is never shown", () => {
    expect(describeBus("nats://relay:pw-xyz@10.0.0.5:4222,nats://10.0.0.6:4222")).toBe(
      "nats://***@10.0.0.5:4222,nats://10.0.0.6:4222",
    );
  });

  test("a bus nobody answers on stops the relay at start, with exit 1 and the reason", async () => {
    const { code, stderr, stdout } = await new Promise<{
      code: number;
      stdout: string;
      stderr: string;
    }>((resolve) =>
      execFile(
        process.execPath,
        [
          cli,
          "--port",
          "0",
          "--data",
          relays[0]!.dir + "/no-bus",
          "--bus",
          "nats://u:pw-xyz@127.0.0.1:9",
        ],
        { env: { PATH: process.env["PATH"] ?? "", WEFT_RELAY_DATABASE: db.url } },
        (error, out, err) =>
          resolve({
            code: typeof error?.code === "number" ? error.code : 0,
            stdout: out,
            stderr: err,
          }),
      ),
    );
    expect(code).toBe(1);
    expect(stdout + stderr).toContain("cannot reach the bus at nats://***@127.0.0.1:9");
    expect(stdout + stderr).not.toContain("pw-xyz");
  }, 30_000);
});
