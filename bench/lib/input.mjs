// Deterministic benchmark input: the ChaCha20 keystream under a key derived from a seed. It is
// a seeded PRNG that runs at memory-ish speed in node:crypto, gives the same bytes on every
// machine, and can be produced block by block so a 512 MiB file never sits in memory at once.
import { createCipheriv, createHash } from "node:crypto";

const MiB = 1024 * 1024;

/**
 * Yields `total` pseudo-random bytes in blocks of `blockSize` (the last may be shorter).
 * Each block is a fresh Buffer.
 */
export function* seededBlocks(seed, total, blockSize = MiB) {
  const key = createHash("sha256").update(`weft-bench-input:${seed}`).digest();
  const cipher = createCipheriv("chacha20", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(blockSize);
  for (let at = 0; at < total; at += blockSize) {
    const n = Math.min(blockSize, total - at);
    yield cipher.update(n === blockSize ? zeros : zeros.subarray(0, n));
  }
}

/** The same bytes as {@link seededBlocks} for `seed`, in one buffer. */
export function seededBuffer(seed, total) {
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const block of seededBlocks(seed, total, 4 * MiB)) {
    block.copy(out, at);
    at += block.length;
  }
  return out;
}
