// Before ready() resolves, every entry point refuses with NOT_READY rather than misbehaving.
import { describe, expect, it } from "vitest";
import type { DeviceId, FolderId } from "../src/index.js";
import * as weft from "../src/index.js";
import { expectCryptoError } from "./helpers.js";

describe("before ready()", () => {
  it("every function throws CryptoError NOT_READY", () => {
    const key = new Uint8Array(32);
    const calls: Array<[string, () => unknown]> = [
      ["sha256", () => weft.sha256(new Uint8Array(1))],
      ["createSha256", () => weft.createSha256()],
      ["randomBytes", () => weft.randomBytes(8)],
      ["toHex", () => weft.toHex(new Uint8Array(1))],
      ["fromBase64Url", () => weft.fromBase64Url("AA")],
      ["generateDeviceIdentity", () => weft.generateDeviceIdentity()],
      ["parseDeviceId", () => weft.parseDeviceId("AAAA")],
      ["shortDeviceId", () => weft.shortDeviceId("AAAA" as DeviceId)],
      ["newFolderId", () => weft.newFolderId()],
      ["deriveFolderSubkeys", () => weft.deriveFolderSubkeys(key, 0)],
      ["FolderKeyring", () => new weft.FolderKeyring("f" as FolderId)],
      ["xchachaSeal", () => weft.xchachaSeal(key, new Uint8Array(24), key, key)],
      ["aeadImplementation", () => weft.aeadImplementation()],
      ["generateInviteSecret", () => weft.generateInviteSecret()],
      ["hashPassword", () => weft.hashPassword("pw")],
      ["constantTimeEqual", () => weft.constantTimeEqual(key, key)],
    ];
    const codeOf = (call: () => unknown): string => {
      try {
        call();
        return "returned";
      } catch (error) {
        return error instanceof weft.CryptoError ? error.code : String(error);
      }
    };
    const actual = Object.fromEntries(calls.map(([name, call]) => [name, codeOf(call)]));
    const expected = Object.fromEntries(calls.map(([name]) => [name, "NOT_READY"]));
    expect(actual).toEqual(expected);
    expectCryptoError(() => weft.sha256(new Uint8Array(0)), "NOT_READY", /await ready\(\)/);
  });

  it("ready() is idempotent and unlocks the package", async () => {
    const first = weft.ready();
    expect(weft.ready()).toBe(first);
    await first;
    await weft.ready();
    expect(weft.toHex(weft.sha256(new TextEncoder().encode("abc")))).toMatch(/^ba7816bf/);
  });
});
