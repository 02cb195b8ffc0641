// The relay's budget of bytes held for clients, against one real relay process: sockets that
// declare a large frame and stall, and large uploads, cannot make it hold more than its
// configured bytes per address and in all; past that new large work is refused early (503 +
// Retry-After) while a client from another address still syncs.
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { connect as tcpConnect, type Socket } from "node:net";
import {
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import { SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

const MiB = 1024 * 1024;
/** A socket authenticated at its upgrade reserves its frame limit, 16 MiB + 64 KiB. */
const FRAME = 16 * MiB + 64 * 1024;
let relay: RelayProcess;
const held: Socket[] = [];

beforeAll(async () => {
  await ready();
  // 3 full-frame sockets fit one address (64 MiB), 5 fit the relay (96 MiB).
  relay = await startRelayProcess({
    WEFT_RELAY_BUFFER_MIB_PER_ADDRESS: "64",
    WEFT_RELAY_BUFFER_MIB: "96",
  });
}, 60_000);
afterAll(async () => {
  for (const s of held) s.destroy();
  await relay.dispose();
});

/**
 * A raw upgrade from `from` offering `token`; when it succeeds, a binary frame header declaring
 * 16 MiB and 1 MiB of it, then nothing. Resolves with the upgrade's status and Retry-After.
 */
function stalledFrame(token: string, from: string): Promise<{ status: number; retry?: string }> {
  const { hostname, port } = new URL(relay.url);
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: hostname, port: Number(port), localAddress: from });
    held.push(sock);
    sock.on("error", reject);
    sock.write(
      `GET /v1/ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: weft, weft.bearer.${token}\r\n\r\n`,
    );
    sock.once("data", (d) => {
      const head = d.toString();
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      const retry = /\r\nretry-after: *(\d+)/i.exec(head)?.[1];
      if (status !== 101) return resolve({ status, ...(retry ? { retry } : {}) });
      const header = Buffer.alloc(14);
      header[0] = 0x82;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(16 * MiB), 2);
      sock.write(Buffer.concat([header, randomBytes(MiB)]), () => resolve({ status }));
    });
  });
}

/** The relay's `weft_relay_held_bytes` gauge. */
async function heldBytes(): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  return Number(/^weft_relay_held_bytes (\d+)/m.exec(text)?.[1]);
}

/** A PUT of a chunk from `from` declaring `bytes` of body and sending none: its status and Retry-After. */
function declaredUpload(from: string, bytes: number): Promise<{ status: number; retry?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${relay.url}/v1/folders/${newFolderId()}/blobs/${"a".repeat(64)}`, {
      method: "PUT",
      localAddress: from,
      headers: { "content-length": String(bytes) },
    });
    req.on("response", (res) => {
      res.resume();
      const retry = res.headers["retry-after"];
      resolve({ status: res.statusCode ?? 0, ...(retry ? { retry } : {}) });
      req.destroy();
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

/**
 * A client from `from`: its own account and folder, a socket authenticated at the upgrade, one
 * append that comes back. Its socket stays open (and keeps its bytes reserved) until `close`.
 */
async function syncs(from: string): Promise<{ ok: boolean; close(): void }> {
  const device = generateDeviceIdentity();
  const own = await signUp(relay.url, `legit-${from}`, device);
  const folderId = newFolderId();
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, own)).status).toBe(201);
  const ws = new WebSocket(
    `${relay.url.replace("http", "ws")}/v1/ws`,
    ["weft", `weft.bearer.${own}`],
    {
      localAddress: from,
    },
  );
  const appended = new Promise<boolean>((resolve) => {
    ws.on("message", (data: Buffer) => {
      if (decodeMessage(new Uint8Array(data)).type === "appended") resolve(true);
    });
    ws.on("error", () => resolve(false));
  });
  await new Promise<void>(
    (resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)),
  );
  ws.send(
    encodeMessage({
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "t", version: "1" },
    }),
  );
  const envelope = sealEnvelope(
    { folderId, deviceId: device.deviceId, deviceSeq: 1, epoch: 0 },
    randomBytes(32),
    device.signSecretKey,
    randomBytes(1024),
  );
  ws.send(
    encodeMessage({ type: "append", requestId: 1, folderId, envelope: encodeEnvelope(envelope) }),
  );
  return { ok: await appended, close: () => ws.close() };
}

test("stalled large frames and uploads hold at most the budget per address and in all; another address still syncs", async () => {
  const token = await signUp(relay.url, "staller", generateDeviceIdentity());
  const attacks = [];
  for (let i = 0; i < 4; i++) attacks.push(await stalledFrame(token, "127.0.0.1"));
  // Three reserve 48 MiB of the address's 64; the fourth would pass it. Before the budget all
  // four were upgraded and each could hold 16 MiB (or 256 per address: 4 GiB).
  expect(attacks.map((a) => a.status)).toEqual([101, 101, 101, 503]);
  expect(Number(attacks[3]!.retry)).toBeGreaterThanOrEqual(1);
  // A 16 MiB upload from the same address is refused before its body is read.
  expect(await declaredUpload("127.0.0.1", 16 * MiB)).toMatchObject({ status: 503, retry: "5" });

  // Another address syncs (its socket reserves 16 MiB more: 64 of the relay's 96)...
  const legit = await syncs("127.0.0.2");
  expect(legit.ok).toBe(true);
  // ...and a third address fills the rest: one more full-frame socket fits the relay, not two.
  const third = [await stalledFrame(token, "127.0.0.3"), await stalledFrame(token, "127.0.0.3")];
  expect(third.map((a) => a.status)).toEqual([101, 503]);
  expect(await heldBytes()).toBeLessThanOrEqual(96 * MiB);
  expect(await heldBytes()).toBeGreaterThanOrEqual(5 * FRAME);

  // Closed, the sockets give their bytes back.
  legit.close();
  for (const s of held.splice(0)) s.destroy();
  await expect.poll(heldBytes).toBeLessThan(FRAME);
  expect((await stalledFrame(token, "127.0.0.1")).status).toBe(101);
});
