// The relay answers a device's keepalive `ping` (protocol version 2): that is how an agent
// tells a live but quiet relay from a connection that hangs. Before auth a ping is refused
// like any other request.
import { generateDeviceIdentity, ready } from "@weft/crypto";
import {
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  type Message,
  createWebSocketTransport,
} from "@weft/core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, signUp, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess;

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
});

afterAll(async () => {
  await relay?.dispose();
});

/** Opens a raw protocol connection; `next()` resolves with each message in turn. */
async function open(): Promise<{
  send(m: Message): void;
  next(): Promise<Message>;
  close(): void;
}> {
  const t = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, { WebSocket });
  await t.connect();
  const queue: Message[] = [];
  const waiting: ((m: Message) => void)[] = [];
  t.on("message", (m) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    send: (m) => t.send(m),
    next: () => {
      const m = queue.shift();
      return m ? Promise.resolve(m) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () => t.close(),
  };
}

test("a ping after auth gets ok; before auth it is refused as unauthorized", async () => {
  const token = await signUp(relay.url, "pinger", generateDeviceIdentity());
  const hello = {
    type: "hello",
    versions: SUPPORTED_VERSIONS,
    client: { name: "t", version: "1" },
  } as const;

  const early = await open();
  early.send(hello);
  expect(await early.next()).toMatchObject({ type: "welcome", version: PROTOCOL_VERSION });
  early.send({ type: "ping", requestId: 5 });
  expect(await early.next()).toMatchObject({ type: "error", code: "unauthorized" });
  early.close();

  const conn = await open();
  conn.send(hello);
  expect(await conn.next()).toMatchObject({ type: "welcome", version: PROTOCOL_VERSION });
  conn.send({ type: "auth", requestId: 1, token });
  expect(await conn.next()).toEqual({ type: "ok", requestId: 1 });
  conn.send({ type: "ping", requestId: 2 });
  expect(await conn.next()).toEqual({ type: "ok", requestId: 2 });
  conn.close();
}, 30_000);
