// Sealed chunks: the documented layout, and nothing but the exact chunk opens.
import sodium from "libsodium-wrappers-sumo";
import { beforeAll, describe, expect, it } from "vitest";
import type { ChunkAad, ChunkId, FolderId } from "../src/index.js";
import {
  CHUNK_OVERHEAD,
  chunkIdFromSha256,
  deriveFolderSubkeys,
  generateFolderKey,
  newFolderId,
  openChunk,
  randomBytes,
  ready,
  sealChunk,
  sealedChunkEpoch,
  sha256,
} from "../src/index.js";
import { TestRandom, expectCryptoError, expectRejected, flipBit, utf8 } from "./helpers.js";

let key: Uint8Array;
let aad: ChunkAad;
const plaintext = utf8("the quick brown fox jumps over the lazy dog ".repeat(5));

beforeAll(async () => {
  await ready();
  const sub = deriveFolderSubkeys(generateFolderKey(), 3);
  key = sub.chunk;
  aad = {
    chunkId: chunkIdFromSha256(sub.chunkId, sha256(plaintext)),
    folderId: newFolderId(),
    epoch: 3,
  };
});

describe("sealChunk / openChunk", () => {
  it("round-trips empty, small and 4 MiB chunks", () => {
    for (const size of [0, 1, 1000, 4 * 1024 * 1024]) {
      const data = randomBytes(size);
      const sealed = sealChunk(key, aad, data);
      expect(sealed.length).toBe(size + CHUNK_OVERHEAD);
      expect(sodium.compare(openChunk(key, aad, sealed), data)).toBe(0);
    }
  });

  it("follows the documented layout and associated data", () => {
    const sealed = sealChunk(key, aad, plaintext);
    expect(sealed[0]).toBe(1);
    expect(new DataView(sealed.buffer).getUint32(1)).toBe(3);
    expect(sealedChunkEpoch(sealed)).toBe(3);
    const folder = utf8(aad.folderId);
    const chunk = utf8(aad.chunkId);
    const ad = new Uint8Array([
      ...utf8("weft-chunk"),
      1,
      folder.length,
      ...folder,
      chunk.length,
      ...chunk,
      0,
      0,
      0,
      3,
    ]);
    const opened = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      sealed.subarray(29),
      ad,
      sealed.subarray(5, 29),
      key,
    );
    expect(opened).toEqual(plaintext);
  });

  it("uses a fresh nonce each time", () => {
    expect(sealChunk(key, aad, plaintext).subarray(5, 29)).not.toEqual(
      sealChunk(key, aad, plaintext).subarray(5, 29),
    );
  });

  it("rejects every flipped bit of header, nonce, ciphertext and tag", () => {
    const sealed = sealChunk(key, aad, plaintext);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      expectRejected(() => openChunk(key, aad, flipBit(sealed, bit)), ["TAMPERED"]);
    }
  });

  it("rejects a wrong chunk id, folder id, epoch or key", () => {
    const sealed = sealChunk(key, aad, plaintext);
    const otherChunk = ("0".repeat(63) + "1") as ChunkId;
    expectCryptoError(() => openChunk(key, { ...aad, chunkId: otherChunk }, sealed), "TAMPERED");
    expectCryptoError(
      () => openChunk(key, { ...aad, folderId: newFolderId() }, sealed),
      "TAMPERED",
    );
    expectCryptoError(() => openChunk(key, { ...aad, epoch: 4 }, sealed), "TAMPERED", /epoch 4/);
    expectCryptoError(() => openChunk(generateFolderKey(), aad, sealed), "TAMPERED");
  });

  it("rejects truncated and extended chunks", () => {
    const sealed = sealChunk(key, aad, plaintext);
    const rnd = new TestRandom();
    for (let i = 0; i < 50; i++) {
      expectRejected(
        () => openChunk(key, aad, sealed.subarray(0, rnd.int(sealed.length))),
        ["TAMPERED"],
      );
    }
    expectRejected(() => openChunk(key, aad, new Uint8Array([...sealed, 0])), ["TAMPERED"]);
  });

  it("validates its arguments", () => {
    expectCryptoError(
      () => sealChunk(new Uint8Array(16), aad, plaintext),
      "BAD_KEY",
      /key must be 32 bytes/,
    );
    expectCryptoError(
      () => sealChunk(key, { ...aad, chunkId: "abc" as ChunkId }, plaintext),
      "BAD_INPUT",
      /chunkId/,
    );
    expectCryptoError(
      () => sealChunk(key, { ...aad, folderId: "" as FolderId }, plaintext),
      "BAD_INPUT",
      /folderId/,
    );
    expectCryptoError(() => sealChunk(key, { ...aad, epoch: -1 }, plaintext), "BAD_INPUT", /epoch/);
    expectCryptoError(
      () => sealChunk(key, { ...aad, epoch: 2 ** 32 }, plaintext),
      "BAD_INPUT",
      /epoch/,
    );
    expectCryptoError(
      () => chunkIdFromSha256(key, new Uint8Array(20)),
      "BAD_INPUT",
      /chunkSha256 must be 32 bytes/,
    );
    expectCryptoError(
      () => chunkIdFromSha256(new Uint8Array(1), sha256(plaintext)),
      "BAD_KEY",
      /chunkIdKey/,
    );
  });
});

describe("chunk ids", () => {
  it("are the same for the same content and key, different across folders", () => {
    const digest = sha256(plaintext);
    const a = deriveFolderSubkeys(generateFolderKey(), 0).chunkId;
    const b = deriveFolderSubkeys(generateFolderKey(), 0).chunkId;
    expect(chunkIdFromSha256(a, digest)).toBe(chunkIdFromSha256(a, digest));
    expect(chunkIdFromSha256(a, digest)).not.toBe(chunkIdFromSha256(b, digest));
    expect(chunkIdFromSha256(a, digest)).toMatch(/^[0-9a-f]{64}$/);
  });
});
