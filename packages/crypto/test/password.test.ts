// Password hashes for the server and password-protected device secrets at rest.
import sodium from "libsodium-wrappers-sumo";
import { beforeAll, describe, expect, it } from "vitest";
import type { PasswordHashLimits } from "../src/index.js";
import {
  PROTECT_SECRET_LIMITS,
  constantTimeEqual,
  hashPassword,
  passwordNeedsRehash,
  protectSecret,
  ready,
  unprotectSecret,
  verifyPassword,
} from "../src/index.js";
import { expectCryptoError, expectRejected, flipBit, utf8 } from "./helpers.js";

// The cheapest limits libsodium allows, so bit-flip tests can afford hundreds of derivations.
const FAST: PasswordHashLimits = { opsLimit: 1, memLimit: 8192 };

beforeAll(async () => {
  await ready();
});

describe("hashPassword / verifyPassword", () => {
  it("verifies the right password only, and needs no rehash at current limits", () => {
    const hash = hashPassword("correct horse battery staple");
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    expect(verifyPassword(hash, "correct horse battery staple")).toBe(true);
    expect(verifyPassword(hash, "correct horse battery stapler")).toBe(false);
    expect(verifyPassword(hash, "")).toBe(false);
    expect(passwordNeedsRehash(hash)).toBe(false);
  });

  it("still verifies a hash stored earlier, and NFC-normalises passwords", () => {
    const stored =
      "$argon2id$v=19$m=65536,t=2,p=1$zMXdC7FAJXe5Pp73BixpAg$c+Npjq+SSGCUnSKh0/VuvOXiSXOZxAQJPs58VynydXc";
    expect(verifyPassword(stored, "pw")).toBe(true);
    const hash = hashPassword("caf\u00e9");
    expect(verifyPassword(hash, "cafe\u0301")).toBe(true);
  });

  it("asks for a rehash of weaker hashes", () => {
    const weak = sodium.crypto_pwhash_str("pw", 1, 8192);
    expect(verifyPassword(weak, "pw")).toBe(true);
    expect(passwordNeedsRehash(weak)).toBe(true);
  });

  it("rejects malformed hash strings with BAD_INPUT", () => {
    for (const bad of [
      "",
      "password",
      "$2b$10$abcdefghijklmnopqrstuv",
      "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA",
    ]) {
      expectCryptoError(() => verifyPassword(bad, "pw"), "BAD_INPUT");
      expectCryptoError(() => passwordNeedsRehash(bad), "BAD_INPUT");
    }
    expectCryptoError(() => hashPassword(""), "BAD_INPUT", /empty/);
  });
});

describe("protectSecret / unprotectSecret", () => {
  const secret = new Uint8Array(64).map((_, i) => i * 3);

  it("round-trips with the default limits, and a wrong password is WRONG_PASSWORD", () => {
    const blob = protectSecret(secret, "hunter2");
    const view = new DataView(blob.buffer);
    expect([blob[0], blob[1], view.getUint32(2), view.getUint32(6)]).toEqual([
      1,
      2,
      PROTECT_SECRET_LIMITS.opsLimit,
      PROTECT_SECRET_LIMITS.memLimit,
    ]);
    expect(blob.length).toBe(26 + 24 + 64 + 16);
    expect(unprotectSecret(blob, "hunter2")).toEqual(secret);
    expectCryptoError(() => unprotectSecret(blob, "hunter3"), "WRONG_PASSWORD", /wrong password/);
  });

  it("follows the documented derivation and layout", () => {
    const blob = protectSecret(secret, "pw", FAST);
    const key = sodium.crypto_pwhash(
      32,
      "pw",
      blob.subarray(10, 26),
      1,
      8192,
      sodium.crypto_pwhash_ALG_ARGON2ID13,
    );
    const ad = new Uint8Array([...utf8("weft-protected-secret"), ...blob.subarray(0, 26)]);
    const opened = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      blob.subarray(50),
      ad,
      blob.subarray(26, 50),
      key,
    );
    expect(constantTimeEqual(opened, secret)).toBe(true);
  });

  it("every flipped bit gives WRONG_PASSWORD or BAD_INPUT, never data", () => {
    const blob = protectSecret(secret.subarray(0, 32), "pw", FAST);
    for (let bit = 0; bit < blob.length * 8; bit++) {
      expectRejected(
        () => unprotectSecret(flipBit(blob, bit), "pw"),
        ["WRONG_PASSWORD", "BAD_INPUT"],
      );
    }
  });

  it("malformed blobs are BAD_INPUT", () => {
    const blob = protectSecret(secret, "pw", FAST);
    expectCryptoError(() => unprotectSecret(blob.subarray(0, 40), "pw"), "BAD_INPUT", /length/);
    expectCryptoError(
      () => unprotectSecret(new Uint8Array([9, ...blob.subarray(1)]), "pw"),
      "BAD_INPUT",
      /version/,
    );
    const huge = blob.slice();
    new DataView(huge.buffer).setUint32(6, 0xfffffc00);
    expectCryptoError(() => unprotectSecret(huge, "pw"), "BAD_INPUT", /memLimit/);
    expectCryptoError(
      () => protectSecret(secret, "pw", { opsLimit: 0, memLimit: 8192 }),
      "BAD_INPUT",
      /opsLimit/,
    );
    expectCryptoError(() => protectSecret(new Uint8Array(0), "pw", FAST), "BAD_INPUT", /secret/);
  });
});

describe("constantTimeEqual", () => {
  it("compares contents, and different lengths are unequal", () => {
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 2]))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
