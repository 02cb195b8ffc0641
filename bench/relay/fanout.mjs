// bench:relay's fan-out pass: one publisher, S subscribers, every delivery timed from the
// publisher's send to the subscriber's receipt (one process, one clock). Servers: the relay
// (one process or several sharing a database and a bus) and y-websocket.
import { clearTimeout, setTimeout } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeEnvelope, encodeEnvelope, sealEnvelope } from "@weft/crypto";
import { MESSAGE_TAGS, decodeMessage, encodeMessage } from "@weft/core";
import { seededBuffer } from "../lib/input.mjs";
import { cpuSecondsOf, ownCpuSeconds } from "../lib/procs.mjs";
import { collect, round } from "../lib/stats.mjs";
import {
  closeAll,
  percentile,
  pool,
  refreshPublisher,
  relayOpenSockets,
  until,
  weftConnect,
} from "./weft-client.mjs";

/** Handshakes in progress at once while connecting. */
export const CONNECT_CONCURRENCY = 64;
const TAG_ERROR = MESSAGE_TAGS.error;
const TAG_ENVELOPES = MESSAGE_TAGS.envelopes;
const TAG_APPENDED = MESSAGE_TAGS.appended;

/** CPU seconds all of `pids` have used so far. */
export const cpuOfAll = (pids) => pids.reduce((s, pid) => s + cpuSecondsOf(pid), 0);

/** p50, p99 and max of a list of milliseconds (sorted in place). */
export function latencySummary(xs) {
  const sorted = xs.sort();
  return {
    p50: round(percentile(sorted, 0.5), 2),
    p99: round(percentile(sorted, 0.99), 2),
    max: round(sorted[sorted.length - 1], 2),
  };
}

/**
 * Sends `messages` from the publisher to the subscribers and times every delivery. Two passes
 * over disjoint messages: "loaded" keeps `window` sends unacknowledged (the relay's `appended`;
 * for y-websocket the server's echo of the update to the publisher), "serial" sends the next
 * only once every subscriber has the last. Ordering is the server's promise (one publisher,
 * one log), so the k-th update a subscriber sees is the k-th sent; `check(i, k, bytes)` verifies
 * that on a sample of subscribers. `bind({ ack, fail })` hands the publisher's side the
 * callbacks for an acknowledgement and for a refusal. `serverPids`: the processes whose CPU
 * counts as the server's.
 */
export async function fanOut({ subs, send, bind, isUpdate, check, serverPids, sizes }) {
  const { envelopes, serial: serialCount, window } = sizes;
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
          (serial ? sent === 0 || perMessage[sent - 1] === S : sent - acked < window)
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
  const cpu0 = cpuOfAll(serverPids);
  const own0 = ownCpuSeconds();
  const loaded = await run(0, envelopes, false);
  const cpuServer = cpuOfAll(serverPids) - cpu0;
  const cpuBench = ownCpuSeconds() - own0;
  const serial = await run(envelopes, serialCount, true);
  return {
    deliveriesPerSecond: round((S * envelopes) / (loaded.ms / 1000)),
    loadedMs: round(loaded.ms),
    latencyMs: latencySummary(loaded.latency),
    serialLatencyMs: latencySummary(serial.latency),
    serverCpuShare: round(cpuServer / (loaded.ms / 1000), 2),
    benchCpuShare: round(cpuBench / (loaded.ms / 1000), 2),
    serverCpuUsPerDelivery: round((cpuServer / (S * envelopes)) * 1e6, 2),
    benchCpuUsPerDelivery: round((cpuBench / (S * envelopes)) * 1e6, 2),
  };
}

/**
 * The fan-out against relays: `ctx.wsUrls` (one per relay process); subscriber i connects to
 * relay i mod n, the publisher to the first. `ctx.pids` are the relays' processes;
 * `extraPids` (the NATS server) count as server CPU too.
 */
export async function weftFanOut(ctx, repeat, sizes, extraPids = []) {
  const { identities, mint, fanFolder } = ctx;
  const { subscribers, envelopes: count, serial, messageBytes, addresses } = sizes;
  const total = count + serial;
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
  const payloadBytes = messageBytes - probe(0);
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
  const subs = new Array(subscribers);
  await pool(subscribers, CONNECT_CONCURRENCY, async (i) => {
    const id = identities[i];
    subs[i] = await weftConnect(
      ctx.wsUrls[i % ctx.wsUrls.length],
      addresses[i % addresses.length],
      mint(id.account.accountId, id.deviceId),
      fanFolder,
      ctx.headSeq,
    );
  });
  const pub = await weftConnect(ctx.wsUrls[0], addresses[0], await refreshPublisher(ctx));
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
    serverPids: [...ctx.pids, ...extraPids],
    sizes: { envelopes: count, serial, window: sizes.window },
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
  for (const url of ctx.urls)
    await until(async () => (await relayOpenSockets(url)) === 0, 30_000, "sockets to close");
  return {
    ...result,
    setupMs: round(setupMs),
    presenceFramesDuringSetup: presenceFrames,
    frameBytes: frames[0].length,
  };
}
