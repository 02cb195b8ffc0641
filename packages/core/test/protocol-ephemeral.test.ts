// The `ephemeral` message: wire layout, round trip, limits and rejections (like `presence`).
import type { DeviceId, FolderId } from "@weft/crypto";
import { describe, expect, test } from "vitest";
import { ByteWriter } from "../src/model/varint.js";
import {
  FRAME_FORMAT,
  MESSAGE_TAGS,
  ProtocolError,
  decodeMessage,
  encodeMessage,
  frameLimits,
  messageFrameLimits,
} from "../src/protocol/index.js";
import type { EphemeralMessage, ProtocolErrorCode } from "../src/protocol/index.js";

const FOLDER = "mfrggzdfmztwq2lknnwg23tpoa" as FolderId;
const DEVICE = "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL" as DeviceId;
const bytes = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill);
const ephemeral = (
  payload: Uint8Array,
  over: Partial<EphemeralMessage> = {},
): EphemeralMessage => ({
  type: "ephemeral",
  folderId: FOLDER,
  deviceId: DEVICE,
  payload,
  ...over,
});

/** An ephemeral frame written by hand, bypassing the encoder's validation. */
function raw(folderId: string, deviceId: string, payload: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.u8(FRAME_FORMAT);
  w.u8(MESSAGE_TAGS.ephemeral);
  w.string(folderId);
  w.string(deviceId);
  w.bytes(payload);
  return w.finish();
}

function expectProtocolError(fn: () => unknown, code: ProtocolErrorCode, text: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  expect((thrown as ProtocolError).wireCode, (thrown as ProtocolError).message).toBe(code);
  expect((thrown as ProtocolError).message).toContain(text);
}

describe("ephemeral", () => {
  test("has tag 0x41, next to presence, and an 8 KiB payload limit", () => {
    expect(MESSAGE_TAGS.ephemeral).toBe(0x41);
    expect(frameLimits.maxEphemeralBytes).toBe(8 * 1024);
  });

  test.each([1, 200, frameLimits.maxEphemeralBytes])(
    "a %i-byte payload round-trips and re-encodes to the same frame",
    (n) => {
      const m = ephemeral(bytes(n, n & 0xff));
      const frame = encodeMessage(m);
      expect(frame.length).toBeLessThanOrEqual(messageFrameLimits.ephemeral);
      const back = decodeMessage(frame);
      expect(back).toStrictEqual(m);
      expect(encodeMessage(back)).toEqual(frame);
    },
  );

  test("the layout is folderId, deviceId, payload, byte for byte", () => {
    const frame = encodeMessage(ephemeral(Uint8Array.of(0xaa, 0xbb)));
    expect(frame).toEqual(raw(FOLDER, DEVICE, Uint8Array.of(0xaa, 0xbb)));
    expect([...frame.slice(0, 3)]).toEqual([FRAME_FORMAT, 0x41, 26]);
    expect([...frame.slice(-3)]).toEqual([2, 0xaa, 0xbb]);
  });

  test("an oversized payload is too_large in both directions", () => {
    const over = bytes(frameLimits.maxEphemeralBytes + 1);
    expectProtocolError(() => encodeMessage(ephemeral(over)), "too_large", "ephemeral.payload");
    expectProtocolError(() => decodeMessage(raw(FOLDER, DEVICE, over)), "too_large", "payload");
  });

  test("an empty payload is bad_frame in both directions", () => {
    const empty = new Uint8Array(0);
    expectProtocolError(() => encodeMessage(ephemeral(empty)), "bad_frame", "ephemeral.payload");
    expectProtocolError(
      () => decodeMessage(raw(FOLDER, DEVICE, empty)),
      "bad_frame",
      "ephemeral.payload",
    );
  });

  test.each([
    ["upper-case", FOLDER.toUpperCase()],
    ["short", FOLDER.slice(1)],
    ["non-zero trailing bits", `${FOLDER.slice(0, 25)}b`],
  ])("a %s folder id is bad_frame in both directions", (_, id) => {
    const m = ephemeral(bytes(3), { folderId: id as FolderId });
    expectProtocolError(() => encodeMessage(m), "bad_frame", "ephemeral.folderId");
    expectProtocolError(() => decodeMessage(raw(id, DEVICE, bytes(3))), "bad_frame", "folderId");
  });

  test("a malformed device id is bad_frame in both directions", () => {
    const id = DEVICE.toLowerCase();
    const m = ephemeral(bytes(3), { deviceId: id as DeviceId });
    expectProtocolError(() => encodeMessage(m), "bad_frame", "ephemeral.deviceId");
    expectProtocolError(
      () => decodeMessage(raw(FOLDER, id, bytes(3))),
      "bad_frame",
      "ephemeral.deviceId",
    );
  });

  test("a payload that is not a Uint8Array, truncations and trailing bytes are refused", () => {
    const m = ephemeral("hi" as unknown as Uint8Array);
    expectProtocolError(() => encodeMessage(m), "bad_frame", "ephemeral.payload");
    const frame = encodeMessage(ephemeral(bytes(5)));
    for (let cut = 0; cut < frame.length; cut++) {
      expect(() => decodeMessage(frame.subarray(0, cut))).toThrow(ProtocolError);
    }
    expectProtocolError(() => decodeMessage(Uint8Array.of(...frame, 0)), "bad_frame", "trailing");
  });

  test("a frame over the ephemeral limit is too_large before any field is read", () => {
    const frame = new Uint8Array(messageFrameLimits.ephemeral + 1);
    frame.set([FRAME_FORMAT, MESSAGE_TAGS.ephemeral]);
    expectProtocolError(() => decodeMessage(frame), "too_large", "ephemeral frame");
  });
});
