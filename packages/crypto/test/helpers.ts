// Shared test utilities: a seeded byte source (printed on failure) and a "must be rejected" check.
import sodium from "libsodium-wrappers-sumo";
import { expect, onTestFailed } from "vitest";
import { CryptoError } from "../src/index.js";
import type { CryptoErrorCode } from "../src/index.js";

/**
 * Deterministic test randomness from libsodium's randombytes_buf_deterministic. Set
 * WEFT_TEST_SEED=<64 hex> to replay a failure; the seed is printed when a test fails.
 */
export class TestRandom {
  readonly seed: string;
  readonly #seed: Uint8Array;
  #counter = 0;

  constructor() {
    this.seed = process.env.WEFT_TEST_SEED ?? sodium.to_hex(sodium.randombytes_buf(32));
    this.#seed = sodium.from_hex(this.seed);
    onTestFailed(() => {
      console.error(`replay with WEFT_TEST_SEED=${this.seed}`);
    });
  }

  bytes(n: number): Uint8Array {
    const counter = new Uint8Array(8);
    new DataView(counter.buffer).setUint32(0, this.#counter++);
    const stream = sodium.crypto_generichash(32, counter, this.#seed);
    return n === 0 ? new Uint8Array(0) : sodium.randombytes_buf_deterministic(n, stream);
  }

  /** An integer in [0, max). */
  int(max: number): number {
    const b = this.bytes(4);
    return new DataView(b.buffer).getUint32(0) % max;
  }
}

/** Runs `fn` and asserts it threw a CryptoError with one of `codes` (and returned nothing). */
export function expectRejected(fn: () => unknown, codes: readonly CryptoErrorCode[]): void {
  let returned: unknown;
  try {
    returned = fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    expect(codes).toContain((error as CryptoError).code);
    return;
  }
  expect.fail(`expected CryptoError ${codes.join("/")}, got a result: ${String(returned)}`);
}

/** Asserts `fn` throws a CryptoError with `code` whose message matches `message`. */
export function expectCryptoError(
  fn: () => unknown,
  code: CryptoErrorCode,
  message?: RegExp,
): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe(code);
    expect((error as CryptoError).name).toBe("CryptoError");
    if (message) expect((error as CryptoError).message).toMatch(message);
    return;
  }
  expect.fail(`expected CryptoError ${code}`);
}

/** A copy of `bytes` with bit `bit` flipped. */
export function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = bytes.slice();
  copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return copy;
}

export const hex = (s: string): Uint8Array => sodium.from_hex(s.replace(/\s+/g, ""));
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const range = (n: number, start = 0): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
