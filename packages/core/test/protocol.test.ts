import {
  decodeEnvelope,
  encodeEnvelope,
  generateDeviceIdentity,
  isChunkId,
  isDeviceId,
  isFolderId,
  newFolderId,
  ready,
  sealEnvelope,
} from "@weft/crypto";
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import { WeftError } from "../src/errors.js";
import { ByteWriter } from "../src/model/varint.js";
import {
  ENVELOPE_OVERHEAD_BYTES,
  FRAME_FORMAT,
  MESSAGE_TAGS,
  PROTOCOL_ERROR_CODES,
  PROTOCOL_ERROR_HTTP_STATUS,
  PROTOCOL_VERSION,
  ProtocolError,
  SUPPORTED_VERSIONS,
  createMemoryTransportPair,
  decodeMessage,
  encodeMessage,
  errorMessageFor,
  frameLimits,
  messageFrameLimits,
  negotiateVersion,
  protocolErrorFrom,
} from "../src/protocol/index.js";
import type {
  Message,
  MessageType,
  ProtocolErrorCode,
  TransportCloseInfo,
} from "../src/protocol/index.js";

const FOLDER = "mfrggzdfmztwq2lknnwg23tpoa" as FolderId;
const DEVICE = "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL" as DeviceId;
const CHUNK_A = "ab".repeat(32) as ChunkId;
const CHUNK_B = "0123456789abcdef".repeat(4) as ChunkId;
const bytes = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill);

/** One example of every message type. */
const EXAMPLES: Record<MessageType, Message> = {
  hello: {
    type: "hello",
    versions: { min: 1, max: 3 },
    client: { name: "weft-agent", version: "0.1.0" },
  },
  welcome: { type: "welcome", version: 1, server: { name: "weft-relay", version: "0.1.0" } },
  auth: { type: "auth", requestId: 1, token: "eyJhbGciOiJFZERTQSJ9.e30.c2ln" },
  ok: { type: "ok", requestId: 300 },
  ping: { type: "ping", requestId: 301 },
  error: {
    type: "error",
    code: "forbidden",
    message: "viewer may not append — ünïcödé ✓",
    requestId: 9,
  },
  subscribe: { type: "subscribe", requestId: 2, folderId: FOLDER, afterSeq: 41 },
  subscribed: { type: "subscribed", requestId: 2, folderId: FOLDER, headSeq: 2 ** 40 },
  unsubscribe: { type: "unsubscribe", requestId: 3, folderId: FOLDER },
  append: { type: "append", requestId: 4, folderId: FOLDER, envelope: bytes(200) },
  appended: { type: "appended", requestId: 4, folderId: FOLDER, seq: 42, deviceSeq: 7 },
  appendIf: {
    type: "appendIf",
    requestId: 4,
    folderId: FOLDER,
    envelope: bytes(200),
    claims: [
      { handle: bytes(32, 1), base: new Uint8Array(0), next: bytes(32, 2) },
      { handle: bytes(32, 3), base: bytes(32, 4), next: bytes(32, 5) },
    ],
  },
  stale: { type: "stale", requestId: 4, folderId: FOLDER, handles: [bytes(32, 3)] },
  envelopes: {
    type: "envelopes",
    folderId: FOLDER,
    items: [
      { seq: 42, envelope: bytes(3, 1) },
      { seq: 43, envelope: bytes(130, 2) },
    ],
  },
  ack: { type: "ack", folderId: FOLDER, seq: 43 },
  snapshotPut: {
    type: "snapshotPut",
    requestId: 5,
    folderId: FOLDER,
    epoch: 2 ** 32 - 1,
    coversSeq: 40,
    ciphertext: bytes(64),
  },
  snapshotGet: { type: "snapshotGet", requestId: 6, folderId: FOLDER },
  snapshot: {
    type: "snapshot",
    requestId: 6,
    folderId: FOLDER,
    snapshot: { epoch: 0, coversSeq: 40, ciphertext: bytes(33) },
  },
  haveCheck: { type: "haveCheck", requestId: 7, folderId: FOLDER, chunkIds: [CHUNK_A, CHUNK_B] },
  haveResult: { type: "haveResult", requestId: 7, missing: [CHUNK_B] },
  presence: {
    type: "presence",
    folderId: FOLDER,
    deviceId: DEVICE,
    status: "away",
    ackedSeq: 43,
    payload: bytes(10),
  },
  presenceList: {
    type: "presenceList",
    folderId: FOLDER,
    items: [
      { deviceId: DEVICE, status: "online", ackedSeq: 43, payload: bytes(10) },
      {
        deviceId: "AAAA-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL" as DeviceId,
        status: "offline",
        ackedSeq: 0,
      },
    ],
  },
  ephemeral: { type: "ephemeral", folderId: FOLDER, deviceId: DEVICE, payload: bytes(12) },
};
const VARIANTS: Message[] = [
  { type: "error", code: "internal", message: "" },
  { type: "snapshot", requestId: 0, folderId: FOLDER, snapshot: null },
  { type: "haveResult", requestId: 0, missing: [] },
  { type: "presence", folderId: FOLDER, deviceId: DEVICE, status: "offline", ackedSeq: 0 },
  { type: "error", code: "bad_frame", message: "\ufeffkeeps a leading BOM" },
];
const ALL = [...Object.values(EXAMPLES), ...VARIANTS];

/** A frame written by hand, bypassing the encoder's validation, to test the decoder. */
function raw(
  type: MessageType | number,
  body: (w: ByteWriter) => void,
  format = FRAME_FORMAT,
): Uint8Array {
  const w = new ByteWriter();
  w.u8(format);
  w.u8(typeof type === "number" ? type : MESSAGE_TAGS[type]);
  body(w);
  return w.finish();
}

/** Asserts `fn` throws a ProtocolError with `code` and, if given, a message containing `text`. */
function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode, text?: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  const error = thrown as ProtocolError;
  expect(error.wireCode, error.message).toBe(code);
  if (text !== undefined) expect(error.message).toContain(text);
}

describe("codec round trip", () => {
  test("ids are checked and messages coded before @weft/crypto's ready() was ever called", () => {
    expect([isFolderId(FOLDER), isDeviceId(DEVICE), isChunkId(CHUNK_A)]).toEqual([
      true,
      true,
      true,
    ]);
    for (const m of [EXAMPLES.presence, EXAMPLES.haveCheck]) {
      expect(decodeMessage(encodeMessage(m))).toEqual(m);
    }
  });

  test("the examples cover every message type", () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(Object.keys(MESSAGE_TAGS).sort());
  });

  test.each(ALL.map((m) => [m.type, m] as const))("%s decodes to what was encoded", (type, m) => {
    const frame = encodeMessage(m);
    expect([frame[0], frame[1]]).toEqual([FRAME_FORMAT, MESSAGE_TAGS[type]]);
    const back = decodeMessage(frame);
    expect(back).toStrictEqual(m);
    expect(encodeMessage(back)).toEqual(frame);
  });

  test("the encoding is pinned byte by byte", () => {
    // ok, requestId 300 as a LEB128 varint (0xac 0x02)
    expect([...encodeMessage(EXAMPLES.ok)]).toEqual([0x01, 0x04, 0xac, 0x02]);
    const ack = [...encodeMessage(EXAMPLES.ack)];
    expect(ack.slice(0, 3)).toEqual([0x01, 0x16, 26]);
    expect(ack.slice(29)).toEqual([43]);
    const haveResult = encodeMessage(EXAMPLES.haveResult);
    expect(haveResult.length).toBe(2 + 1 + 1 + 32); // chunk ids travel as 32 raw bytes
  });

  test("decoded byte fields are plain copies, independent of the frame (even a Buffer)", () => {
    const frame = Buffer.from(encodeMessage(EXAMPLES.append));
    const m = decodeMessage(frame) as Extract<Message, { type: "append" }>;
    expect(Object.getPrototypeOf(m.envelope)).toBe(Uint8Array.prototype);
    frame.fill(0);
    expect(m.envelope).toEqual(bytes(200));
  });

  test("a real @weft/crypto envelope fits ENVELOPE_OVERHEAD_BYTES and travels unchanged", async () => {
    await ready();
    const device = generateDeviceIdentity();
    const folderId = newFolderId();
    const payload = bytes(1000);
    const header = { folderId, deviceId: device.deviceId, deviceSeq: 5, epoch: 3 };
    const envelope = encodeEnvelope(
      sealEnvelope(header, bytes(32, 9), device.signSecretKey, payload),
    );
    expect(envelope.length).toBe(payload.length + 16 + ENVELOPE_OVERHEAD_BYTES);
    const m = decodeMessage(encodeMessage({ type: "append", requestId: 1, folderId, envelope }));
    expect(m.type === "append" && decodeEnvelope(m.envelope).deviceSeq).toBe(5);
  });
});

describe("limits", () => {
  const maxEnvelope = bytes(frameLimits.maxEnvelopeBytes);
  const maxIds = Array.from({ length: frameLimits.maxChunkIdsPerCheck }, (_, i) =>
    i.toString(16).padStart(64, "0"),
  ) as ChunkId[];
  const BIG = Number.MAX_SAFE_INTEGER;
  const longest = "x".repeat(frameLimits.maxSoftwareInfoBytes);
  const LARGEST: Record<MessageType, Message> = {
    hello: {
      type: "hello",
      versions: { min: 0xffff, max: 0xffff },
      client: { name: longest, version: longest },
    },
    welcome: { type: "welcome", version: 0xffff, server: { name: longest, version: longest } },
    auth: { type: "auth", requestId: BIG, token: "t".repeat(frameLimits.maxTokenBytes) },
    ok: { type: "ok", requestId: BIG },
    ping: { type: "ping", requestId: BIG },
    error: {
      type: "error",
      code: "internal",
      message: "m".repeat(frameLimits.maxErrorMessageBytes),
      requestId: BIG,
    },
    subscribe: { type: "subscribe", requestId: BIG, folderId: FOLDER, afterSeq: BIG },
    subscribed: { type: "subscribed", requestId: BIG, folderId: FOLDER, headSeq: BIG },
    unsubscribe: { type: "unsubscribe", requestId: BIG, folderId: FOLDER },
    append: { type: "append", requestId: BIG, folderId: FOLDER, envelope: maxEnvelope },
    appended: { type: "appended", requestId: BIG, folderId: FOLDER, seq: BIG, deviceSeq: BIG },
    appendIf: {
      type: "appendIf",
      requestId: BIG,
      folderId: FOLDER,
      envelope: maxEnvelope,
      claims: Array.from({ length: frameLimits.maxHeadClaims }, (_, i) => ({
        handle: Uint8Array.of(...bytes(30), i >> 8, i & 0xff),
        base: bytes(32),
        next: bytes(32),
      })),
    },
    stale: {
      type: "stale",
      requestId: BIG,
      folderId: FOLDER,
      handles: Array.from({ length: frameLimits.maxHeadClaims }, () => bytes(32)),
    },
    envelopes: {
      type: "envelopes",
      folderId: FOLDER,
      items: [{ seq: BIG, envelope: maxEnvelope }],
    },
    ack: { type: "ack", folderId: FOLDER, seq: BIG },
    snapshotPut: {
      type: "snapshotPut",
      requestId: BIG,
      folderId: FOLDER,
      epoch: 2 ** 32 - 1,
      coversSeq: BIG,
      ciphertext: bytes(frameLimits.maxSnapshotBytes),
    },
    snapshotGet: { type: "snapshotGet", requestId: BIG, folderId: FOLDER },
    snapshot: {
      type: "snapshot",
      requestId: BIG,
      folderId: FOLDER,
      snapshot: {
        epoch: 2 ** 32 - 1,
        coversSeq: BIG,
        ciphertext: bytes(frameLimits.maxSnapshotBytes),
      },
    },
    haveCheck: { type: "haveCheck", requestId: BIG, folderId: FOLDER, chunkIds: maxIds },
    haveResult: { type: "haveResult", requestId: BIG, missing: maxIds },
    presence: {
      type: "presence",
      folderId: FOLDER,
      deviceId: DEVICE,
      status: "online",
      ackedSeq: BIG,
      payload: bytes(frameLimits.maxPresencePayloadBytes),
    },
    presenceList: {
      type: "presenceList",
      folderId: FOLDER,
      items: Array.from({ length: frameLimits.maxPresenceListItems }, (_, i) => ({
        deviceId: `${"ABCD-".repeat(7)}ABC${"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[i % 32]}`.replace(
          /^A/,
          "ABCDEFGH"[i >> 5]!,
        ) as DeviceId,
        status: "online" as const,
        ackedSeq: BIG,
        payload: bytes(frameLimits.maxPresencePayloadBytes),
      })),
    },
    ephemeral: {
      type: "ephemeral",
      folderId: FOLDER,
      deviceId: DEVICE,
      payload: bytes(frameLimits.maxEphemeralBytes),
    },
  };

  test.each(Object.keys(LARGEST) as MessageType[])(
    "the largest valid %s fits its frame limit",
    (type) => {
      const frame = encodeMessage(LARGEST[type]);
      expect(frame.length).toBeLessThanOrEqual(messageFrameLimits[type]);
      expect(messageFrameLimits[type]).toBeLessThanOrEqual(frameLimits.maxFrameBytes);
      expect(decodeMessage(frame).type).toBe(type);
    },
  );

  test("envelope limit follows @weft/crypto's 16 MiB ciphertext limit", () => {
    expect(frameLimits.maxEnvelopeBytes).toBe(16 * 1024 * 1024 + ENVELOPE_OVERHEAD_BYTES);
  });

  const ONE_OVER: [string, Message, string][] = [
    [
      "token",
      { type: "auth", requestId: 1, token: "t".repeat(frameLimits.maxTokenBytes + 1) },
      "auth.token",
    ],
    [
      "error text",
      {
        type: "error",
        code: "internal",
        message: "é".repeat(frameLimits.maxErrorMessageBytes / 2 + 1),
      },
      "error.message",
    ],
    [
      "software name",
      {
        type: "hello",
        versions: { min: 1, max: 1 },
        client: { name: `${longest}x`, version: "1" },
      },
      "hello.client.name",
    ],
    [
      "envelope",
      {
        type: "append",
        requestId: 1,
        folderId: FOLDER,
        envelope: bytes(frameLimits.maxEnvelopeBytes + 1),
      },
      "append.envelope",
    ],
    [
      "batch length",
      {
        type: "envelopes",
        folderId: FOLDER,
        items: Array.from({ length: frameLimits.maxEnvelopesPerBatch + 1 }, (_, i) => ({
          seq: i + 1,
          envelope: bytes(1),
        })),
      },
      "envelopes.items",
    ],
    [
      "chunk ids",
      {
        type: "haveCheck",
        requestId: 1,
        folderId: FOLDER,
        chunkIds: [...maxIds, "e".repeat(64) as ChunkId],
      },
      "haveCheck.chunkIds",
    ],
    [
      "missing ids",
      { type: "haveResult", requestId: 1, missing: [...maxIds, "e".repeat(64) as ChunkId] },
      "haveResult.missing",
    ],
    [
      "snapshot",
      {
        type: "snapshotPut",
        requestId: 1,
        folderId: FOLDER,
        epoch: 0,
        coversSeq: 0,
        ciphertext: bytes(frameLimits.maxSnapshotBytes + 1),
      },
      "snapshotPut.ciphertext",
    ],
    [
      "presence payload",
      {
        type: "presence",
        folderId: FOLDER,
        deviceId: DEVICE,
        status: "online",
        ackedSeq: 0,
        payload: bytes(frameLimits.maxPresencePayloadBytes + 1),
      },
      "presence.payload",
    ],
  ];
  test.each(ONE_OVER)(
    "one over the %s limit is refused by the encoder as too_large",
    (_, m, field) => {
      expectProtocolError(() => encodeMessage(m), "too_large", field);
    },
  );

  test("one over a field limit is refused by the decoder as too_large, naming the field", () => {
    const token = raw(
      "auth",
      (w) => (w.uint(1), w.string("t".repeat(frameLimits.maxTokenBytes + 1))),
    );
    expectProtocolError(() => decodeMessage(token), "too_large", "auth.token");
    const name = raw("welcome", (w) => (w.uint(1), w.string(`${longest}x`), w.string("1")));
    expectProtocolError(() => decodeMessage(name), "too_large", "welcome.server.name");
    const presence = raw("presence", (w) => {
      w.string(FOLDER);
      w.string(DEVICE);
      w.u8(1);
      w.uint(0);
      w.u8(1);
      w.bytes(bytes(frameLimits.maxPresencePayloadBytes + 1));
    });
    expectProtocolError(() => decodeMessage(presence), "too_large", "presence.payload");
    const batch = raw("envelopes", (w) => {
      w.string(FOLDER);
      w.uint(frameLimits.maxEnvelopesPerBatch + 1);
      for (let i = 1; i <= frameLimits.maxEnvelopesPerBatch + 1; i++) {
        w.uint(i);
        w.bytes(bytes(1));
      }
    });
    expectProtocolError(() => decodeMessage(batch), "too_large", "envelopes.items");
    const ids = raw("haveResult", (w) => (w.uint(1), w.uint(frameLimits.maxChunkIdsPerCheck + 1)));
    expectProtocolError(() => decodeMessage(ids), "too_large", "haveResult.missing");
    const envelope = raw("append", (w) => {
      w.uint(1);
      w.string(FOLDER);
      w.bytes(bytes(frameLimits.maxEnvelopeBytes + 1));
    });
    expectProtocolError(() => decodeMessage(envelope), "too_large", "append.envelope");
  });

  test("a frame over its type's limit, or over the global limit, is too_large before parsing", () => {
    const hello = new Uint8Array(messageFrameLimits.hello + 1);
    hello.set([FRAME_FORMAT, MESSAGE_TAGS.hello]);
    expectProtocolError(() => decodeMessage(hello), "too_large", "hello frame");
    const huge = new Uint8Array(frameLimits.maxFrameBytes + 1);
    huge.set([FRAME_FORMAT, MESSAGE_TAGS.envelopes]);
    expectProtocolError(
      () => decodeMessage(huge),
      "too_large",
      `limit of ${frameLimits.maxFrameBytes}`,
    );
  });

  test("declared lengths beyond the frame fail without allocating them", () => {
    // A 1 GiB envelope claimed by a 33-byte frame; 200 and 2^40 items claimed by tiny batches.
    const lying = raw("append", (w) => (w.uint(1), w.string(FOLDER), w.uint(2 ** 30)));
    expectProtocolError(() => decodeMessage(lying), "bad_frame", "append.envelope");
    const count = raw("envelopes", (w) => (w.string(FOLDER), w.uint(200)));
    expectProtocolError(() => decodeMessage(count), "bad_frame", "more than the");
    const many = raw("envelopes", (w) => (w.string(FOLDER), w.uint(2 ** 40)));
    expectProtocolError(() => decodeMessage(many), "too_large", "envelopes.items");
  });
});

describe("malformed frames", () => {
  test.each(ALL.map((m) => [m.type, encodeMessage(m)] as const))(
    "every truncation of a %s frame is a ProtocolError",
    (_, frame) => {
      for (let cut = 0; cut < frame.length; cut++) {
        expect(() => decodeMessage(frame.subarray(0, cut))).toThrow(ProtocolError);
      }
    },
  );

  test("a trailing byte is bad_frame", () => {
    const frame = encodeMessage(EXAMPLES.subscribe);
    expectProtocolError(() => decodeMessage(Uint8Array.of(...frame, 0)), "bad_frame", "trailing");
  });

  test("unknown and reserved tags are bad_frame; unknown formats unsupported_version", () => {
    for (const tag of [0x00, 0x07, 0x19, 0xff]) {
      expectProtocolError(
        () => decodeMessage(Uint8Array.of(FRAME_FORMAT, tag, 0)),
        "bad_frame",
        "unknown message tag",
      );
    }
    for (const format of [0, 2, 0x7b]) {
      expectProtocolError(
        () => decodeMessage(Uint8Array.of(format, 0x04, 0)),
        "unsupported_version",
        `format ${format}`,
      );
    }
    expectProtocolError(() => decodeMessage(new Uint8Array(0)), "bad_frame", "no header");
    expectProtocolError(() => decodeMessage("hello" as unknown as Uint8Array), "bad_frame");
  });

  test("non-canonical encodings are refused, so a frame has one reading", () => {
    expectProtocolError(
      () => decodeMessage(Uint8Array.of(1, 0x04, 0x80, 0x00)),
      "bad_frame",
      "non-minimal",
    );
    const flag = raw("snapshot", (w) => (w.uint(1), w.string(FOLDER), w.u8(2)));
    expectProtocolError(() => decodeMessage(flag), "bad_frame", "snapshot.snapshot");
    for (const code of [0, 13, 200]) {
      const error = raw("error", (w) => (w.u8(code), w.string(""), w.u8(0)));
      expectProtocolError(() => decodeMessage(error), "bad_frame", "error.code");
    }
    const status = raw(
      "presence",
      (w) => (w.string(FOLDER), w.string(DEVICE), w.u8(0), w.uint(0), w.u8(0)),
    );
    expectProtocolError(() => decodeMessage(status), "bad_frame", "presence.status");
    const utf8 = raw("error", (w) => (w.u8(1), w.bytes(Uint8Array.of(0xc0, 0x80)), w.u8(0)));
    expectProtocolError(() => decodeMessage(utf8), "bad_frame", "not valid UTF-8");
  });

  test("field rules hold at decode: order, distinctness, ranges, versions", () => {
    const order = raw(
      "envelopes",
      (w) => (
        w.string(FOLDER),
        w.uint(2),
        w.uint(5),
        w.bytes(bytes(1)),
        w.uint(5),
        w.bytes(bytes(1))
      ),
    );
    expectProtocolError(() => decodeMessage(order), "bad_frame", "envelopes.items[1].seq");
    const zeroSeq = raw(
      "envelopes",
      (w) => (w.string(FOLDER), w.uint(1), w.uint(0), w.bytes(bytes(1))),
    );
    expectProtocolError(() => decodeMessage(zeroSeq), "bad_frame", "envelopes.items[0].seq");
    const dup = raw(
      "haveCheck",
      (w) => (w.uint(1), w.string(FOLDER), w.uint(2), w.hex(CHUNK_A), w.hex(CHUNK_A)),
    );
    expectProtocolError(() => decodeMessage(dup), "bad_frame", "haveCheck.chunkIds[1]");
    const epoch = raw(
      "snapshotPut",
      (w) => (w.uint(1), w.string(FOLDER), w.uint(2 ** 32), w.uint(0), w.bytes(bytes(1))),
    );
    expectProtocolError(() => decodeMessage(epoch), "bad_frame", "snapshotPut.epoch");
    const versions = raw("hello", (w) => (w.uint(3), w.uint(2), w.string("a"), w.string("1")));
    expectProtocolError(() => decodeMessage(versions), "bad_frame", "hello.versions");
    const empty = raw("append", (w) => (w.uint(1), w.string(FOLDER), w.bytes(new Uint8Array(0))));
    expectProtocolError(() => decodeMessage(empty), "bad_frame", "append.envelope");
  });
});

describe("ids", () => {
  test.each([
    ["upper-case folder id", FOLDER.toUpperCase()],
    ["short folder id", FOLDER.slice(1)],
    ["folder id with non-zero trailing bits", `${FOLDER.slice(0, 25)}b`],
    ["folder id with a 1", `1${FOLDER.slice(1)}`],
  ])("a %s is refused in both directions", (_, id) => {
    expectProtocolError(
      () => encodeMessage({ type: "ack", folderId: id as FolderId, seq: 1 }),
      "bad_frame",
      "ack.folderId",
    );
    const frame = raw("ack", (w) => (w.string(id), w.uint(1)));
    expectProtocolError(() => decodeMessage(frame), "bad_frame", "ack.folderId");
  });

  test.each([
    ["lower-case device id", DEVICE.toLowerCase()],
    ["device id without dashes", DEVICE.replace(/-/g, "")],
    ["device id with an 8", DEVICE.replace("E", "8")],
  ])("a %s is refused in both directions", (_, id) => {
    const m = { ...EXAMPLES.presence, deviceId: id as DeviceId };
    expectProtocolError(() => encodeMessage(m), "bad_frame", "presence.deviceId");
    const frame = raw(
      "presence",
      (w) => (w.string(FOLDER), w.string(id), w.u8(1), w.uint(0), w.u8(0)),
    );
    expectProtocolError(() => decodeMessage(frame), "bad_frame", "presence.deviceId");
  });

  test("chunk ids must be 64 lower-case hex characters", () => {
    for (const id of [CHUNK_A.toUpperCase(), CHUNK_A.slice(2), `${CHUNK_A.slice(2)}zz`]) {
      const m: Message = { type: "haveResult", requestId: 1, missing: [id as ChunkId] };
      expectProtocolError(() => encodeMessage(m), "bad_frame", "haveResult.missing[0]");
    }
  });

  test("sequence numbers and request ids are safe integers ≥ 0", () => {
    for (const seq of [-1, 1.5, 2 ** 53, Number.NaN]) {
      expectProtocolError(
        () => encodeMessage({ type: "ack", folderId: FOLDER, seq }),
        "bad_frame",
        "ack.seq",
      );
    }
    const m = { type: "ok", requestId: "1" } as unknown as Message;
    expectProtocolError(() => encodeMessage(m), "bad_frame", "ok.requestId");
    expectProtocolError(
      () => encodeMessage({ type: "nope" } as unknown as Message),
      "bad_frame",
      '"nope"',
    );
  });

  test("software names and tokens must be printable ASCII", () => {
    const name = { ...EXAMPLES.hello, client: { name: "a\nb", version: "1" } } as Message;
    expectProtocolError(() => encodeMessage(name), "bad_frame", "hello.client.name");
    const token: Message = { type: "auth", requestId: 1, token: "secret value" };
    expectProtocolError(() => encodeMessage(token), "bad_frame", "auth.token");
    try {
      encodeMessage(token);
    } catch (error) {
      expect((error as Error).message).not.toContain("secret");
    }
  });
});

describe("version negotiation", () => {
  test("picks the highest common version", () => {
    expect(PROTOCOL_VERSION).toBe(5);
    // A relay or client that speaks only version 1 (no ping) is still spoken to.
    expect(negotiateVersion(SUPPORTED_VERSIONS, { min: 1, max: 1 })).toBe(1);
    expect(negotiateVersion(SUPPORTED_VERSIONS, { min: 1, max: 2 })).toBe(2);
    expect(negotiateVersion(SUPPORTED_VERSIONS, { min: 1, max: 3 })).toBe(3);
    expect(negotiateVersion(SUPPORTED_VERSIONS, { min: 1, max: 4 })).toBe(4);
    expect(negotiateVersion(SUPPORTED_VERSIONS, { min: 1, max: 5 })).toBe(5);
    expect(negotiateVersion({ min: 1, max: 4 }, { min: 2, max: 9 })).toBe(4);
    expect(negotiateVersion({ min: 2, max: 9 }, { min: 1, max: 4 })).toBe(4);
    expect(negotiateVersion({ min: 3, max: 3 }, { min: 1, max: 7 })).toBe(3);
  });

  test("disjoint ranges throw unsupported_version naming both ranges", () => {
    expectProtocolError(
      () => negotiateVersion({ min: 1, max: 1 }, { min: 2, max: 3 }),
      "unsupported_version",
      "this side supports version 1, the peer supports versions 2–3; this side needs",
    );
    expectProtocolError(
      () => negotiateVersion({ min: 4, max: 5 }, { min: 1, max: 2 }),
      "unsupported_version",
      "the peer needs a newer version",
    );
  });

  test("malformed ranges are bad_frame", () => {
    expectProtocolError(
      () => negotiateVersion({ min: 2, max: 1 }, { min: 1, max: 1 }),
      "bad_frame",
      "our version range",
    );
    expectProtocolError(
      () => negotiateVersion({ min: 1, max: 1 }, { min: 0, max: 1 }),
      "bad_frame",
      "peer's version range",
    );
  });
});

describe("errors", () => {
  test("every code has an HTTP status and a wire number", () => {
    expect(PROTOCOL_ERROR_CODES.map((c) => [c, PROTOCOL_ERROR_HTTP_STATUS[c]])).toEqual([
      ["bad_frame", 400],
      ["unsupported_version", 400],
      ["unauthorized", 401],
      ["forbidden", 403],
      ["not_found", 404],
      ["conflict", 409],
      ["too_large", 413],
      ["rate_limited", 429],
      ["bad_signature", 400],
      ["unavailable", 503],
      ["internal", 500],
      ["quota_exceeded", 507],
    ]);
    for (const code of PROTOCOL_ERROR_CODES) {
      expect(decodeMessage(encodeMessage({ type: "error", code, message: code }))).toMatchObject({
        code,
      });
    }
  });

  test("ProtocolError is a WeftError with a wire code and a status", () => {
    const error = new ProtocolError("rate_limited", "slow down", { cause: 1 });
    expect(error).toBeInstanceOf(WeftError);
    expect([error.code, error.wireCode, error.httpStatus, error.name, error.cause]).toEqual([
      "PROTOCOL",
      "rate_limited",
      429,
      "ProtocolError",
      1,
    ]);
  });

  test("errorMessageFor keeps protocol errors, hides others, and always encodes", () => {
    expect(errorMessageFor(new ProtocolError("not_found", "no such folder"), 5)).toEqual({
      type: "error",
      code: "not_found",
      message: "no such folder",
      requestId: 5,
    });
    expect(errorMessageFor(new Error("SELECT * FROM secrets"))).toEqual({
      type: "error",
      code: "internal",
      message: "internal error",
    });
    const long = errorMessageFor(new ProtocolError("bad_frame", `\ud800${"é".repeat(2000)}`));
    expect(decodeMessage(encodeMessage(long))).toEqual(long);
    expect(Buffer.byteLength(long.message)).toBeLessThanOrEqual(frameLimits.maxErrorMessageBytes);
    const back = protocolErrorFrom({ type: "error", code: "forbidden", message: "viewer" });
    expect([back.wireCode, back.message]).toEqual(["forbidden", "peer reported forbidden: viewer"]);
  });
});

describe("memory transport", () => {
  /** Resolves with the first `n` messages `t` receives. */
  function receive(
    t: ReturnType<typeof createMemoryTransportPair>[0],
    n: number,
  ): Promise<Message[]> {
    const got: Message[] = [];
    return new Promise((resolve) => {
      const off = t.on("message", (m) => {
        got.push(m);
        if (got.length === n) {
          off();
          resolve(got);
        }
      });
    });
  }
  const acks = (n: number): Message[] =>
    Array.from({ length: n }, (_, i) => ({ type: "ack", folderId: FOLDER, seq: i }));

  test("delivers in order, both ways, asynchronously, through the codec", async () => {
    const [a, b] = createMemoryTransportPair();
    const opened = Promise.all(
      [a, b].map((t) => new Promise<void>((r) => t.on("open", () => r()))),
    );
    const atB = receive(b, 50);
    const atA = receive(a, 50);
    let delivered = false;
    b.on("message", () => (delivered = true));
    for (const m of acks(50)) a.send(m);
    for (const m of acks(50)) b.send(m);
    expect(delivered).toBe(false);
    await opened;
    await expect(a.whenReady()).resolves.toBeUndefined();
    expect(await atB).toEqual(acks(50));
    expect(await atA).toEqual(acks(50));
    expect(a.framesSent).toBe(50);
    expect(a.bytesSent).toBe(50 * encodeMessage(acks(1)[0]!).length);
  });

  test("the receiver gets a decoded copy, not the sender's object", async () => {
    const [a, b] = createMemoryTransportPair();
    const got = receive(b, 1);
    const m = EXAMPLES.append;
    a.send(m);
    const [back] = await got;
    expect(back).toEqual(m);
    expect(back).not.toBe(m);
  });

  test("an invalid message is refused synchronously and nothing is sent", () => {
    const [a] = createMemoryTransportPair();
    expect(() => a.send({ type: "ack", folderId: FOLDER, seq: -1 })).toThrow(ProtocolError);
    expect(a.framesSent).toBe(0);
  });

  test("close delivers what was sent, closes both ends, then refuses sends", async () => {
    const [a, b] = createMemoryTransportPair();
    const events: string[] = [];
    b.on("message", (m) => events.push(m.type));
    const closedB = new Promise<TransportCloseInfo>((r) => b.on("close", r));
    const closedA = new Promise<TransportCloseInfo>((r) => a.on("close", r));
    a.send(EXAMPLES.ack);
    a.close("done");
    expect(a.state).toBe("closed");
    expectProtocolError(() => a.send(EXAMPLES.ack), "unavailable", "closed");
    expect(await closedB).toEqual({ reason: "done", remote: true });
    expect(await closedA).toEqual({ reason: "done", remote: false });
    expect(events).toEqual(["ack"]);
    expect(b.state).toBe("closed");
    expectProtocolError(() => b.send(EXAMPLES.ack), "unavailable");
    await expect(b.whenReady()).rejects.toBeInstanceOf(ProtocolError);
    await expect(a.connect()).rejects.toBeInstanceOf(ProtocolError);
  });

  test("a malformed frame gives the receiver an error, the sender an error message, and closes", async () => {
    const [a, b] = createMemoryTransportPair();
    const bError = new Promise<Error>((r) => b.on("error", r));
    const aReply = receive(a, 1);
    const aClosed = new Promise<TransportCloseInfo>((r) => a.on("close", r));
    a.sendRaw(Uint8Array.of(FRAME_FORMAT, 0x99));
    expect(await bError).toBeInstanceOf(ProtocolError);
    expect(await aReply).toEqual([
      { type: "error", code: "bad_frame", message: "unknown message tag 0x99" },
    ]);
    expect((await aClosed).remote).toBe(true);
  });

  test("a throwing listener becomes an error event instead of escaping", async () => {
    const [a, b] = createMemoryTransportPair();
    const error = new Promise<Error>((r) => b.on("error", r));
    b.on("message", () => {
      throw new Error("listener bug");
    });
    a.send(EXAMPLES.ack);
    expect((await error).message).toBe("listener bug");
  });
});
