// Key wrapping for devices (sealed boxes) and with invite secrets.
import sodium from "libsodium-wrappers-sumo";
import { beforeAll, describe, expect, it } from "vitest";
import {
  fromBase64Url,
  generateDeviceIdentity,
  generateFolderKey,
  generateInviteSecret,
  ready,
  unwrapKeyForDevice,
  unwrapKeyWithSecret,
  wrapKeyForDevice,
  wrapKeyWithSecret,
} from "../src/index.js";
import { expectCryptoError, expectRejected, flipBit, utf8 } from "./helpers.js";

beforeAll(async () => {
  await ready();
});

describe("wrapKeyForDevice", () => {
  it("only the addressed device unwraps, and every flipped bit is TAMPERED", () => {
    const device = generateDeviceIdentity();
    const other = generateDeviceIdentity();
    const key = generateFolderKey();
    const wrapped = wrapKeyForDevice(key, device.boxPublicKey);
    expect(wrapped.length).toBe(80);
    expect(unwrapKeyForDevice(wrapped, device.boxPublicKey, device.boxSecretKey)).toEqual(key);
    expectCryptoError(
      () => unwrapKeyForDevice(wrapped, other.boxPublicKey, other.boxSecretKey),
      "TAMPERED",
    );
    for (let bit = 0; bit < wrapped.length * 8; bit++) {
      expectRejected(
        () => unwrapKeyForDevice(flipBit(wrapped, bit), device.boxPublicKey, device.boxSecretKey),
        ["TAMPERED"],
      );
    }
    expectCryptoError(
      () => unwrapKeyForDevice(wrapped.subarray(1), device.boxPublicKey, device.boxSecretKey),
      "TAMPERED",
    );
  });

  it("checks key lengths", () => {
    const device = generateDeviceIdentity();
    expectCryptoError(
      () => wrapKeyForDevice(new Uint8Array(16), device.boxPublicKey),
      "BAD_KEY",
      /key must be 32 bytes/,
    );
    expectCryptoError(
      () => wrapKeyForDevice(generateFolderKey(), device.signPublicKey.subarray(1)),
      "BAD_KEY",
      /boxPublicKey/,
    );
  });
});

describe("wrapKeyWithSecret", () => {
  const context = utf8("folder abc, epoch 1");

  it("invite secrets are 32 random bytes of base64url", () => {
    const secret = generateInviteSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fromBase64Url(secret).length).toBe(32);
    expect(generateInviteSecret()).not.toBe(secret);
  });

  it("round-trips, and follows the documented derivation and layout", () => {
    const secret = generateInviteSecret();
    const key = generateFolderKey();
    const wrapped = wrapKeyWithSecret(key, secret, context);
    expect(wrapped.length).toBe(73);
    expect(unwrapKeyWithSecret(wrapped, secret, context)).toEqual(key);
    const wrappingKey = sodium.crypto_kdf_derive_from_key(32, 1, "weftinvt", fromBase64Url(secret));
    const ad = new Uint8Array([...utf8("weft-invite-wrap"), 1, ...context]);
    expect(wrapped[0]).toBe(1);
    expect(
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        wrapped.subarray(25),
        ad,
        wrapped.subarray(1, 25),
        wrappingKey,
      ),
    ).toEqual(key);
  });

  it("a wrong secret, a wrong context or any flipped bit is TAMPERED", () => {
    const secret = generateInviteSecret();
    const wrapped = wrapKeyWithSecret(generateFolderKey(), secret, context);
    expectCryptoError(
      () => unwrapKeyWithSecret(wrapped, generateInviteSecret(), context),
      "TAMPERED",
    );
    expectCryptoError(
      () => unwrapKeyWithSecret(wrapped, secret, utf8("folder abc, epoch 2")),
      "TAMPERED",
    );
    for (let bit = 0; bit < wrapped.length * 8; bit++) {
      expectRejected(
        () => unwrapKeyWithSecret(flipBit(wrapped, bit), secret, context),
        ["TAMPERED"],
      );
    }
    expectCryptoError(
      () => unwrapKeyWithSecret(wrapped.subarray(0, 72), secret, context),
      "TAMPERED",
    );
  });

  it("rejects a malformed secret or an empty context", () => {
    const key = generateFolderKey();
    expectCryptoError(
      () => wrapKeyWithSecret(key, "not a secret!", context),
      "BAD_INPUT",
      /base64url/,
    );
    expectCryptoError(
      () => wrapKeyWithSecret(key, "AAAA", context),
      "BAD_INPUT",
      /invite secret must be 32 bytes, got 3/,
    );
    expectCryptoError(
      () => wrapKeyWithSecret(key, generateInviteSecret(), new Uint8Array(0)),
      "BAD_INPUT",
      /context/,
    );
  });
});
