// The node:crypto fast path and libsodium agree byte for byte, and bad arguments are named.
import sodium from "libsodium-wrappers-sumo";
import { beforeAll, describe, expect, it } from "vitest";
import { aeadImplementation, ready, xchachaOpen, xchachaSeal } from "../src/index.js";
import { TestRandom, expectCryptoError, expectRejected, flipBit } from "./helpers.js";

beforeAll(async () => {
  await ready();
});

describe("XChaCha20-Poly1305 node and sodium paths", () => {
  it("uses node:crypto in Node", () => {
    expect(aeadImplementation()).toBe("node");
  });

  it("give identical bytes and open each other's output on 200 random inputs", () => {
    const rnd = new TestRandom();
    for (let i = 0; i < 200; i++) {
      const key = rnd.bytes(32);
      const nonce = rnd.bytes(24);
      const aad = rnd.bytes(rnd.int(64));
      const plaintext = rnd.bytes(rnd.int(70_001));
      const viaNode = xchachaSeal(key, nonce, plaintext, aad, "node");
      const viaSodium = xchachaSeal(key, nonce, plaintext, aad, "sodium");
      const reference = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext,
        aad,
        null,
        nonce,
        key,
      );
      expect(viaNode.length).toBe(plaintext.length + 16);
      expect(sodium.compare(viaNode, viaSodium), `case ${i}`).toBe(0);
      expect(sodium.compare(viaNode, reference), `case ${i}`).toBe(0);
      expect(sodium.compare(xchachaOpen(key, nonce, viaNode, aad, "sodium"), plaintext)).toBe(0);
      expect(sodium.compare(xchachaOpen(key, nonce, viaSodium, aad, "node"), plaintext)).toBe(0);
    }
  });

  it("works on subarray views, not only whole buffers", () => {
    const backing = new Uint8Array(200).map((_, i) => i);
    const key = backing.subarray(3, 35);
    const nonce = backing.subarray(40, 64);
    const plaintext = backing.subarray(70, 170);
    const aad = backing.subarray(171, 180);
    const sealed = xchachaSeal(key, nonce, plaintext, aad, "node");
    expect(sealed).toEqual(
      xchachaSeal(key.slice(), nonce.slice(), plaintext.slice(), aad.slice(), "sodium"),
    );
    expect(xchachaOpen(key, nonce, sealed, aad)).toEqual(plaintext.slice());
  });

  it.each(["node", "sodium"] as const)(
    "%s path rejects every flipped bit, wrong key, nonce or aad",
    (impl) => {
      const key = new Uint8Array(32).fill(1);
      const nonce = new Uint8Array(24).fill(2);
      const aad = new Uint8Array([9, 9]);
      const sealed = xchachaSeal(key, nonce, new Uint8Array(40).fill(3), aad, impl);
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        expectRejected(
          () => xchachaOpen(key, nonce, flipBit(sealed, bit), aad, impl),
          ["TAMPERED"],
        );
      }
      expectRejected(() => xchachaOpen(flipBit(key, 0), nonce, sealed, aad, impl), ["TAMPERED"]);
      expectRejected(() => xchachaOpen(key, flipBit(nonce, 191), sealed, aad, impl), ["TAMPERED"]);
      expectRejected(
        () => xchachaOpen(key, nonce, sealed, new Uint8Array([9]), impl),
        ["TAMPERED"],
      );
      expectRejected(
        () => xchachaOpen(key, nonce, sealed.subarray(0, 15), aad, impl),
        ["TAMPERED"],
      );
      expectRejected(() => xchachaOpen(key, nonce, sealed.subarray(1), aad, impl), ["TAMPERED"]);
    },
  );

  it("names the bad argument and the expected length", () => {
    const ok32 = new Uint8Array(32);
    const ok24 = new Uint8Array(24);
    const none = new Uint8Array(0);
    expectCryptoError(
      () => xchachaSeal(new Uint8Array(31), ok24, none, none),
      "BAD_KEY",
      /key must be 32 bytes, got 31/,
    );
    expectCryptoError(
      () => xchachaSeal(ok32, new Uint8Array(12), none, none),
      "BAD_INPUT",
      /nonce must be 24 bytes, got 12/,
    );
    expectCryptoError(
      () => xchachaSeal(ok32, ok24, "text" as unknown as Uint8Array, none),
      "BAD_INPUT",
      /plaintext must be a Uint8Array/,
    );
    expectCryptoError(
      () => xchachaSeal(ok32, ok24, none, none, "wasm" as unknown as "node"),
      "BAD_INPUT",
      /impl must be/,
    );
  });
});
