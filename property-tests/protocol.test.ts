/**
 * The wire codec against arbitrary input: valid messages round-trip exactly, and any byte string
 * (random, or a valid frame with bytes flipped, inserted or deleted) either decodes to a message
 * that re-encodes to the very same bytes or is refused with a ProtocolError — never another
 * exception, never a non-canonical reading.
 */
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  FRAME_FORMAT,
  MESSAGE_TAGS,
  type Message,
  PROTOCOL_ERROR_CODES,
  type PresenceMessage,
  ProtocolError,
  decodeMessage,
  encodeMessage,
} from "@weft/core";
import { propertyParams } from "./config.js";

// Plain objects (fc.record defaults to null-prototype ones), so toStrictEqual compares like for like.
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true });
const chars = (alphabet: string): fc.Arbitrary<string> => fc.constantFrom(...alphabet.split(""));
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

// 26 base32 characters carry 130 bits for 128: the last one must have its two low bits clear.
const arbFolderId = fc
  .tuple(fc.string({ unit: chars(BASE32), minLength: 25, maxLength: 25 }), chars("aeimquy4"))
  .map(([head, last]) => (head + last) as FolderId);
const arbDeviceId = fc
  .array(fc.string({ unit: chars(BASE32.toUpperCase()), minLength: 4, maxLength: 4 }), {
    minLength: 8,
    maxLength: 8,
  })
  .map((groups) => groups.join("-") as DeviceId);
const arbChunkId = fc
  .string({ unit: chars("0123456789abcdef"), minLength: 64, maxLength: 64 })
  .map((s) => s as ChunkId);
const arbChunkIds = (minLength: number): fc.Arbitrary<ChunkId[]> =>
  fc.uniqueArray(arbChunkId, { minLength, maxLength: 24 });
const arbId = fc.maxSafeNat();
const arbSeq = fc.maxSafeNat();
const arbEpoch = fc.integer({ min: 0, max: 0xffffffff });
const arbBytes = (minLength: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength, maxLength: 300 });
const arbPrintable = (minLength: number, maxLength: number, lowest = 0x20): fc.Arbitrary<string> =>
  fc.string({
    unit: fc.integer({ min: lowest, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength,
    maxLength,
  });
const arbSoftware = rec({ name: arbPrintable(1, 64), version: arbPrintable(1, 64) });
const arbVersions = fc
  .tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }))
  .map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));
// Up to 200 code points of any plane (no lone surrogates): at most 800 bytes, under 1 KiB.
const arbText = fc.string({ unit: "binary", maxLength: 200 });
const arbItems = fc
  .tuple(
    fc.integer({ min: 1, max: 2 ** 50 }),
    fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), arbBytes(1)), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([first, rest]) => {
    let seq = first - 1;
    return rest.map(([gap, envelope]) => ({ seq: (seq += gap), envelope }));
  });
const withOptional = <T extends object, K extends string, V>(base: T, key: K, value: V | null) =>
  value === null ? base : { ...base, [key]: value };

/** Every message type, with every field drawn from its whole valid range. */
const arbMessage: fc.Arbitrary<Message> = fc.oneof(
  rec({ type: fc.constant("hello" as const), versions: arbVersions, client: arbSoftware }),
  rec({
    type: fc.constant("welcome" as const),
    version: fc.integer({ min: 1, max: 0xffff }),
    server: arbSoftware,
  }),
  rec({
    type: fc.constant("auth" as const),
    requestId: arbId,
    token: arbPrintable(1, 300, 0x21),
  }),
  rec({ type: fc.constant("ok" as const), requestId: arbId }),
  fc
    .tuple(fc.constantFrom(...PROTOCOL_ERROR_CODES), arbText, fc.option(arbId))
    .map(([code, message, requestId]) =>
      withOptional({ type: "error" as const, code, message }, "requestId", requestId),
    ),
  rec({
    type: fc.constant("subscribe" as const),
    requestId: arbId,
    folderId: arbFolderId,
    afterSeq: arbSeq,
  }),
  rec({
    type: fc.constant("subscribed" as const),
    requestId: arbId,
    folderId: arbFolderId,
    headSeq: arbSeq,
  }),
  rec({
    type: fc.constantFrom("unsubscribe" as const, "snapshotGet" as const),
    requestId: arbId,
    folderId: arbFolderId,
  }),
  rec({
    type: fc.constant("append" as const),
    requestId: arbId,
    folderId: arbFolderId,
    envelope: arbBytes(1),
  }),
  rec({
    type: fc.constant("appended" as const),
    requestId: arbId,
    folderId: arbFolderId,
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    deviceSeq: arbSeq,
  }),
  rec({ type: fc.constant("envelopes" as const), folderId: arbFolderId, items: arbItems }),
  rec({ type: fc.constant("ack" as const), folderId: arbFolderId, seq: arbSeq }),
  rec({
    type: fc.constant("snapshotPut" as const),
    requestId: arbId,
    folderId: arbFolderId,
    epoch: arbEpoch,
    coversSeq: arbSeq,
    ciphertext: arbBytes(1),
  }),
  rec({
    type: fc.constant("snapshot" as const),
    requestId: arbId,
    folderId: arbFolderId,
    snapshot: fc.option(rec({ epoch: arbEpoch, coversSeq: arbSeq, ciphertext: arbBytes(1) })),
  }),
  rec({
    type: fc.constant("haveCheck" as const),
    requestId: arbId,
    folderId: arbFolderId,
    chunkIds: arbChunkIds(1),
  }),
  rec({
    type: fc.constant("haveResult" as const),
    requestId: arbId,
    missing: arbChunkIds(0),
  }),
  fc
    .tuple(
      arbFolderId,
      arbDeviceId,
      fc.constantFrom("online", "away", "offline" as const),
      arbSeq,
      fc.option(arbBytes(0)),
    )
    .map(([folderId, deviceId, status, ackedSeq, payload]) =>
      withOptional<PresenceMessage, "payload", Uint8Array>(
        { type: "presence", folderId, deviceId, status, ackedSeq },
        "payload",
        payload,
      ),
    ),
);

type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "insert"; at: number; value: number }
  | { kind: "delete"; at: number };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  rec({
    kind: fc.constant("flip" as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  rec({
    kind: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  rec({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  rec({ kind: fc.constant("delete" as const), at: fc.nat() }),
);

function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  const b = [...frame];
  for (const m of mutations) {
    const at = m.at % (b.length + (m.kind === "insert" ? 1 : 0) || 1);
    if (m.kind === "insert") b.splice(at, 0, m.value);
    else if (b.length === 0) continue;
    else if (m.kind === "delete") b.splice(at, 1);
    else if (m.kind === "flip") b[at] = b[at]! ^ (1 << m.bit);
    else b[at] = m.value;
  }
  return Uint8Array.from(b);
}

const DECODE_FAILURES = ["bad_frame", "too_large", "unsupported_version"];

/** The decoder's whole contract for untrusted bytes: a canonical message, or a ProtocolError. */
function decodesCanonicallyOrRefuses(frame: Uint8Array): void {
  let message: Message;
  try {
    message = decodeMessage(frame);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    expect(DECODE_FAILURES).toContain(error.wireCode);
    return;
  }
  expect(encodeMessage(message)).toEqual(frame);
}

// Random bytes behind a valid header reach the field parsers instead of failing at byte 0.
const TAGS = Object.values(MESSAGE_TAGS);
const arbNoise = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc
    .tuple(fc.constantFrom(...TAGS), fc.uint8Array({ maxLength: 4000 }))
    .map(([tag, body]) => Uint8Array.of(FRAME_FORMAT, tag, ...body)),
);

describe("wire codec properties", () => {
  test("every valid message round-trips exactly", () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const frame = encodeMessage(m);
        expect(frame.length).toBeLessThan(4096);
        const back = decodeMessage(frame);
        expect(back).toStrictEqual(m);
        expect(encodeMessage(back)).toEqual(frame);
      }),
      propertyParams(),
    );
  });

  test("arbitrary bytes decode canonically or throw ProtocolError", () => {
    fc.assert(fc.property(arbNoise, decodesCanonicallyOrRefuses), propertyParams());
  });

  test("mutated valid frames decode canonically or throw ProtocolError", () => {
    fc.assert(
      fc.property(arbMessage, fc.array(arbMutation, { minLength: 1, maxLength: 4 }), (m, muts) => {
        decodesCanonicallyOrRefuses(mutate(encodeMessage(m), muts));
      }),
      propertyParams(),
    );
  });
});
