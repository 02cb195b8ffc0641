// A browser bundler answers import("node:crypto") with an empty stand-in module instead of
// failing (Vite: `{}`); @weft/crypto must then run on libsodium alone, as where it is missing.
import { describe, expect, it, vi } from "vitest";
import { aeadImplementation, randomBytes, ready, sha256, toHex } from "../src/index.js";
import { utf8 } from "./helpers.js";

vi.mock("node:crypto", () => ({ default: {} }));

describe("with a bundler's empty stand-in for node:crypto", () => {
  it("hashes, draws random bytes and seals on libsodium", async () => {
    await ready();
    expect(aeadImplementation()).toBe("sodium");
    expect(toHex(sha256(utf8("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(randomBytes(32)).not.toEqual(randomBytes(32));
  });
});
