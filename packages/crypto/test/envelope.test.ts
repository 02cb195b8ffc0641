// Envelopes: the relay can check the writer without keys, and no forgery or change gets through.
import sodium from "libsodium-wrappers-sumo";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeviceIdentity, Envelope, EnvelopeHeader } from "../src/index.js";
import {
  MAX_ENVELOPE_CIPHERTEXT,
  MAX_ENVELOPE_PAYLOAD,
  decodeEnvelope,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  openEnvelope,
  ready,
  sealEnvelope,
  signDetached,
  verifyEnvelopeSignature,
} from "../src/index.js";
import { expectCryptoError, expectRejected, flipBit, utf8 } from "./helpers.js";

let alice: DeviceIdentity;
let bob: DeviceIdentity;
let indexKey: Uint8Array;
let header: EnvelopeHeader;
const payload = utf8('{"op":"put","file":"notes.txt"}');

beforeAll(async () => {
  await ready();
  alice = generateDeviceIdentity();
  bob = generateDeviceIdentity();
  indexKey = generateFolderKey();
  header = { folderId: newFolderId(), deviceId: alice.deviceId, deviceSeq: 41, epoch: 2 };
});

describe("sealEnvelope / openEnvelope", () => {
  it("round-trips through the binary encoding", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    expect(env).toMatchObject(header);
    const decoded = decodeEnvelope(encodeEnvelope(env));
    expect(decoded).toEqual(env);
    expect(verifyEnvelopeSignature(decoded, alice.signPublicKey)).toBe(true);
    expect(openEnvelope(decoded, indexKey, alice.signPublicKey)).toEqual(payload);
  });

  it("signs the documented bytes, which the relay can check with the public key alone", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    const encoded = encodeEnvelope(env);
    const body = encoded.subarray(0, encoded.length - 64);
    const signed = new Uint8Array([...utf8("weft-sig\0"), 11, ...utf8("envelope/v1"), ...body]);
    expect(sodium.crypto_sign_verify_detached(env.signature, signed, alice.signPublicKey)).toBe(
      true,
    );
    const headerBytes = body.subarray(0, 1 + 1 + 26 + 1 + 39 + 8 + 4);
    const ad = new Uint8Array([...utf8("weft-envelope"), ...headerBytes]);
    expect(
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        env.ciphertext,
        ad,
        env.nonce,
        indexKey,
      ),
    ).toEqual(payload);
  });

  it("rejects every flipped bit of the encoding (decode error or bad signature, never data)", () => {
    const encoded = encodeEnvelope(sealEnvelope(header, indexKey, alice.signSecretKey, payload));
    for (let bit = 0; bit < encoded.length * 8; bit++) {
      expectRejected(
        () => openEnvelope(decodeEnvelope(flipBit(encoded, bit)), indexKey, alice.signPublicKey),
        ["BAD_INPUT", "BAD_SIGNATURE"],
      );
    }
  });

  it("an envelope signed by A but claiming to be from B does not verify for either", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    const claimed: Envelope = { ...env, deviceId: bob.deviceId };
    expect(verifyEnvelopeSignature(claimed, alice.signPublicKey)).toBe(false);
    expect(verifyEnvelopeSignature(claimed, bob.signPublicKey)).toBe(false);
    expect(verifyEnvelopeSignature(env, bob.signPublicKey)).toBe(false);
    expectCryptoError(() => openEnvelope(claimed, indexKey, bob.signPublicKey), "BAD_SIGNATURE");
  });

  it("a ciphertext re-signed by another device verifies but does not decrypt", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    const stolen = { ...env, deviceId: bob.deviceId };
    const encoded = encodeEnvelope({ ...stolen, signature: new Uint8Array(64) });
    const signature = signDetached(
      "envelope/v1",
      encoded.subarray(0, encoded.length - 64),
      bob.signSecretKey,
    );
    const forged: Envelope = { ...stolen, signature };
    expect(verifyEnvelopeSignature(forged, bob.signPublicKey)).toBe(true);
    expectCryptoError(() => openEnvelope(forged, indexKey, bob.signPublicKey), "TAMPERED");
  });

  it("changing any header field breaks the signature", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    for (const changed of [{ deviceSeq: 42 }, { epoch: 3 }, { folderId: newFolderId() }]) {
      expect(verifyEnvelopeSignature({ ...env, ...changed }, alice.signPublicKey)).toBe(false);
    }
  });

  it("a wrong index key is TAMPERED", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    expectCryptoError(
      () => openEnvelope(env, generateFolderKey(), alice.signPublicKey),
      "TAMPERED",
    );
  });

  it("refuses to seal under another device's id", () => {
    expectCryptoError(
      () =>
        sealEnvelope({ ...header, deviceId: bob.deviceId }, indexKey, alice.signSecretKey, payload),
      "BAD_KEY",
      /does not belong/,
    );
  });

  it("malformed envelope objects verify false instead of throwing", () => {
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, payload);
    expect(verifyEnvelopeSignature({ ...env, nonce: new Uint8Array(5) }, alice.signPublicKey)).toBe(
      false,
    );
    expect(
      verifyEnvelopeSignature({ ...env, signature: new Uint8Array(3) }, alice.signPublicKey),
    ).toBe(false);
    expect(verifyEnvelopeSignature({ ...env, deviceSeq: -1 }, alice.signPublicKey)).toBe(false);
    expectCryptoError(
      () => verifyEnvelopeSignature(env, new Uint8Array(31)),
      "BAD_KEY",
      /signPublicKey/,
    );
  });
});

describe("decodeEnvelope", () => {
  it("rejects every truncation and any trailing byte", () => {
    const encoded = encodeEnvelope(sealEnvelope(header, indexKey, alice.signSecretKey, payload));
    for (let n = 0; n < encoded.length; n++) {
      expectCryptoError(() => decodeEnvelope(encoded.subarray(0, n)), "BAD_INPUT");
    }
    expectCryptoError(
      () => decodeEnvelope(new Uint8Array([...encoded, 0])),
      "BAD_INPUT",
      /trailing/,
    );
  });

  it("rejects an unknown version and an over-long ciphertext length", () => {
    const encoded = encodeEnvelope(sealEnvelope(header, indexKey, alice.signSecretKey, payload));
    expectCryptoError(
      () => decodeEnvelope(new Uint8Array([2, ...encoded.subarray(1)])),
      "BAD_INPUT",
      /version/,
    );
    const lengthAt = 1 + 1 + 26 + 1 + 39 + 12 + 24;
    const big = encoded.slice();
    new DataView(big.buffer).setUint32(lengthAt, MAX_ENVELOPE_CIPHERTEXT + 1);
    expectCryptoError(() => decodeEnvelope(big), "BAD_INPUT", /16777216/);
  });

  it("handles the maximum payload and refuses one byte more", () => {
    const max = new Uint8Array(MAX_ENVELOPE_PAYLOAD);
    const env = sealEnvelope(header, indexKey, alice.signSecretKey, max);
    expect(env.ciphertext.length).toBe(MAX_ENVELOPE_CIPHERTEXT);
    expect(
      openEnvelope(decodeEnvelope(encodeEnvelope(env)), indexKey, alice.signPublicKey).length,
    ).toBe(max.length);
    expectCryptoError(
      () =>
        sealEnvelope(
          header,
          indexKey,
          alice.signSecretKey,
          new Uint8Array(MAX_ENVELOPE_PAYLOAD + 1),
        ),
      "BAD_INPUT",
      /payload/,
    );
  });

  it("carries sequence numbers up to 2^53 - 1", () => {
    const h = { ...header, deviceSeq: Number.MAX_SAFE_INTEGER, epoch: 0xffffffff };
    const env = decodeEnvelope(
      encodeEnvelope(sealEnvelope(h, indexKey, alice.signSecretKey, payload)),
    );
    expect(env.deviceSeq).toBe(Number.MAX_SAFE_INTEGER);
    expect(env.epoch).toBe(0xffffffff);
  });
});
