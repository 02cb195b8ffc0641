/** The Transport conformance suite: every Transport implementation runs it from its test file. */
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { Message } from "../protocol/messages.js";
import type { Transport, TransportCloseInfo } from "../protocol/transport.js";

/**
 * Two connected ends for one test: `client` is the implementation under test, `peer` the other
 * end (of the same kind or a server's). `sendRaw` on the peer, when it can, delivers bytes that
 * are not a valid frame, to test how the client handles them.
 */
export interface TransportPair {
  client: Transport;
  peer: Transport;
  sendRaw?: (frame: Uint8Array) => void;
  /** Removes what setup made (servers, sockets). Runs after every test, passed or failed. */
  teardown: () => Promise<void>;
}

/** Makes a {@link TransportPair}; called before every test of the suite. */
export type TransportSetup = () => Promise<TransportPair>;

/** Resolves with the next `count` messages `t` receives. */
function next(t: Transport, count = 1): Promise<Message[]> {
  return new Promise((resolve) => {
    const got: Message[] = [];
    const off = t.on("message", (m) => {
      got.push(m);
      if (got.length === count) {
        off();
        resolve(got);
      }
    });
  });
}

const closed = (t: Transport): Promise<TransportCloseInfo> =>
  new Promise((resolve) => {
    const off = t.on("close", (info) => {
      off();
      resolve(info);
    });
  });

const ack = (seq: number): Message => ({
  type: "ack",
  folderId: "aaaaaaaaaaaaaaaaaaaaaaaaaa" as Message extends { folderId: infer F } ? F : never,
  seq,
});

/**
 * Registers the {@link Transport} conformance suite with vitest. `setup` runs before each test
 * and returns a connected pair; the suite waits for `client.whenReady()` itself.
 *
 * Imports vitest: `@weft/core/conformance` needs vitest (a peer dependency) installed.
 */
export function runTransportTests(name: string, setup: TransportSetup): void {
  describe(`Transport conformance: ${name}`, () => {
    let pair: TransportPair;
    beforeEach(async () => {
      pair = await setup();
      await Promise.all([pair.client.whenReady(), pair.peer.whenReady()]);
    });
    afterEach(async () => {
      await pair.teardown();
    });

    test("an open transport says so and connect() resolves at once", async () => {
      expect(pair.client.state).toBe("open");
      await pair.client.connect();
    });

    test("messages arrive whole, validated, and in the order sent, both ways", async () => {
      const atPeer = next(pair.peer, 50);
      for (let i = 1; i <= 50; i++) pair.client.send(ack(i));
      expect((await atPeer).map((m) => (m.type === "ack" ? m.seq : -1))).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      const atClient = next(pair.client, 2);
      pair.peer.send({ type: "ok", requestId: 7 });
      pair.peer.send({ type: "error", code: "forbidden", message: "no", requestId: 8 });
      expect(await atClient).toEqual([
        { type: "ok", requestId: 7 },
        { type: "error", code: "forbidden", message: "no", requestId: 8 },
      ]);
    });

    test("send refuses an invalid message without sending anything", () => {
      const bad = { type: "ack", folderId: "not a folder id", seq: -1 } as unknown as Message;
      expect(() => pair.client.send(bad)).toThrow();
      expect(pair.client.state).toBe("open");
    });

    test("closing here: close events on both ends, then send throws `unavailable`", async () => {
      const here = closed(pair.client);
      const there = closed(pair.peer);
      pair.client.close("done");
      expect(await here).toMatchObject({ remote: false });
      expect(await there).toMatchObject({ remote: true });
      expect(pair.client.state).toBe("closed");
      expect(() => pair.client.send(ack(1))).toThrow(/closed|not open|unavailable/i);
      await expect(pair.client.whenReady()).rejects.toMatchObject({ wireCode: "unavailable" });
      pair.client.close(); // closing twice is fine
    });

    test("closed by the other end: a remote close event", async () => {
      const here = closed(pair.client);
      pair.peer.close("bye");
      expect(await here).toMatchObject({ remote: true });
      expect(pair.client.state).toBe("closed");
    });

    test("a frame that does not decode: an error event, then the connection closes", async (ctx) => {
      if (!pair.sendRaw) return ctx.skip();
      const error = new Promise<Error>((resolve) => pair.client.on("error", resolve));
      const here = closed(pair.client);
      pair.sendRaw(Uint8Array.of(0x01, 0xff, 0x00));
      expect(await error).toBeInstanceOf(Error);
      await here;
      expect(pair.client.state).toBe("closed");
    });

    test("a listener that throws becomes an error event; delivery goes on", async () => {
      const errors: Error[] = [];
      pair.client.on("error", (e) => errors.push(e));
      const off = pair.client.on("message", () => {
        throw new Error("listener bug");
      });
      const got = next(pair.client, 2);
      pair.peer.send({ type: "ok", requestId: 1 });
      pair.peer.send({ type: "ok", requestId: 2 });
      expect(await got).toHaveLength(2);
      off();
      expect(errors.map((e) => e.message)).toContain("listener bug");
    });

    test("on() returns a function that removes the listener", async () => {
      const seen: Message[] = [];
      const off = pair.client.on("message", (m) => seen.push(m));
      off();
      const got = next(pair.client);
      pair.peer.send({ type: "ok", requestId: 3 });
      await got;
      expect(seen).toEqual([]);
    });
  });
}
