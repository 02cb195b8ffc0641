// The WebSocket transport over real sockets: a handshake with the hub bridge, hostile frames
// from a bare `ws` server, and two Replicas syncing end to end through the bridge (WebSocket
// for the protocol, HTTP for chunks), including a reconnect after the server drops them.
import type { DeviceIdentity, FolderId } from "@weft/crypto";
import {
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { HttpBlobStore, createWebSocketTransport } from "../src/client/index.js";
import { expectSameBytes } from "../src/conformance/index.js";
import { WeftError } from "../src/errors.js";
import type { Message, Transport, TransportEventMap } from "../src/protocol/index.js";
import {
  PROTOCOL_VERSION,
  ProtocolError,
  SUPPORTED_VERSIONS,
  decodeMessage,
  encodeMessage,
} from "../src/protocol/index.js";
import { Replica } from "../src/replica/replica.js";
import type { ReplicaStatus } from "../src/replica/events.js";
import { MemoryBlobStore, MemoryStateStore } from "../src/storage/index.js";
import { MemoryHub } from "../src/testing/index.js";
import { type HubServer, startHubServer } from "./helpers/hub-server.js";

const HELLO: Message = {
  type: "hello",
  versions: SUPPORTED_VERSIONS,
  client: { name: "test", version: "0" },
};
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** The next `event` of `transport`. */
function next<E extends keyof TransportEventMap>(
  transport: Transport,
  event: E,
): Promise<TransportEventMap[E]> {
  return new Promise((resolve) => {
    const off = transport.on(event, (payload) => {
      off();
      resolve(payload);
    });
  });
}

// Everything a test opens, closed after it whether it passed or not.
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function bridge(): Promise<{ hub: MemoryHub; server: HubServer }> {
  await ready();
  const hub = new MemoryHub({ seed: 1 });
  const server = await startHubServer(hub);
  cleanups.push(
    () => hub.close(),
    () => server.close(),
  );
  return { hub, server };
}

function transport(url: string): Transport {
  const t = createWebSocketTransport(url, { WebSocket });
  cleanups.push(() => t.close());
  return t;
}

describe("createWebSocketTransport", () => {
  it("does hello → welcome and auth → ok with the hub bridge", async () => {
    const { hub, server } = await bridge();
    const token = hub.tokenFor(
      hub.addMember(newFolderId(), generateDeviceIdentity().signPublicKey),
    );
    const t = transport(server.wsUrl);
    expect(t.state).toBe("connecting");
    const opened = next(t, "open");
    await t.connect();
    await opened;
    expect(t.state).toBe("open");
    await t.whenReady();
    const welcome = next(t, "message");
    t.send(HELLO);
    expect(await welcome).toEqual(
      expect.objectContaining({ type: "welcome", version: PROTOCOL_VERSION }),
    );
    const ok = next(t, "message");
    t.send({ type: "auth", requestId: 7, token });
    expect(await ok).toEqual({ type: "ok", requestId: 7 });

    const closed = next(t, "close");
    t.close("done");
    expect(await closed).toEqual({ reason: "done", remote: false });
    expect(t.state).toBe("closed");
    expect(() => t.send(HELLO)).toThrow(ProtocolError);
    await expect(t.whenReady()).rejects.toMatchObject({ wireCode: "unavailable" });
  });

  it("reports a close from the server as remote, with its reason", async () => {
    const { hub, server } = await bridge();
    const t = transport(server.wsUrl);
    await t.connect();
    const closed = next(t, "close");
    const welcome = next(t, "message");
    t.send(HELLO);
    await welcome;
    // An unknown token is a connection error: the hub answers `error` and closes.
    const error = next(t, "message");
    t.send({ type: "auth", requestId: 1, token: "memory-hub.nobody" });
    expect(await error).toMatchObject({ type: "error", code: "unauthorized", requestId: 1 });
    // The close reason is the server's own short one; the `error` frame says what went wrong.
    expect(await closed).toEqual({ reason: "protocol error", remote: true });
    expect(hub.pendingFrames).toBe(0);
  });

  it("rejects connect() when nothing listens, and closes for good", async () => {
    const { server } = await bridge();
    await server.close();
    const t = transport(server.wsUrl);
    const closed = next(t, "close");
    await expect(t.connect()).rejects.toMatchObject({ code: "PROTOCOL", wireCode: "unavailable" });
    expect((await closed).remote).toBe(true);
    expect(t.state).toBe("closed");
    await expect(t.whenReady()).rejects.toBeInstanceOf(ProtocolError);
  });

  it("close() while connecting rejects connect() and emits one local close", async () => {
    const { server } = await bridge();
    const t = transport(server.wsUrl);
    const events: string[] = [];
    t.on("open", () => events.push("open"));
    t.on("close", ({ remote }) => events.push(`close remote=${remote}`));
    const connecting = t.connect();
    t.close("changed my mind");
    await expect(connecting).rejects.toMatchObject({ wireCode: "unavailable" });
    // A fresh connection to the same server works, after the first one's socket events.
    const again = transport(server.wsUrl);
    await again.connect();
    expect(events).toEqual(["close remote=false"]);
  });

  it("refuses a URL that is not ws(s), and a missing WebSocket class", () => {
    expect(() => createWebSocketTransport("http://x/v1/ws", { WebSocket })).toThrow(WeftError);
    expect(() => createWebSocketTransport("not a url", { WebSocket })).toThrow(WeftError);
    vi.stubGlobal("WebSocket", undefined);
    try {
      expect(() => createWebSocketTransport("ws://127.0.0.1:9/v1/ws")).toThrow(/ws package/);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

describe("hostile frames from the server", () => {
  /** A bare `ws` server that sends `frame` as soon as a client connects. */
  async function hostile(frame: Uint8Array | string): Promise<{
    url: string;
    received: Promise<{ reply: Message; code: number }>;
  }> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => wss.once("listening", resolve));
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const received = new Promise<{ reply: Message; code: number }>((resolve) => {
      wss.once("connection", (socket) => {
        let reply: Message | undefined;
        socket.on("message", (data: Buffer) => (reply = decodeMessage(new Uint8Array(data))));
        socket.on("close", (code) => resolve({ reply: reply!, code }));
        socket.send(frame, { binary: typeof frame !== "string" });
      });
    });
    const { port } = wss.address() as { port: number };
    return { url: `ws://127.0.0.1:${port}/v1/ws`, received };
  }

  const cases: [string, Uint8Array | string, string, number][] = [
    ["garbage bytes", Uint8Array.from([1, 250, 3, 4]), "bad_frame", 1002],
    ["an unknown frame format", Uint8Array.from([9, 1]), "unsupported_version", 1002],
    ["a text frame", "hello?", "bad_frame", 1002],
    [
      "a frame over maxFrameBytes",
      new Uint8Array(16 * 1024 * 1024 + 64 * 1024 + 1),
      "too_large",
      1009,
    ],
  ];
  for (const [what, frame, code, closeCode] of cases) {
    it(`${what}: error event, an error frame back, then a close (${closeCode})`, async () => {
      const server = await hostile(frame);
      const t = transport(server.url);
      const error = next(t, "error");
      const closed = next(t, "close");
      await t.connect();
      expect(await error).toMatchObject({ wireCode: code });
      const { reason, remote } = await closed;
      expect(reason).toMatch(/^undecodable frame/);
      expect(remote).toBe(false);
      const { reply, code: sentCode } = await server.received;
      expect(reply).toMatchObject({ type: "error", code });
      expect(sentCode).toBe(closeCode);
    });
  }

  it("garbage through the bridge closes the transport, and the bridge survives", async () => {
    const { server } = await bridge();
    const t = transport(server.wsUrl);
    await t.connect();
    const error = next(t, "error");
    const closed = next(t, "close");
    server.sendRaw(Uint8Array.from([1, 0xee]));
    expect(await error).toMatchObject({ wireCode: "bad_frame" });
    expect((await closed).remote).toBe(false);
    const again = transport(server.wsUrl);
    await again.connect();
    const welcome = next(again, "message");
    again.send(HELLO);
    expect((await welcome).type).toBe("welcome");
  });

  it("the bridge answers a client's garbage with an error frame and a close", async () => {
    const { server } = await bridge();
    const raw = new WebSocket(server.wsUrl);
    cleanups.push(() => raw.terminate());
    const reply = new Promise<{ message: Message; code: number }>((resolve) => {
      let message: Message | undefined;
      raw.on("message", (data: Buffer) => (message = decodeMessage(new Uint8Array(data))));
      raw.on("close", (code) => resolve({ message: message!, code }));
    });
    raw.on("open", () => raw.send(Uint8Array.from([1, 0xee, 0, 0])));
    const { message, code } = await reply;
    expect(message).toMatchObject({ type: "error", code: "bad_frame" });
    expect(code).toBe(1002);
  });

  it("a listener that throws becomes an error event, and delivery goes on", async () => {
    const server = await hostile(encodeMessage({ type: "ok", requestId: 5 }));
    const t = transport(server.url);
    t.on("message", () => {
      throw new Error("listener bug");
    });
    const message = next(t, "message");
    const error = next(t, "error");
    await t.connect();
    expect(await message).toEqual({ type: "ok", requestId: 5 });
    expect((await error).message).toBe("listener bug");
    expect(t.state).toBe("open");
  });
});

/** Resolves once `check()` holds, testing it now and after each change of `replica`. */
function until(replica: Replica, check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (check()) return resolve();
    const off = replica.on("change", () => {
      if (!check()) return;
      off();
      resolve();
    });
  });
}

describe("two Replicas through the bridge", () => {
  async function replicas(): Promise<{ a: Replica; b: Replica; server: HubServer }> {
    const { hub, server } = await bridge();
    const folderId: FolderId = newFolderId();
    const keyring = new FolderKeyring(folderId);
    keyring.add(0, generateFolderKey());
    const open = async (identity: DeviceIdentity): Promise<Replica> => {
      const token = hub.tokenFor(hub.addMember(folderId, identity.signPublicKey));
      const remoteBlobs = new HttpBlobStore({ baseUrl: server.url, folderId, token });
      const replica = await Replica.open({
        identity,
        folderId,
        keyring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
        connect: () => createWebSocketTransport(server.wsUrl, { WebSocket }),
        token,
        remoteBlobs,
        reconnectDelayMs: { min: 5, max: 50 },
      });
      cleanups.push(
        () => remoteBlobs.close(),
        () => replica.close(),
      );
      return replica;
    };
    return {
      a: await open(generateDeviceIdentity()),
      b: await open(generateDeviceIdentity()),
      server,
    };
  }

  it("syncs a file and a Yjs document end to end", async () => {
    const { a, b } = await replicas();
    // Random, so compression cannot shrink it: several chunks really cross HTTP.
    const big = new Uint8Array(randomBytes(3_000_000));
    await a.writeFile("docs/hello.txt", text("hello over sockets"));
    await a.writeFile("big.bin", big);
    (await a.doc("notes")).getText("body").insert(0, "typed in A");
    for (let i = 0; i < 2; i++) {
      await a.syncOnce();
      await b.syncOnce();
    }
    expect(b.list()).toEqual(a.list());
    expect(str(await b.readFile("docs/hello.txt"))).toBe("hello over sockets");
    // expectSameBytes, not toEqual: a deep equality of 3 MB takes vitest many seconds.
    expectSameBytes(await b.readFile("big.bin"), big);
    expect((await b.doc("notes")).getText("body").toJSON()).toBe("typed in A");
    expect(b.stats().bytesDownloaded).toBeGreaterThan(big.length);
  });

  it("reconnects by itself after the server drops it, and catches up", async () => {
    const { a, b, server } = await replicas();
    a.start();
    b.start();
    await a.writeFile("before.txt", text("before"));
    await a.syncOnce();
    await b.syncOnce();
    expect(a.status).toBe("online");

    const seen: ReplicaStatus[] = [];
    const back = new Promise<void>((resolve) => {
      a.on("status", ({ status }) => {
        seen.push(status);
        if (status === "online" && seen.includes("offline")) resolve();
      });
    });
    server.dropConnections();
    await b.writeFile("during.txt", text("written while a was cut off"));
    await back;
    expect(seen[0]).toBe("offline");
    // b's change reaches a as a push; a's own syncOnce() may finish before it is sent.
    await b.syncOnce();
    await until(a, () => a.stat("during.txt") !== undefined);
    await a.syncOnce();
    expect(str(await a.readFile("during.txt"))).toBe("written while a was cut off");
    expect(a.list().map((e) => e.path)).toEqual(["before.txt", "during.txt"]);
  });
});
