#!/usr/bin/env node
// bench:relay — one Weft relay process against the y-websocket server (the ws server Yjs users
// run: y-websocket@2.1.0's bin/server.cjs, unmodified), both on loopback, in the same run:
//   1. connections held: N WebSocket clients, each authenticated and subscribed to a folder
//      (y-websocket: synced into one room); the server's RSS with all of them open;
//   2. fan-out: one publisher sends 1 KiB signed envelopes (y-websocket: 1 KiB Yjs updates)
//      that S subscribers receive: deliveries/s, and latency from the publisher's send to each
//      subscriber's receipt (one process, one clock), loaded and one-at-a-time;
//   3. blobs: PUT then GET of 1 MiB random bodies over HTTP, a few at a time (relay only:
//      y-websocket has no blob store).
// Runs against the built packages (`npm run build` first). Writes bench/results/relay.json.
//
//   npm run bench:relay [-- --connections N] [-- --subscribers S] [-- --envelopes M]
//                       [-- --blobs B] [-- --repeats R] [-- --quick]
//   (--quick: 200 connections, 20 subscribers × 200 envelopes, 8 blobs, 1 repeat; a smoke test
//    that writes results/relay.quick.json and leaves relay.json alone)
import { createHash, createHmac, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import {
  decodeEnvelope,
  deriveFolderSubkeys,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  sealEnvelope,
  toBase64Url,
} from "@weft/crypto";
import { MESSAGE_TAGS, SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { WebSocket } from "ws";
import * as Y from "yjs";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import { seededBuffer } from "./lib/input.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { writeReport } from "./lib/report.mjs";
import { cpuSecondsOf, freePort, killAll, ownCpuSeconds, rssOf, startChild } from "./lib/procs.mjs";
import { collect, median, mibPerSec, round } from "./lib/stats.mjs";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CONNECTIONS = arg("--connections", quick ? 200 : 10_000);
const SUBSCRIBERS = arg("--subscribers", quick ? 20 : 500);
const ENVELOPES = arg("--envelopes", quick ? 200 : 400);
const BLOBS = arg("--blobs", quick ? 8 : 64);
const REPEATS = arg("--repeats", quick ? 1 : 3);
/** Envelopes/updates sent one at a time (next only once every subscriber has the last). */
const SERIAL = quick ? 20 : 50;
/** Unacknowledged sends the publisher keeps in flight in the loaded run. */
const WINDOW = 4;
/** Concurrent blob requests. */
const BLOB_CONCURRENCY = 4;
/** Handshakes in progress at once while connecting. */
const CONNECT_CONCURRENCY = 64;
/** Devices per account: the relay holds at most 64 authenticated connections per account. */
const PER_ACCOUNT = 60;
/** Sockets per loopback source address: the relay allows 256 per client address. */
const PER_ADDRESS = 200;
const MESSAGE_BYTES = 1024;
const BLOB_BYTES = 1024 * 1024;
const MiB = 1024 * 1024;
const { fetch } = globalThis;
for (const [name, v] of Object.entries({ CONNECTIONS, SUBSCRIBERS, ENVELOPES, BLOBS, REPEATS }))
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..");
const relayCli = join(root, "packages/relay/dist/cli.js");
const ywsServer = join(root, "node_modules/y-websocket-2/bin/server.cjs");
/** Extra node flags for the two servers, e.g. WEFT_BENCH_SERVER_FLAGS=--cpu-prof to profile them. */
const serverFlags = (process.env.WEFT_BENCH_SERVER_FLAGS ?? "").split(" ").filter(Boolean);
const addresses = Array.from(
  {
    length: Math.min(250, Math.max(2, Math.ceil(Math.max(CONNECTIONS, SUBSCRIBERS) / PER_ADDRESS))),
  },
  (_, i) => `127.0.0.${i + 2}`,
);
const addressOf = (i) => addresses[i % addresses.length];
const log = (...xs) =>
  console.error(`[bench:relay ${(performance.now() / 1000).toFixed(1)}s]`, ...xs);
const percentile = (sorted, p) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** Runs `fn(i)` for i in [0, n) with at most `width` calls in flight. */
async function pool(n, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** Resolves once `test()` is true (polled), or throws after `ms` with `what`. */
async function until(test, ms, what) {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// The relay: HTTP calls, tokens, clients.

/** One JSON call to the relay; the parsed body and the status. */
async function call(url, method, path, body, token) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

async function expectStatus(what, status, promise) {
  const res = await promise;
  if (res.status !== status)
    throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.json)} (wanted ${status})`);
  return res.json;
}

/**
 * Access tokens as the relay's login issues them (HS256 over {sub, iat, exp, typ, dev}, 15
 * minutes), signed with the secret this bench gave the relay (WEFT_RELAY_JWT_SECRET). A password
 * login costs an Argon2id hash (~0.2 s here), so 10,000 device logins would take half an hour;
 * minting is checked against a real login token below, and the relay still verifies every token
 * and looks up its device on `auth`.
 */
function tokenMinter(secret) {
  const b64 = (s) => Buffer.from(s).toString("base64url");
  const header = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  return (sub, dev) => {
    const iat = Math.floor(Date.now() / 1000);
    const claims = { sub, iat, exp: iat + 900, typ: "access", ...(dev ? { dev } : {}) };
    const input = `${header}.${b64(JSON.stringify(claims))}`;
    return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
  };
}

const TAG_ERROR = MESSAGE_TAGS.error;
const TAG_ENVELOPES = MESSAGE_TAGS.envelopes;
const TAG_APPENDED = MESSAGE_TAGS.appended;
const HELLO = encodeMessage({
  type: "hello",
  versions: SUPPORTED_VERSIONS,
  client: { name: "weft-bench", version: "0.1.0" },
});

/**
 * A relay client: hello, auth and (with a folder) subscribe, as PROTOCOL.md §4 has it; resolves
 * once subscribed (or authenticated). Frames after that go to `client.onFrame(bytes)`, which
 * the fan-out swaps; the default only counts them (presence of other devices).
 */
function weftConnect(wsUrl, localAddress, token, folderId, afterSeq) {
  return new Promise((resolve, reject) => {
    // The token rides the upgrade (subprotocol weft.bearer.<token>), as the product's clients
    // send it: a socket without one is held to small frames and counted as unauthenticated.
    const ws = new WebSocket(wsUrl, ["weft", `weft.bearer.${token}`], {
      localAddress,
      perMessageDeflate: false,
    });
    const client = { ws, frames: 0, onFrame: () => client.frames++ };
    let stage = 0;
    const fail = (error) => {
      if (stage === 3) return;
      stage = 3;
      ws.terminate();
      reject(error);
    };
    ws.on("error", fail);
    ws.on("close", (code) =>
      fail(new Error(`relay closed the socket (${code}) during the handshake`)),
    );
    ws.on("open", () => ws.send(HELLO));
    ws.on("message", (data) => {
      if (stage === 3) return client.onFrame(data);
      let m;
      try {
        m = decodeMessage(data);
      } catch (error) {
        return fail(error);
      }
      if (m.type === "error") return fail(new Error(`relay: ${m.code}: ${m.message}`));
      if (stage === 0 && m.type === "welcome") {
        stage = 1;
        ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
      } else if (stage === 1 && m.type === "ok") {
        stage = 2;
        if (folderId === undefined) {
          stage = 3;
          resolve(client);
        } else ws.send(encodeMessage({ type: "subscribe", requestId: 2, folderId, afterSeq }));
      } else if (stage === 2 && m.type === "subscribed") {
        stage = 3;
        resolve(client);
      }
    });
  });
}

/** Closes every client and waits until each socket has closed. */
async function closeAll(clients) {
  await Promise.all(
    clients.map(
      (c) =>
        new Promise((resolve) => {
          if (!c) return resolve();
          const ws = c.ws;
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once("close", resolve);
          ws.close();
        }),
    ),
  );
}

/** The relay's own count of open sockets (its /metrics gauge). */
async function relayOpenSockets(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^weft_relay_websocket_connections (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** Starts the relay and prepares accounts, devices, folders and the publisher. */
async function setUpRelay(dir) {
  const secret = randomBytes(32).toString("base64url");
  const relay = await startChild(
    process.execPath,
    [...serverFlags, relayCli, "--port", "0", "--data", join(dir, "data"), "--rate-limit", "0"],
    {
      name: "weft relay",
      env: { ...process.env, WEFT_RELAY_JWT_SECRET: secret, WEFT_RELAY_LOG_LEVEL: "info" },
      ready: (line) => {
        try {
          return JSON.parse(line).url;
        } catch {
          return undefined;
        }
      },
    },
  );
  const url = relay.value;
  const mint = tokenMinter(secret);
  const devices = Math.max(CONNECTIONS, SUBSCRIBERS);
  const accountCount = Math.ceil(devices / PER_ACCOUNT);
  log(
    `relay ${url} (pid ${relay.pid}): registering ${accountCount} accounts (an Argon2id hash each), ${devices} devices, ${accountCount} folders`,
  );
  // Each account's devices share that account's folder (a team folder of up to 60 devices).
  // Accounts are registered a few at a time and each one's devices and folder right after, so
  // the relay's Argon2id worker and its SQLite writes on the main thread overlap.
  const accounts = new Array(accountCount);
  const identities = new Array(devices);
  await pool(accountCount, 3, async (a) => {
    const user = `bench-${a}`;
    const { accountId } = await expectStatus(
      `register ${user}`,
      201,
      call(url, "POST", "/v1/auth/register", { user, password: `${user}-password` }),
    );
    const account = { user, accountId, token: mint(accountId), folderId: newFolderId() };
    accounts[a] = account;
    await expectStatus(
      "create folder",
      201,
      call(url, "POST", "/v1/folders", { folderId: account.folderId }, account.token),
    );
    const first = a * PER_ACCOUNT;
    await pool(Math.min(PER_ACCOUNT, devices - first), 6, async (j) => {
      const id = generateDeviceIdentity();
      await expectStatus(
        "add device",
        201,
        call(
          url,
          "POST",
          "/v1/devices",
          {
            signPublicKey: toBase64Url(id.signPublicKey),
            boxPublicKey: toBase64Url(id.boxPublicKey),
          },
          account.token,
        ),
      );
      identities[first + j] = { deviceId: id.deviceId, account };
    });
  });

  // The publisher logs in for real, with its device: its token is the relay's own, and the
  // minted ones must look the same.
  const publisher = generateDeviceIdentity();
  const login = await expectStatus(
    "login",
    200,
    call(url, "POST", "/v1/auth/login", {
      user: accounts[0].user,
      password: `${accounts[0].user}-password`,
      device: {
        signPublicKey: toBase64Url(publisher.signPublicKey),
        boxPublicKey: toBase64Url(publisher.boxPublicKey),
      },
    }),
  );
  const realClaims = JSON.parse(Buffer.from(login.accessToken.split(".")[1], "base64url"));
  const mintedClaims = JSON.parse(
    Buffer.from(mint(accounts[0].accountId, publisher.deviceId).split(".")[1], "base64url"),
  );
  if (
    login.accessToken.split(".")[0] !== mint("x").split(".")[0] ||
    Object.keys(realClaims).sort().join() !== Object.keys(mintedClaims).sort().join() ||
    realClaims.dev !== publisher.deviceId
  )
    throw new Error(`minted tokens do not look like the relay's: ${JSON.stringify(realClaims)}`);
  // The fan-out folder is account 0's, with the accounts of the first S devices as editors.
  const fanFolder = newFolderId();
  await expectStatus(
    "create folder",
    201,
    call(url, "POST", "/v1/folders", { folderId: fanFolder }, login.accessToken),
  );
  for (let a = 1; a < Math.ceil(SUBSCRIBERS / PER_ACCOUNT); a++)
    await expectStatus(
      "add member",
      204,
      call(
        url,
        "POST",
        `/v1/folders/${fanFolder}/members`,
        { user: accounts[a].user, role: "editor" },
        login.accessToken,
      ),
    );
  return {
    relay,
    url,
    wsUrl: `${url.replace("http", "ws")}/v1/ws`,
    mint,
    identities,
    accounts,
    fanFolder,
    indexKey: deriveFolderSubkeys(generateFolderKey(), 0).index,
    publisher,
    refreshToken: login.refreshToken,
    nextDeviceSeq: 1,
    headSeq: 0,
  };
}

/** A fresh access token for the publisher (they last 15 minutes), by the real refresh flow. */
async function refreshPublisher(ctx) {
  const res = await expectStatus(
    "refresh",
    200,
    call(ctx.url, "POST", "/v1/auth/refresh", { refreshToken: ctx.refreshToken }),
  );
  ctx.refreshToken = res.refreshToken;
  return res.accessToken;
}

// ---------------------------------------------------------------------------------------------
// y-websocket: the y-protocols sync handshake, done by hand (what WebsocketProvider does on
// connect, minus awareness).

const emptyDoc = new Y.Doc();
const syncFrame = (write) => {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0); // messageSync
  write(e);
  return encoding.toUint8Array(e);
};
const YWS_STEP1 = syncFrame((e) => syncProtocol.writeSyncStep1(e, emptyDoc));
const YWS_STEP2 = syncFrame((e) => syncProtocol.writeSyncStep2(e, emptyDoc));
const MESSAGE_SYNC = 0;
const SYNC_STEP1 = syncProtocol.messageYjsSyncStep1;
const SYNC_STEP2 = syncProtocol.messageYjsSyncStep2;
const SYNC_UPDATE = syncProtocol.messageYjsUpdate;

/**
 * A y-websocket client of `room`: sends sync step 1 (an empty document's state vector), answers
 * the server's step 1 with an empty step 2, and resolves once the server's step 2 has arrived.
 */
function ywsConnect(baseUrl, room, localAddress) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl}/${room}`, { localAddress, perMessageDeflate: false });
    const client = { ws, frames: 0, onFrame: () => client.frames++ };
    let synced = false;
    const fail = (error) => {
      if (synced) return;
      synced = true;
      ws.terminate();
      reject(error);
    };
    ws.on("error", fail);
    ws.on("close", (code) => fail(new Error(`y-websocket closed the socket (${code})`)));
    ws.on("open", () => ws.send(YWS_STEP1));
    ws.on("message", (data) => {
      if (synced) return client.onFrame(data);
      if (data[0] !== MESSAGE_SYNC) return;
      if (data[1] === SYNC_STEP1) ws.send(YWS_STEP2);
      else if (data[1] === SYNC_STEP2) {
        synced = true;
        resolve(client);
      }
    });
  });
}

async function setUpYws() {
  const port = await freePort();
  const server = await startChild(process.execPath, [...serverFlags, ywsServer], {
    name: "y-websocket server",
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port) },
    ready: (line) => (line.includes("running at") ? true : undefined),
  });
  log(`y-websocket ws://127.0.0.1:${port} (pid ${server.pid})`);
  return { server, baseUrl: `ws://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------------------------------------
// 1. Connections held.

/** Opens `CONNECTIONS` clients with `connect(i)`, reads the server's RSS, closes them. */
async function holdConnections(label, pid, connect, openOnServer) {
  collect();
  const clients = new Array(CONNECTIONS);
  const cpu0 = cpuSecondsOf(pid);
  const own0 = ownCpuSeconds();
  const t0 = performance.now();
  await pool(CONNECTIONS, CONNECT_CONCURRENCY, async (i) => {
    clients[i] = await connect(i);
  });
  const connectMs = performance.now() - t0;
  const serverCpu = cpuSecondsOf(pid) - cpu0;
  const benchCpu = ownCpuSeconds() - own0;
  if (openOnServer)
    await until(
      async () => (await openOnServer()) === CONNECTIONS,
      10_000,
      "the server's socket count",
    );
  await sleep(1500); // let presence and pings settle before reading memory
  const rss = [];
  for (let k = 0; k < 3; k++) {
    rss.push(rssOf(pid));
    await sleep(300);
  }
  const framesAfterHandshake = clients.reduce((n, c) => n + c.frames, 0);
  const benchRss = process.memoryUsage().rss;
  await closeAll(clients);
  if (openOnServer)
    await until(async () => (await openOnServer()) === 0, 30_000, "sockets to close");
  await sleep(500);
  const result = {
    connectMs: round(connectMs),
    connectsPerSecond: round(CONNECTIONS / (connectMs / 1000)),
    serverCpuUsPerConnect: round((serverCpu / CONNECTIONS) * 1e6),
    benchCpuUsPerConnect: round((benchCpu / CONNECTIONS) * 1e6),
    rssHeldBytes: median(rss),
    framesAfterHandshake,
    benchProcessRssMiB: round(benchRss / MiB),
  };
  log(
    `${label}: ${CONNECTIONS} connections in ${result.connectMs} ms, server RSS ${round(result.rssHeldBytes / MiB)} MiB`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------
// 2. Fan-out.

/**
 * Sends `messages` from the publisher to the subscribers and times every delivery. Two passes
 * over disjoint messages: "loaded" keeps WINDOW sends unacknowledged (the relay's `appended`;
 * for y-websocket the server's echo of the update to the publisher), "serial" sends the next
 * only once every subscriber has the last. Ordering is the server's promise (one publisher,
 * one log), so the k-th update a subscriber sees is the k-th sent; `check(i, k, bytes)` verifies
 * that on a sample of subscribers. `bind({ ack, fail })` hands the publisher's side the
 * callbacks for an acknowledgement and for a refusal.
 */
async function fanOut({ subs, send, bind, isUpdate, check, serverPid }) {
  const S = subs.length;
  const run = (first, count, serial) =>
    new Promise((resolve, reject) => {
      const sentAt = new Float64Array(count);
      const got = new Uint32Array(S);
      const latency = new Float64Array(S * count);
      const perMessage = new Uint32Array(count);
      let delivered = 0;
      let sent = 0;
      let acked = 0;
      let lastAt = 0;
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `fan-out stalled: sent ${sent}, acknowledged ${acked}, delivered ${delivered} of ${S * count}`,
            ),
          ),
        120_000 + count * 50,
      );
      const pump = () => {
        while (
          sent < count &&
          (serial ? sent === 0 || perMessage[sent - 1] === S : sent - acked < WINDOW)
        ) {
          sentAt[sent] = performance.now();
          send(first + sent);
          sent++;
        }
      };
      const finish = () => {
        if (delivered === S * count && acked === count) {
          clearTimeout(timer);
          resolve({ latency, ms: lastAt - sentAt[0] });
        }
      };
      bind({
        ack: () => {
          acked++;
          if (!serial) pump();
          finish();
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      subs.forEach((client, i) => {
        const checking = i % 50 === 0;
        client.onFrame = (bytes) => {
          if (!isUpdate(bytes)) return;
          const now = performance.now();
          const k = got[i]++;
          if (checking && !check(i, first + k, bytes)) {
            clearTimeout(timer);
            return reject(new Error(`subscriber ${i}: update ${k} is not the ${k}-th one sent`));
          }
          latency[i * count + k] = now - sentAt[k];
          lastAt = now;
          delivered++;
          if (serial && ++perMessage[k] === S) pump();
          finish();
        };
      });
      pump();
    });
  collect();
  const cpu0 = cpuSecondsOf(serverPid);
  const own0 = ownCpuSeconds();
  const loaded = await run(0, ENVELOPES, false);
  const cpuServer = cpuSecondsOf(serverPid) - cpu0;
  const cpuBench = ownCpuSeconds() - own0;
  const serial = await run(ENVELOPES, SERIAL, true);
  const lat = (xs) => {
    const sorted = xs.sort();
    return {
      p50: round(percentile(sorted, 0.5), 2),
      p99: round(percentile(sorted, 0.99), 2),
      max: round(sorted[sorted.length - 1], 2),
    };
  };
  return {
    deliveriesPerSecond: round((S * ENVELOPES) / (loaded.ms / 1000)),
    loadedMs: round(loaded.ms),
    latencyMs: lat(loaded.latency),
    serialLatencyMs: lat(serial.latency),
    serverCpuShare: round(cpuServer / (loaded.ms / 1000), 2),
    benchCpuShare: round(cpuBench / (loaded.ms / 1000), 2),
    serverCpuUsPerDelivery: round((cpuServer / (S * ENVELOPES)) * 1e6, 2),
    benchCpuUsPerDelivery: round((cpuBench / (S * ENVELOPES)) * 1e6, 2),
  };
}

async function weftFanOut(ctx, repeat) {
  const { identities, mint, fanFolder } = ctx;
  const total = ENVELOPES + SERIAL;
  // Sealed before the clock starts: 1 KiB envelopes as a device would append them.
  const probe = (n) =>
    encodeEnvelope(
      sealEnvelope(
        { folderId: fanFolder, deviceId: ctx.publisher.deviceId, deviceSeq: 1, epoch: 0 },
        ctx.indexKey,
        ctx.publisher.signSecretKey,
        new Uint8Array(n),
      ),
    ).length;
  const payloadBytes = MESSAGE_BYTES - probe(0);
  const payloads = seededBuffer(`fan-${repeat}`, payloadBytes * total);
  const envelopes = [];
  const frames = [];
  for (let k = 0; k < total; k++) {
    const envelope = encodeEnvelope(
      sealEnvelope(
        {
          folderId: fanFolder,
          deviceId: ctx.publisher.deviceId,
          deviceSeq: ctx.nextDeviceSeq++,
          epoch: 0,
        },
        ctx.indexKey,
        ctx.publisher.signSecretKey,
        payloads.subarray(k * payloadBytes, (k + 1) * payloadBytes),
      ),
    );
    envelopes.push(envelope);
    frames.push(encodeMessage({ type: "append", requestId: k + 1, folderId: fanFolder, envelope }));
  }
  const t0 = performance.now();
  const subs = new Array(SUBSCRIBERS);
  await pool(SUBSCRIBERS, CONNECT_CONCURRENCY, async (i) => {
    const id = identities[i];
    subs[i] = await weftConnect(
      ctx.wsUrl,
      addressOf(i),
      mint(id.account.accountId, id.deviceId),
      fanFolder,
      ctx.headSeq,
    );
  });
  const pub = await weftConnect(ctx.wsUrl, addresses[0], await refreshPublisher(ctx));
  await sleep(500);
  const setupMs = performance.now() - t0;
  const presenceFrames = subs.reduce((n, c) => n + c.frames, 0);
  const baseSeq = ctx.headSeq;
  let on = { ack: () => {}, fail: () => {} };
  let lastSeq = baseSeq;
  pub.onFrame = (bytes) => {
    if (bytes[1] === TAG_APPENDED) {
      const m = decodeMessage(bytes);
      if (m.seq !== lastSeq + 1) on.fail(new Error(`appended seq ${m.seq} after ${lastSeq}`));
      lastSeq = m.seq;
      on.ack();
    } else if (bytes[1] === TAG_ERROR) {
      const m = decodeMessage(bytes);
      on.fail(new Error(`append refused: ${m.code}: ${m.message}`));
    }
  };
  const result = await fanOut({
    subs,
    serverPid: ctx.relay.pid,
    send: (k) => pub.ws.send(frames[k]),
    bind: (callbacks) => (on = callbacks),
    isUpdate: (bytes) => bytes[1] === TAG_ENVELOPES,
    check: (_i, k, bytes) => {
      const m = decodeMessage(bytes);
      const item = m.items[0];
      return (
        m.items.length === 1 &&
        item.seq === baseSeq + k + 1 &&
        Buffer.compare(item.envelope, envelopes[k]) === 0 &&
        decodeEnvelope(item.envelope).deviceId === ctx.publisher.deviceId
      );
    },
  });
  ctx.headSeq = lastSeq;
  await closeAll([...subs, pub]);
  await until(async () => (await relayOpenSockets(ctx.url)) === 0, 30_000, "sockets to close");
  return {
    ...result,
    setupMs: round(setupMs),
    presenceFramesDuringSetup: presenceFrames,
    frameBytes: frames[0].length,
  };
}

async function ywsFanOut(ctx, repeat) {
  const total = ENVELOPES + SERIAL;
  // 1 KiB updates: appends of random letters to a Y.Text, as an editor would make them.
  const doc = new Y.Doc();
  const text = doc.getText("t");
  const updates = [];
  doc.on("update", (u) => updates.push(u));
  const letters = seededBuffer(`yfan-${repeat}`, MESSAGE_BYTES * total);
  const chars = (k, n) =>
    String.fromCharCode(
      ...letters.subarray(k * MESSAGE_BYTES, k * MESSAGE_BYTES + n).map((b) => 97 + (b % 26)),
    );
  const probeDoc = new Y.Doc();
  let probe = 0;
  probeDoc.on("update", (u) => (probe = u.length));
  probeDoc.getText("t").insert(0, chars(0, 1000));
  probeDoc.getText("t").insert(1000, chars(1, 1000)); // sized as an append after others
  const textBytes = 1000 + MESSAGE_BYTES - probe;
  for (let k = 0; k < total; k++) text.insert(text.length, chars(k, textBytes));
  const frames = updates.map((u) => syncFrame((e) => syncProtocol.writeUpdate(e, u)));
  const room = `fan-${repeat}`;
  const t0 = performance.now();
  const subs = new Array(SUBSCRIBERS);
  await pool(SUBSCRIBERS, CONNECT_CONCURRENCY, async (i) => {
    subs[i] = await ywsConnect(ctx.baseUrl, room, addressOf(i));
  });
  const pub = await ywsConnect(ctx.baseUrl, room, addresses[0]);
  await sleep(500);
  const setupMs = performance.now() - t0;
  let on = { ack: () => {} };
  const isUpdate = (bytes) => bytes[0] === MESSAGE_SYNC && bytes[1] === SYNC_UPDATE;
  pub.onFrame = (bytes) => {
    if (isUpdate(bytes)) on.ack(); // the server sends every update to every connection
  };
  const result = await fanOut({
    subs,
    serverPid: ctx.server.pid,
    send: (k) => pub.ws.send(frames[k]),
    bind: (callbacks) => (on = callbacks),
    isUpdate,
    check: (_i, k, bytes) => Buffer.compare(bytes, frames[k]) === 0,
  });
  await closeAll([...subs, pub]);
  return {
    ...result,
    setupMs: round(setupMs),
    frameBytes: frames[0].length,
    updateBytes: median(updates.map((u) => u.length)),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Blobs.

async function weftBlobs(ctx, repeat) {
  const bodies = seededBuffer(`blobs-${repeat}`, BLOBS * BLOB_BYTES);
  const blobs = Array.from({ length: BLOBS }, (_, k) => {
    const body = bodies.subarray(k * BLOB_BYTES, (k + 1) * BLOB_BYTES);
    return { body, id: createHash("sha256").update(body).digest("hex") };
  });
  const base = `${ctx.url}/v1/folders/${ctx.fanFolder}/blobs`;
  const auth = { authorization: `Bearer ${await refreshPublisher(ctx)}` };
  collect();
  let t0 = performance.now();
  await pool(BLOBS, BLOB_CONCURRENCY, async (k) => {
    const res = await fetch(`${base}/${blobs[k].id}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: blobs[k].body,
    });
    if (res.status !== 201) throw new Error(`PUT blob: HTTP ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  });
  const putMs = performance.now() - t0;
  const got = new Array(BLOBS);
  t0 = performance.now();
  await pool(BLOBS, BLOB_CONCURRENCY, async (k) => {
    const res = await fetch(`${base}/${blobs[k].id}`, { headers: auth });
    if (res.status !== 200) throw new Error(`GET blob: HTTP ${res.status} ${await res.text()}`);
    got[k] = Buffer.from(await res.arrayBuffer());
  });
  const getMs = performance.now() - t0;
  for (let k = 0; k < BLOBS; k++)
    if (!got[k].equals(blobs[k].body)) throw new Error(`blob ${k} came back different`);
  return {
    putMiBps: round(mibPerSec(BLOBS * BLOB_BYTES, putMs)),
    getMiBps: round(mibPerSec(BLOBS * BLOB_BYTES, getMs)),
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  await ready();
  const dir = await mkdtemp(join(tmpdir(), "weft-bench-relay-"));
  // Also on SIGINT/SIGTERM (lib/procs.mjs exits after killing the servers).
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const loadBefore = loadavg();
  try {
    const weft = await setUpRelay(dir);
    const yws = await setUpYws();
    await sleep(1000);
    const idle = { weft: rssOf(weft.relay.pid), yws: rssOf(yws.server.pid) };
    log(`idle RSS: relay ${round(idle.weft / MiB)} MiB, y-websocket ${round(idle.yws / MiB)} MiB`);
    const samples = { weft: [], yws: [] };
    for (let r = 0; r < REPEATS; r++) {
      log(`repeat ${r + 1}/${REPEATS}`);
      const w = {};
      const y = {};
      w.connections = await holdConnections(
        "relay",
        weft.relay.pid,
        (i) => {
          const id = weft.identities[i];
          return weftConnect(
            weft.wsUrl,
            addressOf(i),
            weft.mint(id.account.accountId, id.deviceId),
            id.account.folderId,
            0,
          );
        },
        () => relayOpenSockets(weft.url),
      );
      y.connections = await holdConnections("y-websocket", yws.server.pid, (i) =>
        ywsConnect(yws.baseUrl, `hold-${r}`, addressOf(i)),
      );
      w.fanout = await weftFanOut(weft, r);
      log(
        `relay fan-out: ${w.fanout.deliveriesPerSecond} deliveries/s, p50 ${w.fanout.latencyMs.p50} ms, p99 ${w.fanout.latencyMs.p99} ms`,
      );
      y.fanout = await ywsFanOut(yws, r);
      log(
        `y-websocket fan-out: ${y.fanout.deliveriesPerSecond} deliveries/s, p50 ${y.fanout.latencyMs.p50} ms, p99 ${y.fanout.latencyMs.p99} ms`,
      );
      w.blobs = await weftBlobs(weft, r);
      log(`relay blobs: PUT ${w.blobs.putMiBps} MiB/s, GET ${w.blobs.getMiBps} MiB/s`);
      samples.weft.push(w);
      samples.yws.push(y);
    }
    const finalRss = { weft: rssOf(weft.relay.pid), yws: rssOf(yws.server.pid) };
    await Promise.all([weft.relay.stop(), yws.server.stop()]);
    return summarize(samples, idle, finalRss, [loadBefore, loadavg()]);
  } finally {
    killAll();
    await rm(dir, { recursive: true, force: true });
  }
}

function summarize(samples, idle, finalRss, load) {
  const side = (list, idleRss, withBlobs) => {
    // The median over repeats of one figure of each sample.
    const m = (get, digits = 1) => round(median(list.map(get)), digits);
    const held = median(list.map((s) => s.connections.rssHeldBytes));
    return {
      connections: {
        count: CONNECTIONS,
        rssIdleMiB: round(idleRss / MiB),
        rssHeldMiB: round(held / MiB),
        rssPerConnectionKiB: round((held - idleRss) / CONNECTIONS / 1024, 2),
        connectMs: m((s) => s.connections.connectMs),
        connectsPerSecond: m((s) => s.connections.connectsPerSecond),
        serverCpuUsPerConnect: m((s) => s.connections.serverCpuUsPerConnect),
        framesAfterHandshake: m((s) => s.connections.framesAfterHandshake, 0),
      },
      fanout: {
        subscribers: SUBSCRIBERS,
        messages: ENVELOPES,
        deliveriesPerSecond: m((s) => s.fanout.deliveriesPerSecond),
        latencyMs: {
          p50: m((s) => s.fanout.latencyMs.p50, 2),
          p99: m((s) => s.fanout.latencyMs.p99, 2),
        },
        serialLatencyMs: {
          p50: m((s) => s.fanout.serialLatencyMs.p50, 2),
          p99: m((s) => s.fanout.serialLatencyMs.p99, 2),
        },
        serverCpuShare: m((s) => s.fanout.serverCpuShare, 2),
        benchCpuShare: m((s) => s.fanout.benchCpuShare, 2),
        serverCpuUsPerDelivery: m((s) => s.fanout.serverCpuUsPerDelivery, 2),
        benchCpuUsPerDelivery: m((s) => s.fanout.benchCpuUsPerDelivery, 2),
        setupMs: m((s) => s.fanout.setupMs),
        frameBytes: list[0].fanout.frameBytes,
      },
      blobs: withBlobs
        ? {
            count: BLOBS,
            bytesEach: BLOB_BYTES,
            concurrency: BLOB_CONCURRENCY,
            putMiBps: m((s) => s.blobs.putMiBps),
            getMiBps: m((s) => s.blobs.getMiBps),
          }
        : null,
      samples: list,
    };
  };
  const weft = side(samples.weft, idle.weft, true);
  const yws = side(samples.yws, idle.yws, false);
  weft.fanout.presenceFramesDuringSetup = median(
    samples.weft.map((s) => s.fanout.presenceFramesDuringSetup),
  );
  weft.rssAtEndMiB = round(finalRss.weft / MiB);
  yws.rssAtEndMiB = round(finalRss.yws / MiB);
  yws.fanout.updateBytes = samples.yws[0].fanout.updateBytes;
  yws.blobsNote = "y-websocket has no blob store";
  const ratio = (a, b) => round(a / b, 2);
  return {
    benchmark: "relay",
    quick,
    connections: CONNECTIONS,
    subscribers: SUBSCRIBERS,
    messages: ENVELOPES,
    serialMessages: SERIAL,
    messageBytes: MESSAGE_BYTES,
    window: WINDOW,
    repeats: REPEATS,
    loopbackAddresses: addresses.length,
    devicesPerAccount: PER_ACCOUNT,
    weft,
    yWebsocket: yws,
    ratiosWeftToYWebsocket: {
      rssPerConnection: ratio(
        weft.connections.rssPerConnectionKiB,
        yws.connections.rssPerConnectionKiB,
      ),
      deliveriesPerSecond: ratio(weft.fanout.deliveriesPerSecond, yws.fanout.deliveriesPerSecond),
      latencyP50: ratio(weft.fanout.latencyMs.p50, yws.fanout.latencyMs.p50),
      latencyP99: ratio(weft.fanout.latencyMs.p99, yws.fanout.latencyMs.p99),
      serialLatencyP50: ratio(weft.fanout.serialLatencyMs.p50, yws.fanout.serialLatencyMs.p50),
      serialLatencyP99: ratio(weft.fanout.serialLatencyMs.p99, yws.fanout.serialLatencyMs.p99),
      serverCpuPerDelivery: ratio(
        weft.fanout.serverCpuUsPerDelivery,
        yws.fanout.serverCpuUsPerDelivery,
      ),
    },
    targets: {
      rssHeldUnder1GiB: {
        target: "relay RSS < 1024 MiB with 10,000 connections",
        valueMiB: weft.connections.rssHeldMiB,
        pass: CONNECTIONS >= 10_000 ? weft.connections.rssHeldMiB < 1024 : null,
      },
      deliveriesPerSecond: {
        target: ">= 50,000",
        value: weft.fanout.deliveriesPerSecond,
        pass: weft.fanout.deliveriesPerSecond >= 50_000,
      },
    },
    notes: [
      "Relay clients: hello, auth, subscribe (PROTOCOL.md §4) on distinct devices, 60 per account (the relay allows 64 connections per account), each account's devices subscribed to that account's folder; so each connection also receives presence frames of up to 59 other devices.",
      "Relay device tokens are minted by the bench with the secret it gives the relay (WEFT_RELAY_JWT_SECRET), in the relay's own format (checked against a real login): a password login is one Argon2id hash, too slow for thousands of devices. The relay verifies each token and looks up its device on auth, as always.",
      "y-websocket clients do the y-protocols sync handshake (step 1, answer to the server's step 1, wait for step 2) in one room, and send no awareness: WebsocketProvider would, and with all clients in one room that is quadratic traffic.",
      "Fan-out: the k-th update a subscriber receives is matched to the k-th sent (both servers keep one publisher's order); every 50th subscriber decodes and compares each frame to check that.",
      "Both servers run on this machine next to the bench process, which is single-threaded: serverCpuShare and benchCpuShare (CPU seconds / wall seconds of the loaded fan-out) show which side was busy. loadAverage shows other load on the machine.",
    ],
    loadAverage: { start: load[0].map((x) => round(x, 2)), end: load[1].map((x) => round(x, 2)) },
    machine: machineInfo(null),
  };
}

function printSummary(r) {
  const w = r.weft;
  const y = r.yWebsocket;
  const row = (name, a, b, unit = "") =>
    `  ${name.padEnd(34)} ${String(a).padStart(12)} ${String(b).padStart(12)} ${unit}`;
  console.error(
    [
      "",
      `bench:relay${quick ? " (quick: a smoke test, not a measurement)" : ""} — medians of ${r.repeats}`,
      row("", "weft relay", "y-websocket"),
      row(`RSS idle`, w.connections.rssIdleMiB, y.connections.rssIdleMiB, "MiB"),
      row(
        `RSS with ${r.connections} connections`,
        w.connections.rssHeldMiB,
        y.connections.rssHeldMiB,
        "MiB",
      ),
      row(
        "RSS per connection",
        w.connections.rssPerConnectionKiB,
        y.connections.rssPerConnectionKiB,
        "KiB",
      ),
      row(
        "connects/s (handshake incl.)",
        w.connections.connectsPerSecond,
        y.connections.connectsPerSecond,
      ),
      row(
        `fan-out ${r.subscribers} subs: deliveries/s`,
        w.fanout.deliveriesPerSecond,
        y.fanout.deliveriesPerSecond,
      ),
      row(
        "  latency p50 / p99 (loaded)",
        `${w.fanout.latencyMs.p50}/${w.fanout.latencyMs.p99}`,
        `${y.fanout.latencyMs.p50}/${y.fanout.latencyMs.p99}`,
        "ms",
      ),
      row(
        "  latency p50 / p99 (one at a time)",
        `${w.fanout.serialLatencyMs.p50}/${w.fanout.serialLatencyMs.p99}`,
        `${y.fanout.serialLatencyMs.p50}/${y.fanout.serialLatencyMs.p99}`,
        "ms",
      ),
      row(
        "  server / bench CPU share",
        `${w.fanout.serverCpuShare}/${w.fanout.benchCpuShare}`,
        `${y.fanout.serverCpuShare}/${y.fanout.benchCpuShare}`,
      ),
      row(
        "  server CPU per delivery",
        w.fanout.serverCpuUsPerDelivery,
        y.fanout.serverCpuUsPerDelivery,
        "µs",
      ),
      row("blob PUT / GET 1 MiB", `${w.blobs.putMiBps}/${w.blobs.getMiBps}`, "n/a", "MiB/s"),
      "",
    ].join("\n"),
  );
}

let result;
try {
  result = await main();
} catch (error) {
  killAll();
  console.error(error);
  process.exit(1);
}
// A --quick run is a smoke test: it must not overwrite the measured results.
const out = join(here, "results", quick ? "relay.quick.json" : "relay.json");
writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
writeReport(); // bench/RESULTS.md and its charts
printSummary(result);
console.log(JSON.stringify(result, null, 2));
process.exit(0);
