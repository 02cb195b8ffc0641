// Hex and base64url helpers: strict decoding, never echoing the input.
import { beforeAll, describe, expect, it } from "vitest";
import { fromBase64Url, fromHex, randomBytes, ready, toBase64Url, toHex } from "../src/index.js";
import { expectCryptoError, utf8 } from "./helpers.js";

beforeAll(async () => {
  await ready();
});

describe("hex", () => {
  it("encodes lower case and decodes either case", () => {
    expect(toHex(new Uint8Array([0, 15, 171, 255]))).toBe("000fabff");
    expect(fromHex("000FabfF")).toEqual(new Uint8Array([0, 15, 171, 255]));
    expect(fromHex("")).toEqual(new Uint8Array(0));
  });

  it("rejects garbage with BAD_INPUT and does not echo it", () => {
    for (const bad of ["abc", "zz", "ab cd", "0x00"])
      expectCryptoError(() => fromHex(bad), "BAD_INPUT");
    try {
      fromHex("deadbeefzz");
    } catch (error) {
      expect(String(error)).not.toContain("deadbeef");
    }
  });
});

describe("base64url", () => {
  it("matches RFC 4648 §10 (unpadded, URL alphabet)", () => {
    const vectors: Array<[string, string]> = [
      ["", ""],
      ["f", "Zg"],
      ["fo", "Zm8"],
      ["foo", "Zm9v"],
      ["foob", "Zm9vYg"],
      ["fooba", "Zm9vYmE"],
      ["foobar", "Zm9vYmFy"],
    ];
    for (const [text, encoded] of vectors) {
      expect(toBase64Url(utf8(text))).toBe(encoded);
      expect(fromBase64Url(encoded)).toEqual(utf8(text));
    }
    expect(toBase64Url(new Uint8Array([0xfb, 0xff]))).toBe("-_8");
  });

  it("round-trips random bytes", () => {
    for (let n = 0; n < 70; n++) {
      const bytes = randomBytes(n);
      expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
    }
  });

  it("rejects padding, the standard alphabet, whitespace and non-canonical forms", () => {
    for (const bad of ["Zg==", "+/8", "Zm 9v", "Zh", "A"])
      expectCryptoError(() => fromBase64Url(bad), "BAD_INPUT");
  });
});
