// MemoryHub: the relay's protocol behaviour over seeded in-memory links, with real envelopes.
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
import type { ChunkId, DeviceId, DeviceIdentity, FolderId } from "@weft/crypto";
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
const presences = (peer: Peer) =>
  ofType(peer, "presence").map((p) => [p.deviceId, p.status, p.ackedSeq] as const);
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

  test("anything but hello first is bad_frame, then a close", async () => {
    const { hub, identities, open } = setup();
    const a = open(identities[0]);
    a.t.send({ type: "auth", requestId: 1, token: hub.tokenFor(a.id) });
    expect(hub.pendingFrames).toBe(1);
    await hub.drain();
    expect(a.got[0]).toMatchObject({
      type: "error",
      code: "bad_frame",
      message: expect.stringContaining("hello") as string,
    });
    expect(a.closes).toEqual([{ reason: "protocol error", remote: true }]);
    expect(a.t.state).toBe("closed");
    await expect(a.t.whenReady()).rejects.toThrow(ProtocolError);
  });

  test("a hello with no common version is unsupported_version, then a close", async () => {
    const { hub, identities, open } = setup();
    const a = open(identities[0]);
    a.t.send({ ...HELLO, versions: { min: 7, max: 9 } });
    await hub.drain();
    expect(code(a.got[0])).toBe("unsupported_version");
    expect(a.closes[0]?.remote).toBe(true);
  });

  test("an unknown token is unauthorized (answering the request), then a close", async () => {
    const { identities, open, auth } = setup();
    const a = open(identities[0]);
    a.t.send(HELLO);
    expect(code(await auth(a, "nope"))).toBe("unauthorized");
    expect(a.t.state).toBe("closed");
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
  test("subscribe gets the backlog then live pushes; every device sees one sequence", async () => {
    const { hub, folderId, identities, envelope, join, subscribe, append } = setup(5);
    const [ia, ib, ic] = identities;
    const a = await join(ia);
    for (const n of [1, 2, 3]) {
      expect(await append(a, envelope(ia, n))).toMatchObject({
        type: "appended",
        seq: n,
        deviceSeq: n,
      });
    }
    const b = await join(ib);
    const subscribed = await subscribe(b);
    expect(subscribed).toMatchObject({ type: "subscribed", headSeq: 3 });
    expect(seqs(b)).toEqual([1, 2, 3]);
    expect(b.got.indexOf(subscribed)).toBeLessThan(b.got.findIndex((m) => m.type === "envelopes"));
    await subscribe(a, 3);
    // Concurrent appends from both: the hub orders them, and both see the one order.
    for (const n of [4, 5, 6]) {
      a.t.send({ type: "append", requestId: requestIds++, folderId, envelope: envelope(ia, n) });
      b.t.send({ type: "append", requestId: requestIds++, folderId, envelope: envelope(ib, n) });
    }
    await hub.drain();
    const log = hub.log(folderId);
    expect(log.map((e) => e.seq)).toEqual(range(1, 9));
    // A writer is not sent its own appends back (protocol 3): it learns their seq from `appended`.
    const writtenBy = (who: DeviceIdentity) =>
      log.filter((e) => decodeEnvelope(e.envelope).deviceId === who.deviceId).map((e) => e.seq);
    expect(seqs(a)).toEqual(writtenBy(ib));
    expect(seqs(b)).toEqual([1, 2, 3, ...writtenBy(ia).filter((seq) => seq > 3)]);
    const pushed = ofType(b, "envelopes").flatMap((m) => m.items.map((i) => i.envelope));
    expect(pushed).toEqual(log.filter((e) => seqs(b).includes(e.seq)).map((e) => e.envelope));
    // A device resuming after seq 7 gets only 8 and 9.
    const c = await join(ic);
    await subscribe(c, 7);
    expect(seqs(c)).toEqual([8, 9]);
  });

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

  test("an append retried with its deviceSeq gets its seq again, stored and pushed once", async () => {
    const { hub, folderId, identities, envelope, join, subscribe, append } = setup();
    const [ia, ib] = identities;
    const [a, b] = [await join(ia), await join(ib)];
    await subscribe(b);
    const first = envelope(ia, 1);
    await append(a, envelope(ia, 7));
    expect(await append(a, first)).toMatchObject({ type: "appended", seq: 2, deviceSeq: 1 });
    expect(await append(a, first)).toMatchObject({ type: "appended", seq: 2, deviceSeq: 1 });
    expect(hub.log(folderId)).toHaveLength(2);
    expect(seqs(b)).toEqual([1, 2]);
    // The same deviceSeq with other bytes is a replay, not a retry.
    expect(code(await append(a, envelope(ia, 1, "other")))).toBe("conflict");
    expect(hub.log(folderId)).toHaveLength(2);
  });

  test("forged, foreign and malformed envelopes are refused and never stored", async () => {
    const { hub, folderId, identities, envelope, join, subscribe, append } = setup();
    const [ia, ib] = identities;
    const outsider = generateDeviceIdentity();
    const otherFolder = newFolderId();
    hub.addMember(otherFolder, outsider.signPublicKey);
    const a = await join(ia);
    const refusal = async (bytes: Uint8Array, f?: FolderId) => code(await append(a, bytes, f));
    // Signed by a non-member, or by another member: not the authenticated device's.
    expect(await refusal(envelope(outsider, 1))).toBe("forbidden");
    expect(await refusal(envelope(ib, 1))).toBe("forbidden");
    // Naming A but signed by someone else, or altered after signing.
    const forged = { ...decodeEnvelope(envelope(outsider, 1)), deviceId: ia.deviceId };
    expect(await refusal(encodeEnvelope(forged))).toBe("bad_signature");
    const tampered = envelope(ia, 1);
    tampered[tampered.length - 70] = tampered[tampered.length - 70]! ^ 1;
    expect(await refusal(tampered)).toBe("bad_signature");
    expect(await refusal(Uint8Array.of(1, 2, 3))).toBe("bad_frame");
    expect(await refusal(envelope(ia, 1), otherFolder)).toBe("forbidden"); // not a member there
    // A device of another folder can neither append to nor subscribe to this one.
    const o = await join(outsider);
    expect(code(await append(o, envelope(outsider, 1)))).toBe("forbidden");
    expect(code(await subscribe(o))).toBe("forbidden");
    expect(hub.log(folderId)).toEqual([]);
    expect(a.t.state).toBe("open"); // a refused request does not end the connection
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
  test("snapshotPut keeps the newest by coversSeq, up to the head; snapshotGet returns it", async () => {
    const { hub, folderId, identities, envelope, join, request, append } = setup();
    const a = await join(identities[0]);
    const get = () => request(a, { type: "snapshotGet", requestId: 0, folderId });
    const bytes = (fill: number) => new Uint8Array(8).fill(fill);
    const put = async (coversSeq: number, fill: number) =>
      code(
        await request(a, {
          type: "snapshotPut",
          requestId: 0,
          folderId,
          epoch: 0,
          coversSeq,
          ciphertext: bytes(fill),
        }),
      );
    expect(await get()).toMatchObject({ type: "snapshot", snapshot: null });
    expect(await put(1, 1)).toBe("bad_frame"); // nothing to cover yet
    await append(a, envelope(identities[0], 1));
    expect(await put(1, 2)).toBe("ok");
    expect(await put(0, 3)).toBe("ok"); // older: accepted, not kept
    expect(await get()).toMatchObject({
      snapshot: { epoch: 0, coversSeq: 1, ciphertext: bytes(2) },
    });
    expect(hub.snapshot(folderId)?.ciphertext).toEqual(bytes(2));
  });

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

describe("presence and ephemeral", () => {
  test("subscribers learn who is online; acks and reports fan out; a close says offline", async () => {
    const { hub, folderId, identities, envelope, join, subscribe, append } = setup();
    const [ia, ib, ic] = identities;
    const a = await join(ia);
    await subscribe(a);
    await append(a, envelope(ia, 1));
    const b = await join(ib);
    await subscribe(b);
    expect(presences(b)).toEqual([[a.id, "online", 0]]);
    expect(presences(a)).toEqual([[b.id, "online", 0]]);
    a.t.send({ type: "ack", folderId, seq: 1 });
    const cursor = text("cursor");
    a.t.send({
      type: "presence",
      folderId,
      deviceId: a.id,
      status: "away",
      ackedSeq: 1,
      payload: cursor,
    });
    await hub.drain();
    expect(presences(b).slice(1)).toEqual([
      [a.id, "online", 1],
      [a.id, "away", 1],
    ]);
    expect(ofType(b, "presence").at(-1)?.payload).toEqual(cursor);
    expect(presences(a)).toEqual([[b.id, "online", 0]]); // nobody hears their own
    const c = await join(ic);
    await subscribe(c);
    expect(presences(c)).toEqual([
      [a.id, "away", 1],
      [b.id, "online", 0],
    ]);
    expect(ofType(c, "presence")[0]?.payload).toEqual(cursor);
    a.t.close();
    await hub.drain();
    expect(presences(b).at(-1)).toEqual([a.id, "offline", 1]);
    expect(presences(c).at(-1)).toEqual([a.id, "offline", 1]);
    expect(a.closes).toEqual([{ reason: "closed", remote: false }]);
  });

  test("a presence about another device is forbidden, and ends the connection", async () => {
    const { hub, folderId, identities, join } = setup();
    const a = await join(identities[0]);
    a.t.send({
      type: "presence",
      folderId,
      deviceId: identities[1].deviceId,
      status: "online",
      ackedSeq: 0,
    });
    await hub.drain();
    expect(code(a.got.at(-1))).toBe("forbidden");
    expect(a.t.state).toBe("closed");
  });

  test("ephemeral reaches the other subscribers only, is never stored, and must be one's own", async () => {
    const { hub, folderId, identities, join, subscribe } = setup();
    const [a, b, c] = [
      await join(identities[0]),
      await join(identities[1]),
      await join(identities[2]),
    ];
    for (const p of [a, b]) await subscribe(p);
    const typing: Message = {
      type: "ephemeral",
      folderId,
      deviceId: a.id,
      payload: text("typing"),
    };
    a.t.send(typing);
    await hub.drain();
    expect(ofType(b, "ephemeral")).toEqual([typing]);
    expect(ofType(a, "ephemeral")).toEqual([]);
    expect(ofType(c, "ephemeral")).toEqual([]); // a member, but not subscribed
    expect(hub.log(folderId)).toEqual([]);
    b.t.send({ ...typing, payload: text("spoof") });
    await hub.drain();
    expect(code(b.got.at(-1))).toBe("forbidden");
    expect(b.t.state).toBe("closed");
    expect(ofType(a, "ephemeral")).toEqual([]);
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
