// Sealed chunks are padded to a Padmé length, so a relay that stores them learns a size bucket,
// not a file's size; the opener gives back the exact bytes; and chunks sealed before padding
// (stored on relays and devices by older versions) still open.
import {
  CHUNK_OVERHEAD,
  FolderKeyring,
  chunkIdFromSha256,
  generateFolderKey,
  newFolderId,
  randomBytes,
  ready,
  sealChunk,
  sha256,
} from "@weft/crypto";
import { deflateSync } from "fflate";
import { beforeAll, describe, expect, it } from "vitest";
import { ChunkKeys, openChunkData, sealChunkData } from "../src/replica/chunk-codec.js";

let keys: ChunkKeys;

beforeAll(async () => {
  await ready();
  const folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  keys = new ChunkKeys(folderId, keyring);
});

const idOf = (data: Uint8Array) => chunkIdFromSha256(keys.subkeys(0).chunkId, sha256(data));

// Buffer's compare, not toEqual: vitest compares typed arrays element by element, slowly.
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** Padmé as the paper writes it (bit masks), apart from the codec's own. */
function padme(length: number): number {
  const e = 31 - Math.clz32(length);
  const s = 32 - Math.clz32(e);
  const mask = (1 << (e - s)) - 1;
  return (length + mask) & ~mask;
}

describe("padded chunks", () => {
  it("seal to the Padmé length of the unpadded size and open to the exact bytes", () => {
    const lengths = [0, 1, 2, 63, 64, 100, 511, 512, 1000, 4095, 4096, 4097, 65_537, 100_001];
    for (let n = 3; n < 300_000; n = Math.ceil(n * 1.37)) lengths.push(n);
    for (const length of lengths) {
      const data = randomBytes(length); // incompressible: the body is the data as it is
      const id = idOf(data);
      const sealed = sealChunkData(keys, id, data);
      // version, epoch, nonce, tag (45) + format and body length (5) + the data, then padded.
      expect(sealed.length, `${length} bytes`).toBe(padme(CHUNK_OVERHEAD + 5 + length));
      expect(same(openChunkData(keys, id, sealed, length), data), `${length} bytes`).toBe(true);
    }
    // Worked example, by hand: 100,001 + 50 = 100,051 → E = 16, S = 5, a step of 2^11 → 100,352.
    expect(padme(100_051)).toBe(100_352);
  });

  it("compressed chunks are padded too, and open", () => {
    const text = new TextEncoder().encode(
      "a line of a text file that compresses well\n".repeat(3000),
    );
    const id = idOf(text);
    const sealed = sealChunkData(keys, id, text);
    expect(sealed.length).toBeLessThan(text.length / 4); // compressed
    expect(padme(sealed.length)).toBe(sealed.length); // and a Padmé length
    expect(same(openChunkData(keys, id, sealed, text.length), text)).toBe(true);
  });

  it("chunks sealed before padding (raw and deflated, unpadded) still open", () => {
    const data = new TextEncoder().encode("written by an older version ".repeat(100));
    const id = idOf(data);
    const sealOld = (format: number, body: Uint8Array) => {
      const plain = new Uint8Array(1 + body.length);
      plain[0] = format;
      plain.set(body, 1);
      return sealChunk(
        keys.subkeys(0).chunk,
        { chunkId: id, folderId: keys.folderId, epoch: 0 },
        plain,
      );
    };
    const raw = sealOld(0, data);
    const deflated = sealOld(1, deflateSync(data, { level: 1 }));
    expect(raw.length).toBe(CHUNK_OVERHEAD + 1 + data.length);
    expect(same(openChunkData(keys, id, raw, data.length), data)).toBe(true);
    expect(same(openChunkData(keys, id, deflated, data.length), data)).toBe(true);
  });
});
