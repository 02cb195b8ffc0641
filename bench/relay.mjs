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
//   [-- --protocol V]: the clients announce protocol versions up to V (default: this build's
//   highest), to compare older clients on the same relay (4: presence one frame per device)
//   [-- --auth-frame]: the clients send `auth` after `welcome` with the token their upgrade
//   carried, as core's Replica does (default: they skip it, as a socket authenticated at its
//   upgrade may; y-websocket's clients likewise do its handshake's minimum, without awareness)
//   (--quick: 200 connections, 20 subscribers × 200 envelopes, 8 blobs, 1 repeat; a smoke test
//    that writes results/relay.quick.json and leaves relay.json alone)
//
//   npm run bench:relay -- --relays N [--connections N] [--subscribers S] [--writers W]
//                          [--folders F] [--repeats R] [--quick]
//   (N > 1: the scale-out comparison in relay/cluster.mjs — one relay on SQLite, one on
//    PostgreSQL, N on PostgreSQL + NATS — with an append-rate pass; writes
//    results/relay-cluster.json. Needs PostgreSQL (WEFT_BENCH_PG_URL, default
//    postgres://postgres@127.0.0.1:5432/postgres) and nats-server on PATH.)
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { deriveFolderSubkeys, generateFolderKey, ready } from "@weft/crypto";
import { seededBuffer } from "./lib/input.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { writeReport } from "./lib/report.mjs";
import { killAll, rssOf, startChild } from "./lib/procs.mjs";
import { collect, median, mibPerSec, round } from "./lib/stats.mjs";
import { weftFanOut } from "./relay/fanout.mjs";
import { runCluster } from "./relay/cluster.mjs";
import { printClusterSummary } from "./relay/cluster-summary.mjs";
import { holdConnections } from "./relay/hold.mjs";
import { setUpYws, ywsConnect, ywsFanOut } from "./relay/yws.mjs";
import {
  PER_ACCOUNT,
  announceUpTo,
  loopbackAddresses,
  pool,
  refreshPublisher,
  relayOpenSockets,
  sendAuthFrame,
  setUpAccounts,
  tokenMinter,
  weftConnect,
} from "./relay/weft-client.mjs";

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
/** The protocol version the relay clients announce at most (0: this build's highest). */
const PROTOCOL = arg("--protocol", 0);
if (PROTOCOL > 0) announceUpTo(PROTOCOL);
const AUTH_FRAME = args.includes("--auth-frame");
sendAuthFrame(AUTH_FRAME);
/** Relay processes: 1 is the comparison with y-websocket; more runs relay/cluster.mjs. */
const RELAYS = arg("--relays", 1);
/** Envelopes/updates sent one at a time (next only once every subscriber has the last). */
const SERIAL = quick ? 20 : 50;
/** Unacknowledged sends the publisher keeps in flight in the loaded run. */
const WINDOW = 4;
/** Concurrent blob requests. */
const BLOB_CONCURRENCY = 4;
const MESSAGE_BYTES = 1024;
const BLOB_BYTES = 1024 * 1024;
const MiB = 1024 * 1024;
const { fetch } = globalThis;
/** The fan-out's sizes (relay/fanout.mjs). */
const SIZES = {
  subscribers: SUBSCRIBERS,
  envelopes: ENVELOPES,
  serial: SERIAL,
  window: WINDOW,
  messageBytes: MESSAGE_BYTES,
};
for (const [name, v] of Object.entries({
  CONNECTIONS,
  SUBSCRIBERS,
  ENVELOPES,
  BLOBS,
  REPEATS,
  RELAYS,
}))
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..");
const relayCli = join(root, "packages/relay/dist/cli.js");
const ywsServer = join(root, "node_modules/y-websocket-2/bin/server.cjs");
/** Extra node flags for the two servers, e.g. WEFT_BENCH_SERVER_FLAGS=--cpu-prof to profile them. */
const serverFlags = (process.env.WEFT_BENCH_SERVER_FLAGS ?? "").split(" ").filter(Boolean);
const addresses = loopbackAddresses(Math.max(CONNECTIONS, SUBSCRIBERS));
const addressOf = (i) => addresses[i % addresses.length];
const log = (...xs) =>
  console.error(`[bench:relay ${(performance.now() / 1000).toFixed(1)}s]`, ...xs);
// ---------------------------------------------------------------------------------------------
// The relay.

/** Starts the relay and prepares accounts, devices, folders and the publisher. */
async function setUpRelay(dir) {
  const secret = randomBytes(32).toString("base64url");
  const relay = await startChild(
    process.execPath,
    [...serverFlags, relayCli, "--port", "0", "--data", join(dir, "data"), "--rate-limit", "0"],
    {
      name: "weft relay",
      env: {
        ...process.env,
        WEFT_RELAY_JWT_SECRET: secret,
        WEFT_RELAY_LOG_LEVEL: "info",
        // The byte budget's defaults: a socket's 16 MiB frame limit counts against its account
        // (60 devices each here, within the 64 an account may hold), not against the relay.
      },
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
  log(`relay ${url} (pid ${relay.pid})`);
  const setUp = await setUpAccounts(url, mint, {
    devices: Math.max(CONNECTIONS, SUBSCRIBERS),
    subscribers: SUBSCRIBERS,
    log,
  });
  return {
    ...setUp,
    relay,
    url,
    urls: [url],
    wsUrl: `${url.replace("http", "ws")}/v1/ws`,
    wsUrls: [`${url.replace("http", "ws")}/v1/ws`],
    pids: [relay.pid],
    mint,
    indexKey: deriveFolderSubkeys(generateFolderKey(), 0).index,
    nextDeviceSeq: 1,
    headSeq: 0,
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
    const yws = await setUpYws(ywsServer, serverFlags, log);
    await sleep(1000);
    const idle = { weft: rssOf(weft.relay.pid), yws: rssOf(yws.server.pid) };
    log(`idle RSS: relay ${round(idle.weft / MiB)} MiB, y-websocket ${round(idle.yws / MiB)} MiB`);
    const samples = { weft: [], yws: [] };
    for (let r = 0; r < REPEATS; r++) {
      log(`repeat ${r + 1}/${REPEATS}`);
      const w = {};
      const y = {};
      // Minted before the clock starts: a device has its access token before it connects (from
      // its login or last refresh), and minting is bench work neither server's clients do.
      const tokens = weft.identities
        .slice(0, CONNECTIONS)
        .map((id) => weft.mint(id.account.accountId, id.deviceId));
      w.connections = await holdConnections(
        "relay",
        [weft.relay.pid],
        CONNECTIONS,
        (i) => {
          const id = weft.identities[i];
          return weftConnect(weft.wsUrl, addressOf(i), tokens[i], id.account.folderId, 0);
        },
        () => relayOpenSockets(weft.url),
        log,
      );
      y.connections = await holdConnections(
        "y-websocket",
        [yws.server.pid],
        CONNECTIONS,
        (i) => ywsConnect(yws.baseUrl, `hold-${r}`, addressOf(i)),
        undefined,
        log,
      );
      w.fanout = await weftFanOut(weft, r, { ...SIZES, addresses });
      log(
        `relay fan-out: ${w.fanout.deliveriesPerSecond} deliveries/s, p50 ${w.fanout.latencyMs.p50} ms, p99 ${w.fanout.latencyMs.p99} ms`,
      );
      y.fanout = await ywsFanOut(yws, r, { ...SIZES, addresses });
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
        benchCpuUsPerConnect: m((s) => s.connections.benchCpuUsPerConnect),
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
    authFrame: AUTH_FRAME,
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
      `Relay clients: the access token in the upgrade, hello, ${AUTH_FRAME ? "auth (the same token again, as core's Replica sends it), " : "(no auth frame: the upgrade authenticated the socket; --auth-frame sends it, as core's Replica does), "}subscribe (PROTOCOL.md §4) on distinct devices, 60 per account (the relay allows 64 connections per account), each account's devices subscribed to that account's folder; so each connection also receives presence frames of up to 59 other devices.`,
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

/** Runs the scale-out comparison (relay/cluster.mjs); writes results/relay-cluster.json. */
async function cluster() {
  await ready();
  const result = await runCluster({
    relays: RELAYS,
    quick,
    connections: CONNECTIONS,
    sizes: SIZES,
    repeats: REPEATS,
    writers: arg("--writers", quick ? 4 : 8),
    folders: arg("--folders", quick ? 10 : 50),
    perWriterOne: quick ? 25 : 250,
    perWriterMany: quick ? 10 : 40,
    appendWindow: WINDOW,
    addresses,
    relayCli,
    serverFlags,
    log,
  });
  const out = join(here, "results", quick ? "relay-cluster.quick.json" : "relay-cluster.json");
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  writeReport();
  printClusterSummary(result);
  console.log(JSON.stringify(result, null, 2));
}

let result;
try {
  if (RELAYS > 1) {
    await cluster();
    process.exit(0);
  }
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
