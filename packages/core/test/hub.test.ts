// MemoryHub beyond the protocol suite it shares with the relay (hub-protocol.test.ts): traffic
// counters, seeded delivery, duplicates and reordering, cut-off devices, raw frames, its stores.
import {
  decodeEnvelope,
  deriveFolderSubkeys,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import type { ChunkId, DeviceId, DeviceIdentity } from "@weft/crypto";
import { beforeAll, describe, expect, test } from "vitest";
import { PROTOCOL_VERSION, ProtocolError, SUPPORTED_VERSIONS } from "../src/protocol/index.js";
import type { Message, MessageOf, TransportCloseInfo } from "../src/protocol/index.js";
import { MemoryHub, seededRandom } from "../src/testing/index.js";
import type { MemoryHubTransport } from "../src/testing/index.js";

const HELLO: Message = {
  type: "hello",
  versions: SUPPORTED_VERSIONS,
  client: { name: "hub-test", version: "1" },
};
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** One connection as a test sees it: everything received, and how it closed. */
interface Peer {
  t: MemoryHubTransport;
  got: Message[];
  closes: TransportCloseInfo[];
  id: DeviceId;
  identity: DeviceIdentity;
}

let requestIds = 1;

/**
 * A hub and a folder with three member devices, and helpers bound to them. Every helper that
 * sends waits with `hub.drain()`, so a test reads what arrived without sleeping.
 */
function setup(seed = 1, duplicateRate = 0, reorderRate = 0) {
  const hub = new MemoryHub({ seed, duplicateRate, reorderRate });
  const folderId = newFolderId();
  const indexKey = deriveFolderSubkeys(generateFolderKey(), 0).index;
  const ids = [generateDeviceIdentity(), generateDeviceIdentity(), generateDeviceIdentity()];
  for (const identity of ids) hub.addMember(folderId, identity.signPublicKey);
  const identities = ids as [DeviceIdentity, DeviceIdentity, DeviceIdentity];

  const envelope = (who: DeviceIdentity, deviceSeq: number, body = `update ${deviceSeq}`) => {
    const header = { folderId, deviceId: who.deviceId, deviceSeq, epoch: 0 };
    return encodeEnvelope(sealEnvelope(header, indexKey, who.signSecretKey, text(body)));
  };
  const open = (identity: DeviceIdentity): Peer => {
    const t = hub.connect();
    const peer: Peer = { t, got: [], closes: [], id: identity.deviceId, identity };
    t.on("message", (m) => peer.got.push(m));
    t.on("close", (info) => peer.closes.push(info));
    t.on("error", () => undefined); // reported, then closed: the tests look at `got`/`closes`
    return peer;
  };
  /** Sends a request with a fresh requestId; its answer once everything is delivered. */
  const request = async (peer: Peer, message: Message): Promise<Message> => {
    const requestId = requestIds++;
    peer.t.send({ ...message, requestId } as Message);
    await hub.drain();
    const reply = peer.got.find((m) => "requestId" in m && m.requestId === requestId);
    if (reply === undefined) throw new Error(`no answer to ${message.type}`);
    return reply;
  };
  const auth = (peer: Peer, token = hub.tokenFor(peer.id)) =>
    request(peer, { type: "auth", requestId: 0, token });
  /** A connection through hello and auth. */
  const join = async (identity: DeviceIdentity): Promise<Peer> => {
    const peer = open(identity);
    peer.t.send(HELLO);
    await hub.drain();
    expect((await auth(peer)).type).toBe("ok");
    return peer;
  };
  const subscribe = (peer: Peer, afterSeq = 0, f = folderId) =>
    request(peer, { type: "subscribe", requestId: 0, folderId: f, afterSeq });
  const append = (peer: Peer, bytes: Uint8Array, f = folderId) =>
    request(peer, { type: "append", requestId: 0, folderId: f, envelope: bytes });
  return { hub, folderId, identities, envelope, open, request, auth, join, subscribe, append };
}

const code = (m: Message | undefined) => (m?.type === "error" ? m.code : m?.type);
const ofType = <T extends Message["type"]>(peer: Peer, type: T) =>
  peer.got.filter((m): m is MessageOf<T> => m.type === type);
const seqs = (peer: Peer) => ofType(peer, "envelopes").flatMap((m) => m.items.map((i) => i.seq));
/** Presence frames and `presenceList` items (protocol 5) but about itself, in order. */
const presences = (peer: Peer) =>
  peer.got.flatMap((m) =>
    m.type === "presence"
      ? [[m.deviceId, m.status, m.ackedSeq] as const]
      : m.type === "presenceList"
        ? m.items
            .filter((p) => p.deviceId !== peer.id)
            .map((p) => [p.deviceId, p.status, p.ackedSeq] as const)
        : [],
  );
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

beforeAll(async () => {
  await ready();
});

describe("handshake and auth", () => {
  test("hello gets welcome, the token gets ok, and the traffic is counted", async () => {
    const { hub, identities, join } = setup();
    const a = await join(identities[0]);
    expect(a.got[0]).toMatchObject({
      type: "welcome",
      version: PROTOCOL_VERSION,
      server: { name: "weft-memory-hub" },
    });
    expect(a.t.state).toBe("open");
    const traffic = hub.traffic(a.id);
    expect(traffic).toMatchObject({ framesToHub: 2, framesFromHub: 2, bytesToHub: a.t.bytesSent });
    expect(traffic.bytesFromHub).toBeGreaterThan(0);
    expect(hub.pendingFrames).toBe(0);
  });

  test("a request before auth is unauthorized and the connection stays; an ack closes it", async () => {
    const { hub, folderId, identities, open, subscribe } = setup();
    const a = open(identities[0]);
    a.t.send(HELLO);
    expect(code(await subscribe(a))).toBe("unauthorized");
    expect(a.t.state).toBe("open");
    a.t.send({ type: "ack", folderId, seq: 0 });
    await hub.drain();
    expect(a.got.at(-1)).toMatchObject({ type: "error", code: "unauthorized" });
    expect(a.got.at(-1)).not.toHaveProperty("requestId");
    expect(a.t.state).toBe("closed");
  });

  test("a garbage frame gets an error and a close", async () => {
    const { hub, identities, join } = setup();
    const a = await join(identities[0]);
    a.t.sendRaw(Uint8Array.of(1, 0xee, 0));
    await hub.drain();
    expect(a.got.at(-1)).toMatchObject({ type: "error", code: "bad_frame" });
    expect(a.closes).toEqual([
      { reason: expect.stringContaining("undecodable") as string, remote: true },
    ]);
    expect(() => a.t.send(HELLO)).toThrow(ProtocolError);
  });
});

describe("the folder log", () => {
  test("a long backlog comes in batches of at most maxEnvelopesPerBatch", async () => {
    const { hub, folderId, identities, envelope, join, subscribe } = setup();
    const a = await join(identities[0]);
    for (let n = 1; n <= 260; n++) {
      a.t.send({ type: "append", requestId: n, folderId, envelope: envelope(identities[0], n) });
    }
    await hub.drain();
    const b = await join(identities[1]);
    await subscribe(b);
    expect(ofType(b, "envelopes").map((m) => m.items.length)).toEqual([256, 4]);
    expect(seqs(b)).toEqual(range(1, 260));
  });

  test("the hub stores only ciphertext", async () => {
    const { hub, folderId, identities, envelope, join, append } = setup();
    const a = await join(identities[0]);
    await append(a, envelope(identities[0], 1, "SECRET-PLAINTEXT"));
    const stored = Buffer.from(hub.log(folderId)[0]!.envelope);
    expect(stored.includes(Buffer.from("SECRET-PLAINTEXT"))).toBe(false);
    expect(decodeEnvelope(stored).deviceId).toBe(a.id);
  });

  test("unsubscribe stops the pushes", async () => {
    const { folderId, identities, envelope, join, request, subscribe, append } = setup();
    const a = await join(identities[0]);
    await subscribe(a);
    expect(await request(a, { type: "unsubscribe", requestId: 0, folderId })).toMatchObject({
      type: "ok",
    });
    await append(a, envelope(identities[0], 1));
    expect(seqs(a)).toEqual([]);
  });

  test("with duplicateRate 1 every push arrives twice", async () => {
    const { identities, envelope, join, subscribe, append } = setup(3, 1);
    const [a, b] = [await join(identities[0]), await join(identities[1])];
    await subscribe(b);
    await append(a, envelope(identities[0], 1));
    expect(seqs(b)).toEqual([1, 1]);
  });

  test("with reorderRate 1 a push is held back and arrives after the next one, or at drain()", async () => {
    const { hub, folderId, identities, envelope, join, subscribe } = setup(3, 0, 1);
    const [a, b] = [await join(identities[0]), await join(identities[1])];
    await subscribe(b);
    for (const deviceSeq of [1, 2, 3])
      a.t.send({
        type: "append",
        requestId: 100 + deviceSeq,
        folderId,
        envelope: envelope(identities[0], deviceSeq),
      });
    await hub.drain();
    expect(seqs(b)).toEqual([2, 1, 3]); // 1 held until 2 went; 3 held until the drain
  });
});

describe("snapshots and chunks", () => {
  test("haveCheck answers from the hub's blobs; blob clients count and go down with the device", async () => {
    const { hub, folderId, identities, join, request } = setup();
    const a = await join(identities[0]);
    const [x, y] = ["aa".repeat(32), "bb".repeat(32)] as [ChunkId, ChunkId];
    const blobs = hub.blobClient(a.id);
    await blobs.put(x, new Uint8Array(100));
    expect(await blobs.get(x, { start: 0, end: 10 })).toHaveLength(10);
    expect([blobs.bytesUploaded, blobs.bytesDownloaded]).toEqual([100, 10]);
    const have = await request(a, { type: "haveCheck", requestId: 0, folderId, chunkIds: [x, y] });
    expect(have).toMatchObject({ type: "haveResult", missing: [y] });
    hub.setOnline(a.id, false);
    await expect(blobs.get(x)).rejects.toMatchObject({ wireCode: "unavailable" });
    expect(await hub.blobs.has([x])).toEqual([]); // the hub itself still has it
    hub.setOnline(a.id, true);
    expect(await blobs.has([x, y])).toEqual([y]);
  });
});

describe("connectivity", () => {
  test("setOnline(false) closes the device's connections and refuses it until it is back", async () => {
    const { hub, identities, open, auth, join, subscribe } = setup();
    const [a, b] = [await join(identities[0]), await join(identities[1])];
    for (const p of [a, b]) await subscribe(p);
    hub.setOnline(a.id, false);
    expect(hub.isOnline(a.id)).toBe(false);
    await hub.drain();
    expect(a.closes).toEqual([{ reason: "offline", remote: true }]);
    expect(presences(b).at(-1)).toEqual([a.id, "offline", 0]);
    const again = open(identities[0]);
    again.t.send(HELLO);
    expect(code(await auth(again))).toBe("unavailable");
    expect(again.closes).toEqual([{ reason: "protocol error", remote: true }]);
    hub.setOnline(a.id, true);
    expect((await join(identities[0])).t.state).toBe("open");
  });

  test("close() closes every connection, and later ones start closed", async () => {
    const { hub, identities, join } = setup();
    const a = await join(identities[0]);
    hub.close();
    await hub.drain();
    expect(a.closes).toEqual([{ reason: "hub closed", remote: true }]);
    const late = hub.connect();
    expect(late.state).toBe("closed");
    await expect(late.connect()).rejects.toThrow(ProtocolError);
  });
});

describe("seeded delivery", () => {
  test("seededRandom is a deterministic sequence in [0, 1)", () => {
    const [x, y] = [seededRandom(42), seededRandom(42)];
    const xs = Array.from({ length: 100 }, x);
    expect(xs).toEqual(Array.from({ length: 100 }, y));
    expect(xs.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(xs).size).toBe(100);
  });

  /** Three devices connect, subscribe and append at once; the arrival order across all three. */
  async function arrivals(seed: number): Promise<string[]> {
    const { hub, folderId, identities, envelope, open } = setup(seed);
    const order: string[] = [];
    const peers = identities.map((identity, i) => {
      const peer = open(identity);
      peer.t.on("message", (m) => {
        const detail = m.type === "envelopes" ? m.items.map((x) => x.seq).join() : "";
        order.push(`${i}:${m.type}:${detail}`);
      });
      return peer;
    });
    for (const p of peers) p.t.send(HELLO);
    await hub.drain();
    for (const p of peers) {
      p.t.send({ type: "auth", requestId: 1, token: hub.tokenFor(p.id) });
      p.t.send({ type: "subscribe", requestId: 2, folderId, afterSeq: 0 });
    }
    for (let n = 1; n <= 4; n++) {
      for (const p of peers) {
        p.t.send({ type: "append", requestId: 2 + n, folderId, envelope: envelope(p.identity, n) });
      }
    }
    await hub.drain();
    for (const p of peers) expect(seqs(p)).toHaveLength(8); // the others' appends, not its own
    return order;
  }

  test("the same seed gives the same interleaving; another seed another one", async () => {
    const first = await arrivals(1234);
    expect(first.length).toBeGreaterThan(40);
    expect(await arrivals(1234)).toEqual(first);
    expect((await arrivals(99)).join()).not.toBe(first.join());
  });

  test("a hub without a seed picks one and exposes it; bad options are refused", () => {
    expect(Number.isSafeInteger(new MemoryHub().seed)).toBe(true);
    expect(new MemoryHub({ seed: 7 }).seed).toBe(7);
    expect(() => new MemoryHub({ duplicateRate: 2 })).toThrow(/duplicateRate/);
    expect(() => new MemoryHub({ seed: 0.5 })).toThrow(/seed/);
  });
});
