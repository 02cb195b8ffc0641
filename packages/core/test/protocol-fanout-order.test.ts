// ProtocolServer's per-folder feed over an asynchronous store: live entries reach subscribers in
// seq order, once each, whichever order the appends complete in and whichever relay appended
// them; watch/unwatch follow a folder's first and last local subscriber.
import type { DeviceIdentity, FolderId } from "@weft/crypto";
import {
  deriveFolderSubkeys,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import { beforeAll, describe, expect, test, vi } from "vitest";
import { decodeMessage, encodeMessage } from "../src/protocol/codec.js";
import type { Message } from "../src/protocol/messages.js";
import { SUPPORTED_VERSIONS } from "../src/protocol/version.js";
import {
  type LogStore,
  MemoryLogStore,
  type ProtocolConnection,
  ProtocolServer,
  type ProtocolServerEvents,
  newConnectionState,
} from "../src/server/index.js";

interface Conn extends ProtocolConnection {
  readonly got: Message[];
}

let indexKey: Uint8Array;
beforeAll(async () => {
  await ready();
  indexKey = deriveFolderSubkeys(generateFolderKey(), 0).index;
});

function envelope(folderId: FolderId, who: DeviceIdentity, deviceSeq: number): Uint8Array {
  const header = { folderId, deviceId: who.deviceId, deviceSeq, epoch: 0 };
  return encodeEnvelope(sealEnvelope(header, indexKey, who.signSecretKey, Uint8Array.of(1)));
}

/** A server over `store` (a MemoryLogStore, or a wrapper of one) with `devices` as editors. */
function setUp(
  wrap: (inner: MemoryLogStore) => LogStore = (inner) => inner,
  events: ProtocolServerEvents = {},
) {
  const folderId = newFolderId();
  const inner = new MemoryLogStore();
  const devices = [0, 1, 2].map(() => generateDeviceIdentity());
  for (const d of devices) {
    inner.addDevice(d.deviceId, d.deviceId, d.signPublicKey);
    inner.setMember(folderId, d.deviceId, "editor");
  }
  const server = new ProtocolServer({
    store: wrap(inner),
    authenticate: (token) => ({
      accountId: token,
      deviceId: token as DeviceIdentity["deviceId"],
      expires: Number.MAX_SAFE_INTEGER,
    }),
    missingChunks: () => Promise.resolve([]),
    server: { name: "test", version: "1" },
    events,
    gapWaitMs: 5,
  });
  let requestId = 0;
  /** A connection through hello and auth as `who`. */
  const connect = (who: DeviceIdentity): Conn => {
    const got: Message[] = [];
    const conn: Conn = {
      ...newConnectionState(),
      got,
      send: (m) => got.push(m),
      sendFrame: (frame) => got.push(decodeMessage(frame)),
      close: () => undefined,
    };
    say(conn, { type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "t", version: "1" } });
    say(conn, { type: "auth", requestId: ++requestId, token: who.deviceId });
    return conn;
  };
  const say = (conn: Conn, m: Message): void => server.receive(conn, encodeMessage(m));
  const subscribe = (conn: Conn, afterSeq = 0) =>
    say(conn, { type: "subscribe", requestId: ++requestId, folderId, afterSeq });
  const append = (conn: Conn, who: DeviceIdentity, deviceSeq: number) =>
    say(conn, {
      type: "append",
      requestId: ++requestId,
      folderId,
      envelope: envelope(folderId, who, deviceSeq),
    });
  return { folderId, inner, devices, server, connect, say, subscribe, append };
}

/** The seqs of the entries a connection was pushed, in the order it got them. */
const seqs = (conn: Conn): number[] =>
  conn.got.flatMap((m) => (m.type === "envelopes" ? m.items.map((i) => i.seq) : []));
const has = (conn: Conn, type: Message["type"]): boolean => conn.got.some((m) => m.type === type);

describe("ordered fan-out", () => {
  test("appends that complete in reverse order still reach subscribers in seq order, once each", async () => {
    // Each append is stored at once (taking the next seq) but answered only when released: the
    // store of a relay over the network, where a later append can finish first.
    const release: (() => void)[] = [];
    const { devices, connect, subscribe, append } = setUp((inner) => {
      const store = Object.create(inner) as MemoryLogStore;
      store.append = async (...args) => {
        const result = await inner.append(...args);
        await new Promise<void>((resolve) => release.push(resolve));
        return result;
      };
      return store;
    });
    const [a, b, c] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
    const reader = connect(c);
    subscribe(reader);
    await vi.waitFor(() => expect(has(reader, "subscribed")).toBe(true));
    const writer = connect(a); // subscribed too: gets every entry but its own
    subscribe(writer);
    await vi.waitFor(() => expect(has(writer, "subscribed")).toBe(true));
    // Six appends in flight at once, over six connections (a connection's own are in turn).
    const writers = [writer, connect(a), connect(a), connect(b), connect(b), connect(b)];
    writers.forEach((w, i) => append(w, i < 3 ? a : b, i + 1));
    await vi.waitFor(() => expect(release).toHaveLength(6));
    for (const done of release.reverse()) done();

    await vi.waitFor(() => expect(seqs(reader)).toHaveLength(6));
    expect(seqs(reader)).toEqual([1, 2, 3, 4, 5, 6]);
    const own = writer.got.find((m) => m.type === "appended");
    expect(own?.type === "appended" && own.seq).toBe(1);
    await vi.waitFor(() => expect(seqs(writer)).toHaveLength(5));
    expect(seqs(writer)).toEqual([2, 3, 4, 5, 6]);
  });

  test("an entry delivered from another relay past a gap: the gap is read from the store, then the entry, each once", async () => {
    const { folderId, inner, devices, server, connect, subscribe } = setUp();
    const [a, , c] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
    const reader = connect(c);
    subscribe(reader);
    await vi.waitFor(() => expect(has(reader, "subscribed")).toBe(true));
    // Another relay appended 1 to 3 to the shared store; the bus brings only 3 (twice).
    const stored = [1, 2, 3].map((n) => envelope(folderId, a, n));
    for (const [i, env] of stored.entries()) await inner.append(folderId, a.deviceId, i + 1, env);
    server.deliver(folderId, 3, stored[2]!);
    server.deliver(folderId, 3, stored[2]!);

    await vi.waitFor(() => expect(seqs(reader)).toHaveLength(3));
    expect(seqs(reader)).toEqual([1, 2, 3]);
    const pushed = reader.got.flatMap((m) => (m.type === "envelopes" ? m.items : []));
    expect(pushed.map((i) => Buffer.from(i.envelope))).toEqual(stored.map((e) => Buffer.from(e)));
    // Delivered again (a bus redelivery, or the entry of an earlier seq): ignored; the next
    // entry comes after the rest.
    server.deliver(folderId, 2, stored[1]!);
    server.deliver(folderId, 3, stored[2]!);
    const fourth = envelope(folderId, a, 4);
    await inner.append(folderId, a.deviceId, 4, fourth);
    server.deliver(folderId, 4, fourth);
    await vi.waitFor(() => expect(seqs(reader)).toHaveLength(4));
    expect(seqs(reader)).toEqual([1, 2, 3, 4]);
  });

  test("watch fires on a folder's first local subscriber, unwatch when its last leaves", async () => {
    const calls: string[] = [];
    const { folderId, devices, server, connect, subscribe, say } = setUp(undefined, {
      watch: (f) => void calls.push(`watch ${f}`),
      unwatch: (f) => calls.push(`unwatch ${f}`),
    });
    const [a, b] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
    const first = connect(a);
    const second = connect(b);
    subscribe(first);
    subscribe(second);
    await vi.waitFor(() => expect(has(second, "subscribed")).toBe(true));
    expect(calls).toEqual([`watch ${folderId}`]);
    say(first, { type: "unsubscribe", requestId: 99, folderId });
    await vi.waitFor(() =>
      expect(first.got.some((m) => m.type === "ok" && m.requestId === 99)).toBe(true),
    );
    expect(calls).toEqual([`watch ${folderId}`]);
    server.closed(second); // the last one: its socket closed
    expect(calls).toEqual([`watch ${folderId}`, `unwatch ${folderId}`]);
    subscribe(first);
    await vi.waitFor(() => expect(calls).toHaveLength(3));
    expect(calls[2]).toBe(`watch ${folderId}`);
  });

  test("a first subscriber is answered once the bus listens; what was appended meanwhile elsewhere reaches it", async () => {
    let listen!: () => void;
    const listening = new Promise<void>((resolve) => (listen = resolve));
    const { folderId, inner, devices, connect, subscribe } = setUp(undefined, {
      watch: () => listening,
    });
    const [a, b] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
    const conn = connect(a);
    subscribe(conn);
    // Another relay appends while this one's bus is not yet listening: nobody delivers it.
    await inner.append(folderId, b.deviceId, 1, envelope(folderId, b, 1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(has(conn, "subscribed")).toBe(false);
    listen();
    await vi.waitFor(() => expect(has(conn, "subscribed")).toBe(true));
    await vi.waitFor(() =>
      expect(
        conn.got.flatMap((m) => (m.type === "envelopes" ? m.items.map((i) => i.seq) : [])),
      ).toEqual([1]),
    );
  });

  test("a catch-up asked for while one is running runs after it: an entry stored meanwhile is not left behind", async () => {
    // The bus comes back while the last pass of a relay cut off from it is still reading heads
    // (a slow database): that pass misses an entry stored after its read, and the pass the
    // reconnect asks for must not be dropped for the one running.
    let slow: (() => void) | undefined;
    const { folderId, inner, devices, server, connect, subscribe } = setUp((store) => {
      const wrapped = Object.create(store) as MemoryLogStore;
      wrapped.headSeqs = async (folders) => {
        const heads = await store.headSeqs(folders);
        if (!slow) await new Promise<void>((resolve) => (slow = resolve));
        return heads;
      };
      return wrapped;
    });
    const [a, , c] = devices as [DeviceIdentity, DeviceIdentity, DeviceIdentity];
    const reader = connect(c);
    subscribe(reader);
    await vi.waitFor(() => expect(has(reader, "subscribed")).toBe(true));
    const first = server.catchUp(); // reads the heads (nothing new), then stalls
    await vi.waitFor(() => expect(slow).toBeDefined());
    await inner.append(folderId, a.deviceId, 1, envelope(folderId, a, 1)); // another relay
    const second = server.catchUp(); // the reconnect's pass
    slow!();
    await Promise.all([first, second]);
    await vi.waitFor(() => expect(seqs(reader)).toEqual([1]));
  });
});
