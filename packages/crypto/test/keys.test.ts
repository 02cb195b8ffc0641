// Folder ids, folder keys, subkeys and the per-folder keyring.
import { beforeAll, describe, expect, it } from "vitest";
import {
  FolderKeyring,
  deriveEpochLinkKeys,
  deriveFolderSubkeys,
  generateFolderKey,
  isFolderId,
  newFolderId,
  ready,
} from "../src/index.js";
import { expectCryptoError } from "./helpers.js";

beforeAll(async () => {
  await ready();
});

describe("rotation subkeys", () => {
  it("link and check are fixed per key and epoch, and unrelated to the other subkeys", () => {
    const key = generateFolderKey();
    const a = deriveEpochLinkKeys(key, 3);
    expect(deriveEpochLinkKeys(key, 3)).toEqual(a);
    expect(a.link.length).toBe(32);
    expect(a.check.length).toBe(32);
    const sub = deriveFolderSubkeys(key, 3);
    const next = deriveEpochLinkKeys(key, 4);
    const other = deriveEpochLinkKeys(generateFolderKey(), 3);
    const all = [
      a.link,
      a.check,
      sub.chunk,
      sub.chunkId,
      sub.index,
      sub.names,
      next.link,
      next.check,
      other.link,
      other.check,
    ].map((k) => Buffer.from(k).toString("hex"));
    expect(new Set(all).size).toBe(all.length);
    expectCryptoError(() => deriveEpochLinkKeys(new Uint8Array(31), 0), "BAD_KEY");
    expectCryptoError(() => deriveEpochLinkKeys(key, -1), "BAD_INPUT");
  });
});

describe("folder ids and keys", () => {
  it("folder ids are 26 lower-case base32 characters, all different", () => {
    const ids = new Set(Array.from({ length: 100 }, () => newFolderId()));
    expect(ids.size).toBe(100);
    for (const id of ids) {
      expect(id).toMatch(/^[a-z2-7]{26}$/);
      expect(isFolderId(id)).toBe(true);
    }
    expect(isFolderId("aaaaaaaaaaaaaaaaaaaaaaaaab")).toBe(false); // non-zero trailing bits
    expect(isFolderId("AAAAAAAAAAAAAAAAAAAAAAAAAA")).toBe(false);
  });

  it("folder keys are 32 random bytes", () => {
    expect(generateFolderKey().length).toBe(32);
    expect(generateFolderKey()).not.toEqual(generateFolderKey());
  });

  it("subkeys are distinct per purpose and per epoch", () => {
    const key = generateFolderKey();
    const a = deriveFolderSubkeys(key, 0);
    const b = deriveFolderSubkeys(key, 1);
    const all = [a.chunk, a.chunkId, a.index, a.names, b.chunk, b.chunkId, b.index, b.names].map(
      (k) => Buffer.from(k).toString("hex"),
    );
    expect(new Set(all).size).toBe(8);
    expect(deriveFolderSubkeys(key, 0)).toEqual(a);
  });

  it("rejects a wrong key length or epoch", () => {
    expectCryptoError(
      () => deriveFolderSubkeys(new Uint8Array(16), 0),
      "BAD_KEY",
      /folderKey must be 32 bytes, got 16/,
    );
    expectCryptoError(() => deriveFolderSubkeys(generateFolderKey(), 1.5), "BAD_INPUT", /epoch/);
    expectCryptoError(
      () => deriveFolderSubkeys(generateFolderKey(), 2 ** 32),
      "BAD_INPUT",
      /epoch/,
    );
  });
});

describe("FolderKeyring", () => {
  it("tracks epochs and hands out subkeys", () => {
    const ring = new FolderKeyring(newFolderId());
    expectCryptoError(() => ring.latestEpoch, "BAD_KEY");
    const k0 = generateFolderKey();
    const k2 = generateFolderKey();
    ring.add(2, k2);
    ring.add(0, k0);
    ring.add(0, k0.slice()); // the same key again is fine
    expect(ring.latestEpoch).toBe(2);
    expect(ring.epochs).toEqual([0, 2]);
    expect(ring.subkeys(0)).toEqual(deriveFolderSubkeys(k0, 0));
    expect(ring.subkeys(2)).toEqual(deriveFolderSubkeys(k2, 2));
    expect(ring.folderKey(2)).toEqual(k2);
    expectCryptoError(() => ring.subkeys(1), "BAD_KEY", /no key for epoch 1/);
  });

  it("keeps its own copies, refuses a different key for a known epoch, and clears", () => {
    const ring = new FolderKeyring(newFolderId());
    const key = generateFolderKey();
    const original = key.slice();
    ring.add(0, key);
    key.fill(0);
    ring.subkeys(0).chunk.fill(0);
    expect(ring.folderKey(0)).toEqual(original);
    expect(ring.subkeys(0)).toEqual(deriveFolderSubkeys(original, 0));
    expectCryptoError(() => ring.add(0, generateFolderKey()), "BAD_KEY", /different key/);
    ring.clear();
    expect(ring.has(0)).toBe(false);
    expectCryptoError(() => ring.subkeys(0), "BAD_KEY");
  });
});
