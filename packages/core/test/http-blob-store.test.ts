// HttpBlobStore against the BlobStore conformance suite and its error paths, over real HTTP to
// the test bridge (a MemoryHub behind uWebSockets.js): one fresh hub and server per test.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ChunkId, FolderId } from "@weft/crypto";
import { generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { afterEach, describe, expect, it } from "vitest";
import { HttpBlobStore } from "../src/client/index.js";
import { runBlobStoreTests } from "../src/conformance/index.js";
import { WeftError } from "../src/errors.js";
import { ProtocolError } from "../src/protocol/index.js";
import { MemoryHub } from "../src/testing/index.js";
import { type HubServer, startHubServer } from "./helpers/hub-server.js";

const id = (n: number): ChunkId => n.toString(16).padStart(64, "0") as ChunkId;

async function bridge(): Promise<{
  hub: MemoryHub;
  server: HubServer;
  folderId: FolderId;
  token: string;
}> {
  await ready();
  const hub = new MemoryHub({ seed: 1 });
  const folderId = newFolderId();
  const token = hub.tokenFor(hub.addMember(folderId, generateDeviceIdentity().signPublicKey));
  return { hub, server: await startHubServer(hub), folderId, token };
}

runBlobStoreTests("HttpBlobStore over the hub bridge", async () => {
  const { hub, server, folderId, token } = await bridge();
  return {
    store: new HttpBlobStore({ baseUrl: server.url, folderId, token }),
    teardown: async () => {
      await server.close();
      hub.close();
    },
  };
});

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error;
}

describe("HttpBlobStore errors", () => {
  let setup: Awaited<ReturnType<typeof bridge>> | undefined;
  afterEach(async () => {
    await setup?.server.close();
    setup?.hub.close();
    setup = undefined;
  });

  it("a wrong token is unauthorized, and no error message contains a token", async () => {
    setup = await bridge();
    const { server, folderId, token } = setup;
    const wrong = "not-a-hub-token.s3cr3t";
    const store = new HttpBlobStore({ baseUrl: server.url, folderId, token: () => wrong });
    const errors = await Promise.all([
      rejection(store.has([id(1)])),
      rejection(store.put(id(1), new Uint8Array([1]))),
      rejection(store.get(id(1))),
      rejection(store.get(id(1), { start: 0, end: 1 })),
      rejection(store.delete([id(1)])),
      rejection(store.size()),
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).wireCode).toBe("unauthorized");
      expect(error.message).not.toContain(wrong);
      expect(error.message).not.toContain(token);
    }
    // The right token works against the same server.
    const good = new HttpBlobStore({ baseUrl: server.url, folderId, token });
    await good.put(id(1), new Uint8Array([1]));
    expect(await good.get(id(1))).toEqual(new Uint8Array([1]));
  });

  it("a relay that echoes the token in its error does not get it into the message", async () => {
    const token = "memory-hub.echoed-secret";
    const echo: typeof fetch = () =>
      Promise.resolve(
        new Response(
          JSON.stringify({ error: { code: "forbidden", message: `token ${token} refused` } }),
          { status: 403, headers: { "content-type": "application/json" } },
        ),
      );
    const store = new HttpBlobStore({
      baseUrl: "http://relay.invalid",
      folderId: newFolderId(),
      token,
      fetch: echo,
    });
    const error = await rejection(store.size());
    expect((error as ProtocolError).wireCode).toBe("forbidden");
    expect(error.message).not.toContain(token);
  });

  it("a token that cannot go in a header is refused without quoting it", async () => {
    const secret = "bad token\nwith-newline";
    const store = new HttpBlobStore({
      baseUrl: "http://127.0.0.1:9",
      folderId: newFolderId(),
      token: secret,
    });
    const error = await rejection(store.size());
    expect(error).toBeInstanceOf(WeftError);
    expect((error as WeftError).code).toBe("INVALID_OPTIONS");
    expect(error.message).not.toContain("with-newline");
  });

  it("a relay that is down is unavailable, with the network error as the cause", async () => {
    setup = await bridge();
    const { server, folderId, token } = setup;
    await server.close(); // nothing listens on the port any more
    const store = new HttpBlobStore({ baseUrl: server.url, folderId, token });
    for (const call of [() => store.size(), () => store.has([id(1)]), () => store.get(id(1))]) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).wireCode).toBe("unavailable");
      expect(error.cause).toBeDefined();
      expect(error.message).not.toContain(token);
    }
  });

  it("a relay that accepts and never answers, or stops mid-body, is given up as unavailable", async () => {
    setup = await bridge();
    const { folderId, token } = setup;
    // A server that takes requests and holds them: one never answers, one sends headers and
    // half a body, then nothing (a network or proxy that stalls).
    const held: ServerResponse[] = [];
    const stalled = createServer((req, res) => {
      held.push(res);
      if (req.method === "GET" && req.url?.endsWith("/blobs")) {
        res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
        res.write('{"bytes": ');
      }
    });
    await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = stalled.address() as AddressInfo;
      const store = new HttpBlobStore({
        baseUrl: `http://127.0.0.1:${port}`,
        folderId,
        token,
        requestTimeoutMs: 200,
      });
      for (const call of [() => store.has([id(1)]), () => store.size()]) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).wireCode).toBe("unavailable");
        expect(error.message).toMatch(/did not answer within 0.2 s/);
      }
    } finally {
      for (const res of held) res.destroy();
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  it("splits a long has() into requests of at most 1,024 ids", async () => {
    setup = await bridge();
    const { server, folderId, token } = setup;
    const sizes: number[] = [];
    const counting: typeof fetch = async (input, init) => {
      if (typeof init?.body === "string")
        sizes.push((JSON.parse(init.body) as { ids: unknown[] }).ids.length);
      return fetch(input, init);
    };
    const store = new HttpBlobStore({ baseUrl: server.url, folderId, token, fetch: counting });
    await store.put(id(2000), new Uint8Array([7]));
    const asked = Array.from({ length: 2500 }, (_, i) => id(i));
    expect(await store.has(asked)).toEqual(asked.filter((x) => x !== id(2000)));
    expect(sizes).toEqual([1024, 1024, 452]);
  });

  it("refuses answers that break the contract as bad_frame", async () => {
    const answer =
      (
        status: number,
        body: Uint8Array | string,
        headers: Record<string, string> = {},
      ): typeof fetch =>
      () =>
        Promise.resolve(new Response(body, { status, headers }));
    const storeWith = (f: typeof fetch): HttpBlobStore =>
      new HttpBlobStore({
        baseUrl: "http://relay.invalid/",
        folderId: newFolderId(),
        token: "t",
        fetch: f,
      });
    const cases: [Promise<unknown>, string][] = [
      [storeWith(answer(200, JSON.stringify({ missing: [id(9)] }))).has([id(1)]), "bad_frame"],
      [storeWith(answer(200, "not json")).size(), "bad_frame"],
      [storeWith(answer(200, JSON.stringify({ count: -1, bytes: 0 }))).size(), "bad_frame"],
      [
        storeWith(answer(206, new Uint8Array(20), { "content-range": "bytes 0-19/100" })).get(
          id(1),
          { start: 0, end: 10 },
        ),
        "bad_frame",
      ],
      [
        storeWith(answer(206, new Uint8Array(5), { "content-range": "bytes 3-7/100" })).get(id(1), {
          start: 0,
          end: 5,
        }),
        "bad_frame",
      ],
      [storeWith(answer(500, "<html>oops</html>")).size(), "internal"],
      [storeWith(answer(418, JSON.stringify({ error: { code: "teapot" } }))).size(), "internal"],
      [
        storeWith(
          answer(429, JSON.stringify({ error: { code: "rate_limited", message: "slow down" } })),
        ).size(),
        "rate_limited",
      ],
    ];
    for (const [call, code] of cases) {
      const error = await rejection(call);
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).wireCode).toBe(code);
    }
  });

  it("a relay that ignores Range still gives the asked range", async () => {
    const whole = Uint8Array.from({ length: 100 }, (_, i) => i);
    const store = new HttpBlobStore({
      baseUrl: "http://relay.invalid",
      folderId: newFolderId(),
      token: "t",
      fetch: () => Promise.resolve(new Response(whole, { status: 200 })),
    });
    expect(await store.get(id(1), { start: 10, end: 20 })).toEqual(whole.slice(10, 20));
    expect(await store.get(id(1), { start: 95, end: 200 })).toEqual(whole.slice(95));
  });

  it("rejects a malformed base URL, folder id or token up front", () => {
    const folderId = newFolderId();
    const bad: unknown[] = [
      { baseUrl: "ftp://x", folderId, token: "t" },
      { baseUrl: "not a url", folderId, token: "t" },
      { baseUrl: "http://user:pw@x", folderId, token: "t" },
      { baseUrl: "http://x", folderId: "nope", token: "t" },
      { baseUrl: "http://x", folderId, token: 42 },
    ];
    for (const options of bad) {
      expect(() => new HttpBlobStore(options as never)).toThrow(WeftError);
    }
  });
});
