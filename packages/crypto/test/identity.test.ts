// Device ids: readable, typeable, forgiving of the usual typos, strict about everything else.
import { beforeAll, describe, expect, it } from "vitest";
import type { DeviceId } from "../src/index.js";
import {
  deviceIdFromSignPublicKey,
  generateDeviceIdentity,
  isDeviceId,
  parseDeviceId,
  ready,
  shortDeviceId,
} from "../src/index.js";
import { expectCryptoError } from "./helpers.js";

beforeAll(async () => {
  await ready();
});

const known = "EH7D-DX5B-KSRG-CYTL-7BKA-I36S-E4NX-X3KL";

describe("device identities", () => {
  it("have key sizes of Ed25519 and X25519, and an id derived from the signing key", () => {
    const id = generateDeviceIdentity();
    expect([
      id.signPublicKey.length,
      id.signSecretKey.length,
      id.boxPublicKey.length,
      id.boxSecretKey.length,
    ]).toEqual([32, 64, 32, 32]);
    expect(id.deviceId).toBe(deviceIdFromSignPublicKey(id.signPublicKey));
    expect(id.deviceId).toMatch(/^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
    expect(generateDeviceIdentity().deviceId).not.toBe(id.deviceId);
  });
});

describe("parseDeviceId", () => {
  it("round-trips canonical ids", () => {
    const id = generateDeviceIdentity().deviceId;
    expect(parseDeviceId(id)).toBe(id);
    expect(isDeviceId(id)).toBe(true);
  });

  it("accepts lower case, spaces and dashes anywhere, and 0/1/8 for O/I/B", () => {
    expect(parseDeviceId("eh7d dx5b ksrg cytl 7bka i36s e4nx x3kl")).toBe(known);
    expect(parseDeviceId("EH7DDX5BKSRGCYTL7BKAI36SE4NXX3KL")).toBe(known);
    expect(parseDeviceId(" eh7-ddx5b-k s r g-cytl7bka1-36se4nxx3kl\n")).toBe(known);
    expect(parseDeviceId("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567")).toBe(
      parseDeviceId("a8cd efgh 1jkl mn0p qrst uvwx yz23 4567"),
    );
  });

  it("rejects wrong lengths and characters with a clear message", () => {
    expectCryptoError(() => parseDeviceId("EH7D-DX5B"), "BAD_INPUT", /32 characters.*got 8/);
    expectCryptoError(() => parseDeviceId(known + "-A"), "BAD_INPUT", /got 33/);
    expectCryptoError(() => parseDeviceId(""), "BAD_INPUT", /got 0/);
    expectCryptoError(() => parseDeviceId(known.replace("E", "9")), "BAD_INPUT", /"9".*A-Z.*2-7/);
    expectCryptoError(() => parseDeviceId(known.replace("E", "é")), "BAD_INPUT", /"É"/);
    expectCryptoError(() => parseDeviceId(42 as unknown as string), "BAD_INPUT");
  });
});

describe("shortDeviceId", () => {
  it("is the first 7 characters without dashes", () => {
    expect(shortDeviceId(known as DeviceId)).toBe("EH7DDX5");
    expectCryptoError(() => shortDeviceId("eh7d" as DeviceId), "BAD_INPUT");
  });
});
