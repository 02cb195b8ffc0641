// The relay's budget of bytes held for clients, against real relay processes. With its default
// limits, many devices of several accounts behind one address (an office's NAT) are all
// admitted, while one account's sockets past its limit are refused early (503 + Retry-After).
// With small limits configured: large uploads from one address stop at that address's limit
// (its accounts' sockets still open), sockets that declare a 16 MiB frame and stall raise the
// relay's memory until its guard refuses new sockets and uploads, and a client admitted before
// still syncs.
import { randomBytes } from "node:crypto";
import { type ClientRequest, request } from "node:http";
import { connect as tcpConnect, type Socket } from "node:net";
import {
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import { SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

const MiB = 1024 * 1024;
/** A socket authenticated at its upgrade reserves its frame limit, 16 MiB + 64 KiB. */
const FRAME = 16 * MiB + 64 * 1024;
/** The memory guard of the configured relay (WEFT_RELAY_BUFFER_MIB). */
const GUARD = 512 * MiB;
/** A relay with the default limits, and one with small ones. */
let plain: RelayProcess;
let small: RelayProcess;
/** The relay the helpers below talk to. */
let relay: RelayProcess;
const held: Socket[] = [];
const opened: WebSocket[] = [];
const uploads: ClientRequest[] = [];

beforeAll(async () => {
  await ready();
  [plain, small] = await Promise.all([
    startRelayProcess(),
    // 4 uploads of 16 MiB fit one address; an account's sockets are not what stops here.
    startRelayProcess({
      WEFT_RELAY_BUFFER_MIB_PER_ADDRESS: "64",
      WEFT_RELAY_BUFFER_MIB_PER_ACCOUNT: "2048",
      WEFT_RELAY_BUFFER_MIB: String(GUARD / MiB),
    }),
  ]);
}, 60_000);
afterEach(() => {
  for (const s of held.splice(0)) s.destroy();
  for (const ws of opened.splice(0)) ws.terminate();
  for (const req of uploads.splice(0)) req.destroy();
});
afterAll(async () => {
  await Promise.all([plain?.dispose(), small?.dispose()]);
});

/**
 * A raw upgrade from `from` offering `token`; when it succeeds, a binary frame header declaring
 * 16 MiB and `partial` bytes of it, then nothing. Resolves with the upgrade's status and
 * Retry-After once the bytes are written.
 */
function stalledFrame(
  token: string,
  from: string,
  partial = MiB,
): Promise<{ status: number; retry?: string }> {
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
      sock.write(Buffer.concat([header, randomBytes(partial)]), () => resolve({ status }));
    });
  });
}

/** A gauge of the relay's `/metrics`. */
async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);
}

/** A WebSocket from 127.0.0.1 authenticated at its upgrade with `token`: its upgrade's status. */
function device(token: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/ws`, [
      "weft",
      `weft.bearer.${token}`,
    ]);
    opened.push(ws);
    ws.once("open", () => resolve(101));
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.once("error", () => resolve(0));
  });
}

/**
 * A PUT of a chunk from `from` declaring `bytes` of body and sending none: its status and
 * Retry-After once answered (an admitted one waits for its body, until the test ends).
 */
function declaredUpload(from: string, bytes: number): Promise<{ status: number; retry?: string }> {
  return new Promise((resolve) => {
    const req = request(`${relay.url}/v1/folders/${newFolderId()}/blobs/${"a".repeat(64)}`, {
      method: "PUT",
      localAddress: from,
      headers: { "content-length": String(bytes) },
    });
    uploads.push(req);
    req.on("response", (res) => {
      res.resume();
      const retry = res.headers["retry-after"];
      resolve({ status: res.statusCode ?? 0, ...(retry ? { retry } : {}) });
      req.destroy();
    });
    req.on("error", () => resolve({ status: 0 }));
    req.flushHeaders();
  });
}

/**
 * A client from `from`: its own account and folder, a socket authenticated at the upgrade
 * (closed after the test), and `append`, which resolves true once an append comes back.
 */
async function client(from: string): Promise<{ append(): Promise<boolean> }> {
  const identity = generateDeviceIdentity();
  const own = await signUp(relay.url, `legit-${from}`, identity);
  const folderId = newFolderId();
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, own)).status).toBe(201);
  const ws = new WebSocket(
    `${relay.url.replace("http", "ws")}/v1/ws`,
    ["weft", `weft.bearer.${own}`],
    { localAddress: from },
  );
  opened.push(ws);
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
  let seq = 0;
  return {
    append: () => {
      const requestId = ++seq;
      const envelope = sealEnvelope(
        { folderId, deviceId: identity.deviceId, deviceSeq: requestId, epoch: 0 },
        randomBytes(32),
        identity.signSecretKey,
        randomBytes(1024),
      );
      return new Promise<boolean>((resolve) => {
        const onMessage = (data: Buffer): void => {
          const m = decodeMessage(new Uint8Array(data));
          if (m.type === "appended" && m.requestId === requestId) {
            ws.off("message", onMessage);
            resolve(true);
          }
        };
        ws.on("message", onMessage);
        ws.once("close", () => resolve(false));
        ws.send(
          encodeMessage({
            type: "append",
            requestId,
            folderId,
            envelope: encodeEnvelope(envelope),
          }),
        );
      });
    },
  };
}

test("with the default limits, 64 devices of four accounts behind one address are all admitted; one account past its limit is refused", async () => {
  relay = plain;
  const tokens = await Promise.all(
    [0, 1, 2, 3].map((i) => signUp(relay.url, `office-${i}`, generateDeviceIdentity())),
  );
  // Before, each socket reserved 16 MiB against its address (512 MiB): the 32nd was refused.
  const statuses = await Promise.all(
    tokens.flatMap((token) => Array.from({ length: 16 }, () => device(token))),
  );
  expect(statuses).toEqual(Array(64).fill(101));

  // One account whose sockets each declare a 16 MiB frame and stall: its 1,028 MiB hold the
  // 64 connections an account may have; a 65th is refused before its upgrade.
  const greedy = await signUp(relay.url, "greedy", generateDeviceIdentity());
  const attacks = await Promise.all(
    Array.from({ length: 64 }, () => stalledFrame(greedy, "127.0.0.1")),
  );
  expect(attacks.map((a) => a.status)).toEqual(Array(64).fill(101));
  expect(await stalledFrame(greedy, "127.0.0.1")).toMatchObject({ status: 503, retry: "5" });
  // The address is not what is full: another account's device from it still opens.
  expect(await device(tokens[0]!)).toBe(101);
  expect(await gauge("weft_relay_websocket_connections")).toBe(64 + 64 + 1);
}, 60_000);

test("uploads stop at the address's limit; stalled frames raise memory until the guard refuses new work; admitted work goes on", async () => {
  relay = small;
  const legit = await client("127.0.0.2");
  expect(await legit.append()).toBe(true);
  const token = await signUp(relay.url, "staller", generateDeviceIdentity());

  // Four declared 16 MiB uploads fill 127.0.0.1's 64 MiB; the fifth is refused before its
  // body is read. The address's accounts still open sockets: those count per account.
  for (let i = 0; i < 4; i++) void declaredUpload("127.0.0.1", 16 * MiB);
  await expect.poll(() => gauge("weft_relay_reserved_bytes")).toBeGreaterThanOrEqual(64 * MiB);
  expect(await declaredUpload("127.0.0.1", 16 * MiB)).toMatchObject({ status: 503, retry: "5" });

  // Each stalled frame makes the relay hold ~15 MiB (uWS buffers it): new sockets are admitted
  // until its memory and the uploads under way come within a frame of the guard.
  const attacks = [];
  for (let i = 0; i < 40; i++) {
    const attack = await stalledFrame(token, "127.0.0.1", 15 * MiB);
    attacks.push(attack.status);
    if (attack.status !== 101) {
      expect(attack).toMatchObject({ status: 503, retry: "5" });
      break;
    }
  }
  expect(attacks.at(-1)).toBe(503);
  expect(attacks.length).toBeGreaterThan(2);
  expect(await gauge("weft_relay_held_bytes")).toBeGreaterThan(GUARD - FRAME);
  // Large uploads from another address are refused too; the client admitted before syncs.
  expect(await declaredUpload("127.0.0.3", 16 * MiB)).toMatchObject({ status: 503, retry: "5" });
  expect(await legit.append()).toBe(true);

  // Closed, the sockets and uploads give back what they reserved.
  for (const s of held.splice(0)) s.destroy();
  for (const req of uploads.splice(0)) req.destroy();
  await expect.poll(() => gauge("weft_relay_reserved_bytes")).toBeLessThan(2 * FRAME);
}, 60_000);
