import type * as NodeCryptoNamespace from "node:crypto";
import sodiumModule from "libsodium-wrappers-sumo";
import { CryptoError } from "./errors.js";

/** The libsodium API object, as the rest of the package sees it. */
export type Sodium = typeof sodiumModule;

/** The node:crypto module type; the module itself is only loaded, optionally, by ready(). */
export type NodeCrypto = typeof NodeCryptoNamespace;

// libsodium itself is a process-wide singleton that needs one async init, so readiness is
// module state too. Nothing here reads configuration or the environment: `ready()` only
// initialises and probes.
let initialised = false;
let pending: Promise<void> | undefined;
let nodeCrypto: NodeCrypto | undefined;
let nodeAead = false;

/**
 * Initialises libsodium and detects the node:crypto fast path. Await it once before calling
 * anything else in this package; calling it again is cheap and returns the same promise.
 *
 * node:crypto is loaded by dynamic import inside a try/catch so the package still works where it
 * does not exist (browsers, some edge runtimes): there, libsodium serves every primitive.
 */
export function ready(): Promise<void> {
  pending ??= init().catch((error: unknown) => {
    // Let a later call retry instead of caching a failure forever.
    pending = undefined;
    throw error;
  });
  return pending;
}

async function init(): Promise<void> {
  await sodiumModule.ready;
  let loaded: NodeCrypto | undefined;
  try {
    loaded = await import("node:crypto");
  } catch {
    // Absence of node:crypto is the expected case outside Node, not an error.
    loaded = undefined;
  }
  nodeCrypto = usableNodeCrypto(loaded);
  nodeAead = nodeCrypto !== undefined && nodeAeadMatchesSodium(nodeCrypto);
  initialised = true;
}

/** libsodium, or CryptoError NOT_READY if {@link ready} has not resolved yet. */
export function sodium(): Sodium {
  if (!initialised) {
    throw new CryptoError("NOT_READY", "@weft/crypto: await ready() before using it");
  }
  return sodiumModule;
}

/** node:crypto when it was found by {@link ready}; undefined otherwise. */
export function nodeCryptoModule(): NodeCrypto | undefined {
  sodium();
  return nodeCrypto;
}

/** Whether the node:crypto XChaCha20-Poly1305 path passed its self-test. */
export function nodeAeadAvailable(): boolean {
  sodium();
  return nodeAead;
}

/**
 * `loaded` if it is node:crypto, else undefined. A browser bundler answers `import("node:crypto")`
 * with an empty stand-in (Vite: `{}`, or in dev a Proxy that throws on every read), which must
 * count as absent, or hashing and random bytes would call functions that are not there.
 */
function usableNodeCrypto(loaded: unknown): NodeCrypto | undefined {
  try {
    const nc = loaded as Partial<NodeCrypto> | undefined;
    if (
      typeof nc?.createHash === "function" &&
      typeof nc.randomFillSync === "function" &&
      typeof nc.createCipheriv === "function" &&
      typeof nc.getCiphers === "function"
    )
      return nc as NodeCrypto;
  } catch {
    // A stand-in that throws on access.
  }
  return undefined;
}

// One fixed encryption through both paths at start-up: an OpenSSL build without
// chacha20-poly1305, or one that disagrees with libsodium, silently falls back to libsodium.
function nodeAeadMatchesSodium(nc: NodeCrypto): boolean {
  try {
    if (!nc.getCiphers().includes("chacha20-poly1305")) return false;
    const key = new Uint8Array(32).map((_, i) => i + 1);
    const nonce = new Uint8Array(24).map((_, i) => 0x40 + i);
    const aad = new Uint8Array([1, 2, 3]);
    const plaintext = new Uint8Array(100).map((_, i) => i * 7);
    const expected = sodiumModule.crypto_aead_xchacha20poly1305_ietf_encrypt(
      plaintext,
      aad,
      null,
      nonce,
      key,
    );
    const subkey = sodiumModule.crypto_core_hchacha20(nonce.subarray(0, 16), key, null);
    const iv = new Uint8Array(12);
    iv.set(nonce.subarray(16, 24), 4);
    const cipher = nc.createCipheriv("chacha20-poly1305", subkey, iv, { authTagLength: 16 });
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const actual = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return sodiumModule.compare(new Uint8Array(actual), expected) === 0;
  } catch {
    return false;
  }
}
