// RelayEndpoints: one relay at several addresses, over real sockets on loopback. Which failures
// send a request once more to the next address (a refused connection: always; a reset or a
// 502/503/504: only when resending is safe), which never do (a 4xx, any answer of the relay),
// and the WebSocket connector moving on after a lost connection but not after a local close.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { RelayEndpoints, RelaySession, createWebSocketTransport } from "../src/client/index.js";
import { WeftError } from "../src/errors.js";
import { ProtocolError } from "../src/protocol/index.js";

/** A real HTTP server counting the requests it got, answering with `handler`. */
interface Address {
  url: string;
  hits: string[];
  close(): Promise<void>;
}

const open: Server[] = [];
afterEach(async () => {
  await Promise.all(
    open.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  );
});

async function address(
  handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) =>
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}'),
): Promise<Address> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => handler(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  open.push(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An address where nothing listens (connections are refused). */
async function deadAddress(): Promise<string> {
  const dead = await address();
  await dead.close();
  open.splice(open.length - 1, 1);
  return dead.url;
}

const tokens = {
  accountId: "acc",
  accessToken: "access-token",
  refreshToken: "refresh-token",
  accessExpires: Date.now() + 3_600_000,
};

describe("RelayEndpoints", () => {
  it("keeps the first URL as the identity, normalizes and drops duplicates, refuses bad ones", () => {
    const e = new RelayEndpoints(["http://a.example/", "https://b.example", "http://a.example"]);
    expect(e.urls).toEqual(["http://a.example", "https://b.example"]);
    expect(e.primary).toBe("http://a.example");
    expect(e.wsUrl()).toBe("ws://a.example/v1/ws");
    e.failed();
    expect(e.current).toBe("https://b.example");
    expect(e.wsUrl()).toBe("wss://b.example/v1/ws");
    // A failure of an address no longer current (another client moved on) changes nothing.
    e.failed("http://a.example");
    expect(e.current).toBe("https://b.example");
    e.failed();
    expect(e.current).toBe("http://a.example");
    expect(() => new RelayEndpoints([])).toThrow(WeftError);
    expect(() => new RelayEndpoints(["ftp://x.example"])).toThrow(WeftError);
    expect(() => new RelayEndpoints(["http://u:p@x.example"])).toThrow(WeftError);
  });

  it("a refused connection: the request (even a one-shot POST) goes to the next address, and so do later ones", async () => {
    const dead = await deadAddress();
    const live = await address();
    const session = RelaySession.resume({ relay: [dead, live.url], tokens });
    expect(session.relay).toBe(dead); // the identity stays the first address
    await session.request("POST", "/v1/folders", { x: 1 });
    expect(live.hits).toEqual(["POST /v1/folders"]);
    expect(session.endpoints.current).toBe(live.url);
    await session.request("GET", "/v1/account");
    expect(live.hits).toEqual(["POST /v1/folders", "GET /v1/account"]);
  });

  it("a 4xx, or any answer of the relay other than 502/503/504, is never sent elsewhere", async () => {
    const first = await address((_req, res) =>
      res
        .writeHead(403, { "content-type": "application/json" })
        .end('{"error":{"code":"forbidden","message":"not yours"}}'),
    );
    const second = await address();
    const session = RelaySession.resume({ relay: [first.url, second.url], tokens });
    const error = await session.request("GET", "/v1/folders/f").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).wireCode).toBe("forbidden");
    expect(second.hits).toEqual([]);
    expect(session.endpoints.current).toBe(first.url);
  });

  it("a 503 from a gateway: an idempotent request goes to the next address; a POST is not resent, the next request moves", async () => {
    const gateway = await address((_req, res) => res.writeHead(503).end());
    const second = await address();
    const e = new RelayEndpoints([gateway.url, second.url]);
    const viaFetch = e.fetchVia(fetch);
    const answer = await viaFetch(`${gateway.url}/v1/folders/f/keys`);
    expect(answer.status).toBe(200);
    expect(second.hits).toEqual(["GET /v1/folders/f/keys"]);

    const e2 = new RelayEndpoints([gateway.url, second.url]);
    const refused = await e2.fetchVia(fetch)(`${gateway.url}/v1/auth/refresh`, {
      method: "POST",
      body: "{}",
    });
    expect(refused.status).toBe(503); // a refresh token works once: never sent twice
    expect(second.hits).toEqual(["GET /v1/folders/f/keys"]);
    expect(e2.current).toBe(second.url);
  });

  it("a connection reset after the request was sent: resent only where the protocol makes it idempotent", async () => {
    const cut = await address((req) => req.socket.destroy());
    const second = await address();
    const e = new RelayEndpoints([cut.url, second.url]);
    const viaFetch = e.fetchVia(fetch);
    // A token refresh may have been received: not resent.
    await expect(
      viaFetch(`${cut.url}/v1/auth/refresh`, { method: "POST", body: "{}" }),
    ).rejects.toThrow();
    expect(second.hits).toEqual([]);
    expect(e.current).toBe(second.url);
    // A chunk upload is content-addressed: sending it twice stores it once.
    e.failed(); // back to the cut address
    const upload = await viaFetch(`${cut.url}/v1/folders/f/blobs/batch`, {
      method: "POST",
      body: new Uint8Array([1, 2, 3]),
    });
    expect(upload.status).toBe(200);
    expect(second.hits).toEqual(["POST /v1/folders/f/blobs/batch"]);
  });

  it("the WebSocket connector: the next connect after a failed or ended connection goes to the next address", async () => {
    const dead = await deadAddress();
    const live = await address();
    const e = new RelayEndpoints([dead, live.url]);
    const urls: string[] = [];
    const connect = e.connector((url) => {
      urls.push(url);
      return createWebSocketTransport(url, { WebSocket });
    });
    await expect(connect().connect()).rejects.toThrow(); // refused
    expect(e.current).toBe(live.url);
    // Given up on here (as the Replica does with a relay silent past the keepalive).
    const t2 = connect();
    // Listeners run in order: the connector's (added first) has seen the close when this runs.
    const closed = new Promise((resolve) => t2.on("close", resolve));
    t2.close("the relay did not answer for 30 s");
    expect(await closed).toMatchObject({ remote: false });
    expect(e.current).toBe(dead);
    expect(urls).toEqual([
      `${dead.replace("http", "ws")}/v1/ws`,
      `${live.url.replace("http", "ws")}/v1/ws`,
    ]);
  });

  it("an HTTP failure moves the WebSocket too: one account's clients share the endpoints", async () => {
    const dead = await deadAddress();
    const live = await address();
    const session = RelaySession.resume({ relay: [dead, live.url], tokens });
    await session.request("GET", "/v1/account");
    expect(session.endpoints.wsUrl()).toBe(`${live.url.replace("http", "ws")}/v1/ws`);
  });
});
