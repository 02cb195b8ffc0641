// bench:relay's baseline, y-websocket 2.1.0's server: its clients (the y-protocols sync
// handshake, done by hand: what WebsocketProvider does on connect, minus awareness) and its
// fan-out.
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
import * as Y from "yjs";
import * as encoding from "lib0/encoding";
import * as syncProtocol from "y-protocols/sync";
import { seededBuffer } from "../lib/input.mjs";
import { freePort, startChild } from "../lib/procs.mjs";
import { median, round } from "../lib/stats.mjs";
import { CONNECT_CONCURRENCY, fanOut } from "./fanout.mjs";
import { closeAll, pool } from "./weft-client.mjs";

const emptyDoc = new Y.Doc();
/** A y-protocols sync message written by `write`. */
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
export function ywsConnect(baseUrl, room, localAddress) {
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

/** Starts y-websocket's server (`ywsServer`, node flags `serverFlags`) on a free port. */
export async function setUpYws(ywsServer, serverFlags, log) {
  const port = await freePort();
  const server = await startChild(process.execPath, [...serverFlags, ywsServer], {
    name: "y-websocket server",
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port) },
    ready: (line) => (line.includes("running at") ? true : undefined),
  });
  log(`y-websocket ws://127.0.0.1:${port} (pid ${server.pid})`);
  return { server, baseUrl: `ws://127.0.0.1:${port}` };
}

/**
 * The fan-out against y-websocket: S subscribers and a publisher in one room, 1 KiB Yjs
 * updates (relay/fanout.mjs's `fanOut`).
 */
export async function ywsFanOut(ctx, repeat, sizes) {
  const { subscribers: SUBSCRIBERS, envelopes: ENVELOPES, serial: SERIAL, window: WINDOW } = sizes;
  const { messageBytes: MESSAGE_BYTES, addresses } = sizes;
  const addressOf = (i) => addresses[i % addresses.length];
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
    serverPids: [ctx.server.pid],
    sizes: { envelopes: ENVELOPES, serial: SERIAL, window: WINDOW },
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
