// The relay's limits under hostile load, against one real relay process: an unauthenticated
// socket cannot send a large frame, cannot stay unauthenticated past its deadline, and one
// address cannot open many of them; a socket that stops reading and re-subscribes from seq 0
// does not make the relay resend the log again and again.
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import {
  type DeviceIdentity,
  type FolderId,
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import { type Message, SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

/** Seconds an unauthenticated socket may stay open on the test relay. */
const PRE_AUTH_SECONDS = 2;
let relay: RelayProcess;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess({ WEFT_RELAY_PREAUTH_SECONDS: String(PRE_AUTH_SECONDS) });
}, 60_000);
afterEach(async () => {
  await Promise.all(sockets.splice(0).map(closeSocket));
});
afterAll(async () => {
  await relay.dispose();
});

const hello = encodeMessage({
  type: "hello",
  versions: SUPPORTED_VERSIONS,
  client: { name: "t", version: "1" },
});

/** A raw client: what it got, and its close code. */
interface Raw {
  ws: WebSocket;
  messages: Message[];
  closed: Promise<number>;
  next(match: (m: Message) => boolean): Promise<Message>;
}

/** Opens a socket (offering `token` at the upgrade when given); rejects if the upgrade fails. */
async function connect(token?: string): Promise<Raw> {
  const url = `${relay.url.replace("http", "ws")}/v1/ws`;
  const ws = token ? new WebSocket(url, ["weft", `weft.bearer.${token}`]) : new WebSocket(url);
  sockets.push(ws);
  const messages: Message[] = [];
  const waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  ws.on("message", (data: Buffer) => {
    const m = decodeMessage(new Uint8Array(data));
    messages.push(m);
    for (const w of [...waiters])
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const next = (match: (m: Message) => boolean) =>
    new Promise<Message>((resolve) => {
      const got = messages.find(match);
      if (got) resolve(got);
      else waiters.push({ match, resolve });
    });
  return { ws, messages, closed, next };
}

function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once("close", () => resolve());
    ws.terminate();
  });
}

/** An `append` frame of `bytes` of envelope (not a valid envelope: only its size matters). */
function bigAppend(folderId: FolderId, bytes: number): Uint8Array {
  return encodeMessage({
    type: "append",
    requestId: 9,
    folderId,
    envelope: new Uint8Array(bytes).fill(1),
  });
}

/** A member's device and access token, and a folder it owns. */
async function owner(
  user: string,
): Promise<{ device: DeviceIdentity; token: string; folderId: FolderId }> {
  const device = generateDeviceIdentity();
  const token = await signUp(relay.url, user, device);
  const folderId = newFolderId();
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, token)).status).toBe(201);
  return { device, token, folderId };
}

describe("unauthenticated sockets", () => {
  test("a socket not authenticated at its upgrade is closed on a frame over 16 KiB; one that was gets it decoded", async () => {
    const { token, folderId } = await owner("big-frame");
    const anon = await connect();
    anon.ws.send(hello);
    await anon.next((m) => m.type === "welcome");
    anon.ws.send(bigAppend(folderId, 64 * 1024));
    // Closed by the frame limit, not answered: before the fix the frame was read in full and
    // answered with `unauthorized`, the socket left open.
    expect(await anon.closed).toBe(1006);
    expect(anon.messages.map((m) => m.type)).toEqual(["welcome"]);

    const authed = await connect(token);
    expect(authed.ws.protocol).toBe("weft");
    authed.ws.send(hello);
    authed.ws.send(bigAppend(folderId, 64 * 1024));
    const answer = await authed.next((m) => m.type === "error");
    expect(answer).toMatchObject({ code: "bad_frame", requestId: 9 });
  });

  test("a bad token at the upgrade is refused with 401", async () => {
    await expect(connect("not-a-token")).rejects.toThrow(/401/);
  });

  test("a socket that does not authenticate in time is closed with a reason", async () => {
    const idle = await connect();
    idle.ws.send(hello);
    const error = await idle.next((m) => m.type === "error");
    expect(error).toMatchObject({ code: "unauthorized" });
    expect((error as { message: string }).message).toMatch(/authenticate within 2 s/);
    await idle.closed;
  });

  test("one address may hold 16 unauthenticated sockets; the next is refused with 429", async () => {
    const opened = await Promise.allSettled(Array.from({ length: 17 }, () => connect()));
    const refused = opened.filter((o) => o.status === "rejected");
    expect(refused.map((o) => String(o.reason))).toEqual([expect.stringMatching(/429/)]);
  });
});

describe("message rate", () => {
  test("a socket sending far more than 500 messages a second (bursts of 5,000) is told so and closed", async () => {
    const { token } = await owner("chatty");
    const c = await connect(token);
    c.ws.send(hello);
    c.ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
    for (let i = 0; i < 10_000; i++) c.ws.send(encodeMessage({ type: "ping", requestId: 2 + i }));
    const error = await c.next((m) => m.type === "error");
    expect(error).toMatchObject({ code: "rate_limited" });
    await c.closed;
    // Before the fix all 10,000 were answered.
    expect(c.messages.filter((m) => m.type === "ok").length).toBeLessThan(10_000);
  });
});

describe("subscriptions", () => {
  test("re-subscribing from seq 0 over and over is refused past the burst, not served each time", async () => {
    const { token, folderId } = await owner("resub-burst");
    const c = await connect(token);
    c.ws.send(hello);
    c.ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
    for (let i = 0; i < 300; i++)
      c.ws.send(encodeMessage({ type: "subscribe", requestId: 100 + i, folderId, afterSeq: 0 }));
    await c.next((m) => "requestId" in m && m.requestId === 399);
    const limited = c.messages.filter((m) => m.type === "error" && m.code === "rate_limited");
    const served = c.messages.filter((m) => m.type === "subscribed");
    expect(limited.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThanOrEqual(260);
  });

  test("a reader that stops reading and re-subscribes gets the log about once, not once per subscribe", async () => {
    const { device, token, folderId } = await owner("resub-stream");
    // 64 entries of 256 KiB: a 16 MiB log.
    const writer = await connect(token);
    writer.ws.send(hello);
    writer.ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
    const indexKey = randomBytes(32);
    const entries = 64;
    for (let seq = 1; seq <= entries; seq++) {
      const envelope = sealEnvelope(
        { folderId, deviceId: device.deviceId, deviceSeq: seq, epoch: 0 },
        indexKey,
        device.signSecretKey,
        randomBytes(256 * 1024),
      );
      writer.ws.send(
        encodeMessage({
          type: "append",
          requestId: seq,
          folderId,
          envelope: encodeEnvelope(envelope),
        }),
      );
    }
    await writer.next((m) => m.type === "appended" && m.seq === entries);

    const reader = await connect(token);
    reader.ws.send(hello);
    reader.ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
    await reader.next((m) => m.type === "ok");
    reader.ws.pause();
    const resubscribes = 5;
    // One write, so the relay reads them together: no drain of the paused socket in between.
    const raw = (reader.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    raw.cork();
    for (let i = 0; i < resubscribes; i++)
      reader.ws.send(
        encodeMessage({ type: "subscribe", requestId: 10 + i, folderId, afterSeq: 0 }),
      );
    await new Promise<void>((resolve, reject) => {
      reader.ws.send(encodeMessage({ type: "ping", requestId: 97 }), (error) =>
        error ? reject(error) : resolve(),
      );
      raw.uncork();
    });
    // The subscribes are in the relay's socket buffer now; a request on another socket answered
    // after that means the relay has read them (it reads every ready socket before waiting again).
    writer.ws.send(encodeMessage({ type: "ping", requestId: 98 }));
    await writer.next((m) => m.type === "ok" && m.requestId === 98);
    reader.ws.resume();
    // The last replay runs to the head.
    await reader.next((m) => m.type === "subscribed" && m.requestId === 10 + resubscribes - 1);
    const last = reader.messages.findLastIndex((m) => m.type === "subscribed");
    await reader.next(
      (m) =>
        m.type === "envelopes" &&
        reader.messages.indexOf(m) > last &&
        m.items.at(-1)!.seq === entries,
    );
    const sent = reader.messages
      .filter((m) => m.type === "envelopes")
      .reduce((n, m) => n + (m.type === "envelopes" ? m.items.length : 0), 0);
    // Before the fix every subscribe queued the whole log: 5 × 64 entries.
    expect(sent).toBeLessThan(3 * entries);
  });
});

/** POST a JSON body from a given local address (the whole of 127/8 is this machine). */
function postFrom(
  localAddress: string,
  path: string,
  body: unknown,
): Promise<{ status: number; retryAfter: string | undefined }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${relay.url}${path}`,
      {
        method: "POST",
        localAddress,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] }),
        );
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

describe("logins under load", () => {
  test("a flood of logins for made-up names is shed with 429 + Retry-After, and a real login goes first", async () => {
    await signUp(relay.url, "real-user");
    const order: string[] = [];
    let shed!: () => void;
    const firstShed = new Promise<void>((resolve) => (shed = resolve));
    const flood = Array.from({ length: 40 }, (_, i) =>
      postFrom("127.0.0.1", "/v1/auth/login", {
        user: `nobody-${i}`,
        password: "wrong-password",
      }).then((answer) => {
        if (answer.status === 429) shed();
        else order.push("flood");
        return answer;
      }),
    );
    // The queue for unknown names is full: a real user, from another address, logs in now.
    await firstShed;
    const real = await postFrom("127.0.0.2", "/v1/auth/login", {
      user: "real-user",
      password: "real-user-correct-horse",
    });
    order.push("real");
    const answers = await Promise.all(flood);
    expect(real.status).toBe(200);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const a of refused) expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.status === 401).length).toBe(40 - refused.length);
    // Served before the made-up names already waiting (before the fix it waited behind all).
    expect(order.indexOf("real")).toBeLessThan(order.length - 1);
  });
});
