// Where node:crypto is missing (browsers, edge runtimes) libsodium serves every primitive alone.
import { describe, expect, it, vi } from "vitest";
import {
  aeadImplementation,
  createSha256,
  randomBytes,
  ready,
  sha256,
  toHex,
  xchachaOpen,
  xchachaSeal,
} from "../src/index.js";
import { expectCryptoError, hex, utf8 } from "./helpers.js";

vi.mock("node:crypto", () => {
  throw new Error("node:crypto is not available here");
});

describe("without node:crypto", () => {
  it("ready() still succeeds and the AEAD runs on libsodium", async () => {
    await ready();
    expect(aeadImplementation()).toBe("sodium");
    expectCryptoError(
      () =>
        xchachaSeal(
          new Uint8Array(32),
          new Uint8Array(24),
          new Uint8Array(0),
          new Uint8Array(0),
          "node",
        ),
      "BAD_INPUT",
      /not available/,
    );
  });

  it("SHA-256 falls back to crypto_hash_sha256, one-shot and incremental", async () => {
    await ready();
    expect(toHex(sha256(utf8("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    const h = createSha256();
    h.update(utf8("a"));
    h.update(utf8("bc"));
    expect(toHex(h.digest())).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expectCryptoError(() => h.update(utf8("d")), "BAD_INPUT", /after digest/);
  });

  it("XChaCha20-Poly1305 round-trips on libsodium", async () => {
    await ready();
    const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    const nonce = hex("404142434445464748494a4b4c4d4e4f5051525354555657");
    const sealed = xchachaSeal(key, nonce, utf8("hi"), new Uint8Array(0));
    expect(xchachaOpen(key, nonce, sealed, new Uint8Array(0))).toEqual(utf8("hi"));
  });
});

describe("randomBytes without node:crypto", () => {
  it("comes from libsodium's randombytes_buf", async () => {
    await ready();
    const a = randomBytes(32);
    expect(a.length).toBe(32);
    expect(a).not.toEqual(randomBytes(32));
  });
});
