#!/usr/bin/env node
// bench:abuse — the attacks of issue 21 against one relay process on loopback, each in bounded
// loops, with the relay's RSS, the p99 of GET /health and a legitimate client's sync time
// during the attack next to the same without it (measured in the same run):
//   preauth      unauthenticated sockets that declare a 16 MiB frame, send up to 15 MiB of it
//                and stop (the relay used to hold it for the 120 s idle timeout);
//   authFrames   the same from one account's sockets authenticated at their upgrade (the 16 MiB
//                route): the per-account budget bounds them (64 × 16 MiB by default);
//   resubscribe  authenticated sockets that stop reading and re-send `subscribe afterSeq=0` on a
//                folder with a 24 × 1 MiB log (the relay used to queue the whole log each time);
//   login        waves of 100 concurrent logins for distinct unknown names (each one an Argon2
//                check; they used to queue ahead of real users for many seconds);
//   gc           an owner sends `blobs/delete` for all of its folder's current chunks, over and
//                over (the relay runs with GC grace 0); afterwards a device holding them
//                has-checks and reads them back: none may be lost (the quarantine keeps them);
//   nestedJson   bodies of 64 KiB of nested `[` (they used to answer 500), 4 at a time;
//   silentDevice (a check, not a load) a member device that acks once and goes silent must stop
//                holding back the log's pruning after --prune-silent-after (2 s here).
//   quota        (attack 4, a check, not a load; bench/lib/abuse-quota.mjs) one account spreads
//                chunks over many folders, holds unfinished uploads, appends 1 MiB entries and
//                stores a 16 MiB snapshot, against a second relay with small quotas: what it
//                stored stays within its account quota.
// The legitimate client (another address, 127.0.0.2) logs in, opens a socket, subscribes to
// its own folder (64 small entries), appends one entry and waits for it to come back. Goals:
// /health p99 ≤ 50 ms, sync ≤ 2× quiet, RSS bounded by the configured limits. /health is
// sampled from a worker thread, so the attack's own work in this process does not delay it,
// and the relay's own event-loop delay p99 (prom-client's, reset at each scrape) is reported
// beside it: a slow /health with a quiet relay loop is this machine's load, not the relay.
// Runs against the built packages (`npm run build` first). Writes bench/results/abuse.json.
//
//   npm run bench:abuse [-- --quick] [-- --no-save]
//   (--quick: fewer sockets, a smaller log and fewer rounds; writes results/abuse.quick.json)
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { connect as tcpConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  ready,
  sealEnvelope,
  toBase64Url,
} from "@weft/crypto";
import { SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { WebSocket } from "ws";
import { attackGc, attackNestedJson, silentDevice } from "./lib/abuse-low.mjs";
import { QUOTA_ENV, attackQuota } from "./lib/abuse-quota.mjs";
import { machineInfo } from "./lib/machine.mjs";
import { probeHealth, startControl } from "./lib/abuse-probe.mjs";
import { rssOf } from "./lib/procs.mjs";
import { goal, load, removeDir, saveResult, scratchDir } from "./lib/run.mjs";
import { median, round } from "./lib/stats.mjs";
import { startRelay } from "./lib/weft.mjs";

const quick = process.argv.includes("--quick");
const MiB = 1024 * 1024;
const ATTACKER = "127.0.0.1";
const LEGIT = "127.0.0.2";
const PROBE = "127.0.0.3";
const P = quick
  ? {
      preauthSockets: 32,
      authSockets: 16,
      preauthMiB: 15,
      logEntries: 8,
      resubSockets: 4,
      resubEach: 20,
      loginWaves: 2,
      gcChunks: 32,
      nestedParallel: 2,
      rounds: 3,
    }
  : {
      preauthSockets: 256,
      authSockets: 72,
      preauthMiB: 15,
      logEntries: 24,
      resubSockets: 16,
      resubEach: 50,
      loginWaves: 5,
      gcChunks: 256,
      nestedParallel: 4,
      rounds: 7,
    };
const SILENT_SECONDS = 2;

await ready();
const loadAtStart = load();
const dir = scratchDir("weft-bench-abuse-", 2 * 1024 * MiB);
const relay = await startRelay({
  dir,
  // GC grace 0: an owner's delete removes current content at once (attack 5 at its worst);
  // silence counted after 2 s, so attack 6's silent device is measured in seconds.
  env: { WEFT_RELAY_GC_GRACE: "0", WEFT_RELAY_PRUNE_SILENT_AFTER: String(SILENT_SECONDS) },
});
const { hostname, port } = new URL(relay.url);
// The control: a bare Node HTTP server in its own process, probed like the relay.
const control = await startControl();
const hello = encodeMessage({
  type: "hello",
  versions: SUPPORTED_VERSIONS,
  client: { name: "bench", version: "1" },
});

// ---------------------------------------------------------------- HTTP and WebSocket helpers

/** A JSON request (its body serialised); answers the status and the parsed answer ({} if empty). */
async function http(method, path, body, options = {}) {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const res = await raw(method, path, data, { ...options, type: data && "application/json" });
  const text = res.body.toString();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/** A request with a raw body (a Buffer) or none; answers the status and the body's bytes. */
function raw(method, path, body, { from = LEGIT, token, type } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port,
        path,
        method,
        localAddress: from,
        headers: {
          ...(body ? { "content-length": body.length } : {}),
          ...(type ? { "content-type": type } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const parts = [];
        res.on("data", (d) => parts.push(d));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function account(user, from) {
  const device = generateDeviceIdentity();
  const password = `${user}-correct-horse`;
  const reg = await http("POST", "/v1/auth/register", { user, password }, { from });
  if (reg.status !== 201) throw new Error(`register ${user}: ${reg.status}`);
  const deviceKeys = {
    signPublicKey: toBase64Url(device.signPublicKey),
    boxPublicKey: toBase64Url(device.boxPublicKey),
  };
  const login = await http(
    "POST",
    "/v1/auth/login",
    { user, password, device: deviceKeys },
    { from },
  );
  const folderId = newFolderId();
  await http("POST", "/v1/folders", { folderId }, { from, token: login.json.accessToken });
  return {
    user,
    password,
    device,
    deviceKeys,
    folderId,
    token: login.json.accessToken,
    seq: 0,
    key: randomBytes(32),
  };
}

/** A socket authenticated at its upgrade, hello and auth done; `next(match)` awaits a message. */
async function socket(token, from) {
  const ws = new WebSocket(`ws://${hostname}:${port}/v1/ws`, ["weft", `weft.bearer.${token}`], {
    localAddress: from,
    perMessageDeflate: false,
  });
  const waiters = [];
  ws.on("message", (data) => {
    const m = decodeMessage(new Uint8Array(data));
    for (const w of [...waiters])
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  ws.on("error", () => undefined);
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
  const next = (match) => new Promise((resolve) => waiters.push({ match, resolve }));
  ws.send(hello);
  ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
  await next((m) => m.type === "ok" && m.requestId === 1);
  return { ws, next };
}

function envelope(who, bytes) {
  who.seq += 1;
  const sealed = sealEnvelope(
    { folderId: who.folderId, deviceId: who.device.deviceId, deviceSeq: who.seq, epoch: 0 },
    who.key,
    who.device.signSecretKey,
    randomBytes(bytes),
  );
  return encodeEnvelope(sealed);
}

async function fill(who, entries, bytes) {
  const s = await socket(who.token, who.from ?? LEGIT);
  let last;
  for (let i = 0; i < entries; i++) {
    last = s.next((m) => m.type === "appended" && m.requestId === 100 + i);
    s.ws.send(
      encodeMessage({
        type: "append",
        requestId: 100 + i,
        folderId: who.folderId,
        envelope: envelope(who, bytes),
      }),
    );
  }
  await last;
  s.ws.close();
}

// ---------------------------------------------------------------- what is measured

/** One legitimate sync: login, socket, subscribe from 0, append, see it come back. */
async function legitSync(legit) {
  const t0 = performance.now();
  const login = await http("POST", "/v1/auth/login", {
    user: legit.user,
    password: legit.password,
    device: legit.deviceKeys,
  });
  if (login.status !== 200) throw new Error(`legit login: ${login.status}`);
  const s = await socket(login.json.accessToken, LEGIT);
  const caughtUp = s.next((m) => m.type === "envelopes" && m.items.at(-1).seq >= legit.entries);
  s.ws.send(
    encodeMessage({ type: "subscribe", requestId: 2, folderId: legit.folderId, afterSeq: 0 }),
  );
  await caughtUp;
  const appended = s.next((m) => m.type === "appended" && m.requestId === 3);
  s.ws.send(
    encodeMessage({
      type: "append",
      requestId: 3,
      folderId: legit.folderId,
      envelope: envelope(legit, 2048),
    }),
  );
  await appended;
  legit.entries += 1;
  const ms = performance.now() - t0;
  s.ws.close();
  return ms;
}

/** The relay's event-loop delay p99 (ms) since its last scrape (prom-client resets it then). */
async function relayLoopP99() {
  const m = await relay.metrics();
  const v = m["nodejs_eventloop_lag_p99_seconds"];
  return typeof v === "number" ? round(v * 1000) : null;
}

/** Runs `rounds` legitimate syncs while sampling /health (20/s, from a worker) and RSS (10/s). */
async function measure(legit) {
  let running = true;
  const rss = [];
  await relayLoopP99(); // resets the relay's loop-delay histogram
  const probe = probeHealth({
    host: hostname,
    port,
    controlPort: control.value,
    localAddress: PROBE,
  });
  const sampler = (async () => {
    while (running) {
      rss.push(rssOf(relay.pid));
      await sleep(100);
    }
  })();
  const syncs = [];
  for (let i = 0; i < P.rounds; i++) syncs.push(await legitSync(legit));
  running = false;
  const { relay: health, control: controlHealth } = await probe.stop();
  await sampler;
  const p99 = (xs) => {
    xs.sort((a, b) => a - b);
    return round(xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]);
  };
  return {
    syncMs: round(median(syncs)),
    syncSamplesMs: syncs.map((x) => round(x)),
    healthP99Ms: p99(health),
    healthSamples: health.length,
    controlHealthP99Ms: p99(controlHealth),
    relayLoopDelayP99Ms: await relayLoopP99(),
    rssMaxMiB: round(Math.max(...rss) / MiB),
  };
}

// ---------------------------------------------------------------- the attacks

/** Raw TCP: a WebSocket upgrade, then a frame header declaring 16 MiB and up to `mib` MiB of it. */
/**
 * A raw socket from the attacker that declares a 16 MiB frame and sends `mib` MiB of it; with
 * `token`, authenticated at its upgrade (the 16 MiB route), else not (the 16 KiB one).
 */
function stalledSocket(mib, held, token) {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: hostname, port, localAddress: ATTACKER });
    held.push(sock);
    let upgraded = false;
    let sent = 0;
    const done = (how) => resolve({ how, sentMiB: sent / MiB });
    sock.on("error", () => done("error"));
    sock.on("close", () => done(upgraded ? "closed" : "refused"));
    sock.write(
      `GET /v1/ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n` +
        (token ? `Sec-WebSocket-Protocol: weft, weft.bearer.${token}\r\n` : "") +
        "\r\n",
    );
    sock.once("data", async (d) => {
      if (!d.toString().startsWith("HTTP/1.1 101")) return sock.destroy();
      upgraded = true;
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(16 * MiB), 2);
      randomBytes(4).copy(header, 10);
      sock.write(header);
      const chunk = randomBytes(MiB);
      for (let i = 0; i < mib && !sock.destroyed; i++) {
        sent += MiB;
        if (!sock.write(chunk))
          await new Promise((r) => (sock.once("drain", r), sock.once("close", r)));
      }
      done(sock.destroyed ? "closed" : "holding");
    });
  });
}

async function attackPreauth() {
  const held = [];
  const outcomes = await Promise.all(
    Array.from({ length: P.preauthSockets }, () => stalledSocket(P.preauthMiB, held)),
  );
  const count = (how) => outcomes.filter((o) => o.how === how).length;
  return {
    stop: () => held.forEach((s) => s.destroy()),
    detail: {
      sockets: P.preauthSockets,
      refusedAtUpgrade: count("refused"),
      closedMidFrame: count("closed") + count("error"),
      holding: count("holding"),
      attackerSentMiB: round(outcomes.reduce((n, o) => n + o.sentMiB, 0)),
    },
  };
}

/**
 * Attack 1 with an account: sockets of one account, authenticated at their upgrade, each
 * sending 15 MiB of a declared 16 MiB frame and stopping. The per-account budget (1,028 MiB by
 * default: a full frame for each of the 64 connections an account may hold) admits 64; the
 * rest are refused with 503 before the upgrade.
 */
async function attackAuthFrames(attacker) {
  const held = [];
  const outcomes = await Promise.all(
    Array.from({ length: P.authSockets }, () => stalledSocket(P.preauthMiB, held, attacker.token)),
  );
  const count = (how) => outcomes.filter((o) => o.how === how).length;
  return {
    stop: () => held.forEach((s) => s.destroy()),
    detail: {
      sockets: P.authSockets,
      refusedAtUpgrade: count("refused"),
      closedMidFrame: count("closed") + count("error"),
      holding: count("holding"),
      attackerSentMiB: round(outcomes.reduce((n, o) => n + o.sentMiB, 0)),
    },
  };
}

async function attackResubscribe(attacker) {
  const sockets = [];
  let resubscribes = 0;
  for (let i = 0; i < P.resubSockets; i++) {
    const s = await socket(attacker.token, ATTACKER);
    s.ws.pause();
    sockets.push(s);
  }
  let running = true;
  const loop = (async () => {
    for (let r = 0; running && r < P.resubEach; r++) {
      for (const s of sockets) {
        s.ws.send(
          encodeMessage({
            type: "subscribe",
            requestId: 10 + r,
            folderId: attacker.folderId,
            afterSeq: 0,
          }),
        );
        resubscribes++;
      }
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      sockets.forEach((s) => s.ws.terminate());
    },
    detail: () => ({
      sockets: P.resubSockets,
      resubscribes,
      logMiB: P.logEntries,
    }),
  };
}

async function attackLogin() {
  let running = true;
  const statuses = {};
  let sent = 0;
  const loop = (async () => {
    for (let wave = 0; running && wave < P.loginWaves * 4; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          http(
            "POST",
            "/v1/auth/login",
            { user: `nobody-${wave}-${i}`, password: "wrong-password" },
            { from: ATTACKER },
          ).catch(() => ({ status: 0 })),
        ),
      );
      sent += answers.length;
      for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
    detail: () => ({ logins: sent, statuses }),
  };
}

// ---------------------------------------------------------------- the run

// A legitimate account per measurement: each sync logs in, and one name may log in from one
// address only ten times in a burst.
let legits = 0;
const freshLegit = async () => {
  const a = await account(`legit-${legits++}`, LEGIT);
  await fill(a, 64, 1024);
  a.entries = 64;
  return a;
};
const attacker = await account("attacker", ATTACKER);
attacker.from = ATTACKER;
await fill(attacker, P.logEntries, MiB - 4096);
const baselineRssMiB = round(rssOf(relay.pid) / MiB);

const phases = {};
const run = async (name, start) => {
  const quiet = await measure(await freshLegit());
  const legit = await freshLegit();
  const attack = await start();
  const during = await measure(legit);
  await attack.stop();
  phases[name] = {
    quiet,
    during,
    syncRatio: round(during.syncMs / quiet.syncMs, 2),
    attack: typeof attack.detail === "function" ? await attack.detail() : attack.detail,
  };
  await sleep(500);
};
// What the attacks in lib/ use of this file.
const helpers = { http, raw, socket, envelope, fill, account };
// The attacks under load, in order: [name, start]. Attack 4 (quota bypass, disk fill) needs a
// relay with small quotas, and is run after them on one of its own.
const ATTACKS = [
  ["preauth", attackPreauth],
  ["authFrames", () => attackAuthFrames(attacker)],
  ["resubscribe", () => attackResubscribe(attacker)],
  ["login", attackLogin],
  ["gc", () => attackGc(helpers, { chunks: P.gcChunks, chunkBytes: 64 * 1024 })],
  ["nestedJson", () => attackNestedJson(helpers, { depth: 64 * 1024, parallel: P.nestedParallel })],
];
for (const [name, start] of ATTACKS) await run(name, start);
const silent = await silentDevice(helpers, {
  dataDir: relay.dataDir,
  silentSeconds: SILENT_SECONDS,
  entries: 16,
});
await control.stop();
const usage = await relay.stop();
removeDir(dir);
const quotaDir = scratchDir("weft-bench-quota-", 512 * MiB);
const quotaRelay = await startRelay({ dir: quotaDir, env: QUOTA_ENV });
const quota = await attackQuota({ url: quotaRelay.url, dataDir: quotaRelay.dataDir, quick });
await quotaRelay.stop();
removeDir(quotaDir);

const result = {
  bench: "abuse",
  quick,
  when: new Date().toISOString(),
  machine: machineInfo(),
  load: load(),
  loadAverage: { start: loadAtStart, end: load() },
  params: P,
  relay: { baselineRssMiB, peakRssMiB: round(usage.peakRssBytes / MiB) },
  phases,
  silentDevice: silent,
  quota,
  goals: [
    ...Object.entries(phases).flatMap(([name, p]) => [
      goal(`${name}: /health p99 during the attack (ms)`, p.during.healthP99Ms, "≤", 50),
      goal(`${name}: legitimate sync during ÷ quiet`, p.syncRatio, "≤", 2),
    ]),
    goal("gc: chunks intact after the attack", phases.gc.attack.intactAfter, "≥", P.gcChunks),
    goal("nestedJson: 500 answers", phases.nestedJson.attack.statuses["500"] ?? 0, "≤", 0),
    goal(
      "quota: bytes one account stored over its folders ÷ its quota",
      round(quota.spread.storedBytes / quota.spread.accountQuota, 2),
      "≤",
      1,
    ),
    goal(
      "silentDevice: log pruned past the silent device (1 = yes)",
      silent.pruned ? 1 : 0,
      "≥",
      1,
    ),
  ],
};
saveResult("abuse", quick, result);
process.exit(0);
