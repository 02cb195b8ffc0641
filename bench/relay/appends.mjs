// bench:relay's append-rate pass: devices append 1 KiB envelopes as fast as the relays
// acknowledge them, all into one folder (the folder's seq is assigned one append at a time) or
// one writer per folder across many folders.
import { clearTimeout, setTimeout } from "node:timers";
import { encodeEnvelope, newFolderId, sealEnvelope } from "@weft/crypto";
import { MESSAGE_TAGS, decodeMessage, encodeMessage } from "@weft/core";
import { seededBuffer } from "../lib/input.mjs";
import { ownCpuSeconds } from "../lib/procs.mjs";
import { collect, round } from "../lib/stats.mjs";
import { cpuOfAll, latencySummary } from "./fanout.mjs";
import { call, closeAll, expectStatus, pool, weftConnect } from "./weft-client.mjs";

const TAG_ERROR = MESSAGE_TAGS.error;
const TAG_APPENDED = MESSAGE_TAGS.appended;

/** Seals `count` 1 KiB `append` frames of device `id` into `folderId`, deviceSeq from 1. */
function appendFrames(ctx, id, folderId, count, seed, messageBytes) {
  const meta = (deviceSeq) => ({ folderId, deviceId: id.deviceId, deviceSeq, epoch: 0 });
  const overhead = encodeEnvelope(
    sealEnvelope(meta(1), ctx.indexKey, id.signSecretKey, new Uint8Array(0)),
  ).length;
  const payloadBytes = messageBytes - overhead;
  const payloads = seededBuffer(seed, payloadBytes * count);
  return Array.from({ length: count }, (_, k) =>
    encodeMessage({
      type: "append",
      requestId: k + 1,
      folderId,
      envelope: encodeEnvelope(
        sealEnvelope(
          meta(k + 1),
          ctx.indexKey,
          id.signSecretKey,
          payloads.subarray(k * payloadBytes, (k + 1) * payloadBytes),
        ),
      ),
    }),
  );
}

/**
 * `writers` of account 0's devices append `perWriter` envelopes each, `window` unacknowledged
 * per writer, into `folders` new folders of account 0 (writer w into folder w mod folders);
 * writer w connects to relay w mod n and subscribes to its folder first, as a device does, so
 * in a shared folder every append is also delivered to the other writers. Returns appends/s
 * (all appends / time from the first send to the last `appended`), the send → `appended`
 * latency, and the servers' CPU per append.
 */
export async function appendRate(ctx, repeat, { writers, folders, perWriter, window, sizes }) {
  const { addresses, messageBytes } = sizes;
  const owner = ctx.accounts[0];
  const folderIds = Array.from({ length: folders }, () => newFolderId());
  await pool(folders, 4, (f) =>
    expectStatus(
      "create folder",
      201,
      call(ctx.url, "POST", "/v1/folders", { folderId: folderIds[f] }, ctx.mint(owner.accountId)),
    ),
  );
  const frames = Array.from({ length: writers }, (_, w) =>
    appendFrames(
      ctx,
      ctx.identities[w],
      folderIds[w % folders],
      perWriter,
      `append-${repeat}-${w}`,
      messageBytes,
    ),
  );
  const clients = new Array(writers);
  await pool(writers, 16, async (w) => {
    const id = ctx.identities[w];
    if (id.account !== owner) throw new Error(`writer ${w} is not a device of account 0`);
    clients[w] = await weftConnect(
      ctx.wsUrls[w % ctx.wsUrls.length],
      addresses[w % addresses.length],
      ctx.mint(owner.accountId, id.deviceId),
      folderIds[w % folders],
      0,
    );
  });
  collect();
  const total = writers * perWriter;
  const latency = new Float64Array(total);
  const cpu0 = cpuOfAll(ctx.pids);
  const own0 = ownCpuSeconds();
  let t0 = 0;
  const ms = await new Promise((resolve, reject) => {
    let acked = 0;
    const timer = setTimeout(
      () => reject(new Error(`appends stalled: ${acked} of ${total} acknowledged`)),
      120_000 + total * 20,
    );
    t0 = performance.now();
    clients.forEach((client, w) => {
      const sentAt = new Float64Array(perWriter);
      let sent = 0;
      let done = 0;
      const pump = () => {
        while (sent < perWriter && sent - done < window) {
          sentAt[sent] = performance.now();
          client.ws.send(frames[w][sent++]);
        }
      };
      client.onFrame = (bytes) => {
        if (bytes[1] === TAG_APPENDED) {
          const m = decodeMessage(bytes);
          latency[w * perWriter + done++] = performance.now() - sentAt[m.requestId - 1];
          if (++acked === total) {
            clearTimeout(timer);
            resolve(performance.now() - t0);
          } else pump();
        } else if (bytes[1] === TAG_ERROR) {
          const m = decodeMessage(bytes);
          clearTimeout(timer);
          reject(new Error(`append refused: ${m.code}: ${m.message}`));
        }
      };
      pump();
    });
  });
  const cpuServer = cpuOfAll(ctx.pids) - cpu0;
  const cpuBench = ownCpuSeconds() - own0;
  await closeAll(clients);
  return {
    appendsPerSecond: round(total / (ms / 1000)),
    ms: round(ms),
    latencyMs: latencySummary(latency),
    serverCpuUsPerAppend: round((cpuServer / total) * 1e6),
    benchCpuShare: round(cpuBench / (ms / 1000), 2),
  };
}
