/** The password worker's source and messages: Argon2id from @weft/crypto, off the main thread. */

/** A job sent to a password worker. */
export type WorkerRequest =
  | { id: number; op: "hash"; password: string }
  | { id: number; op: "verify"; hash: string; password: string };

/** A message from a password worker. Errors carry a CryptoError code, never the password. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "done"; id: number; ok: true; value: string | boolean }
  | { type: "done"; id: number; ok: false; code: string | undefined; message: string };

/** What the worker gets as `workerData`. */
export interface WorkerConfig {
  /** The file URL of the built @weft/crypto entry point. */
  cryptoUrl: string;
  /** Only with custom limits: libsodium, as @weft/crypto resolves it, and the limits. */
  custom?: { sodiumUrl: string; opsLimit: number; memLimit: number };
}

/**
 * The worker, as plain JavaScript run with `new Worker(source, { eval: true })`.
 *
 * Inline rather than a file next to this one because tsc does not copy a `.mjs` file to
 * `dist`, and a `.ts` worker cannot be loaded by Node 20 from `src` under vitest: a string
 * works in both. Node runs eval'd worker code as CommonJS or as an ES module depending on the
 * `package.json` nearest the process's working directory, so this uses only syntax valid in
 * both (no `require`, no static `import`, no top-level `await`). @weft/crypto is loaded from
 * an absolute URL the parent resolved, because a bare specifier in eval'd code would resolve
 * from the working directory.
 *
 * `hashPassword` has no limits parameter (it always uses libsodium's INTERACTIVE limits), so
 * custom limits hash with libsodium's `crypto_pwhash_str` directly, after the same checks and
 * NFC normalisation as `hashPassword`; verification always goes through `verifyPassword`, which
 * reads the limits from the hash string.
 */
export const PASSWORD_WORKER_SOURCE = `(async () => {
  const { parentPort, workerData } = await import("node:worker_threads");
  const custom = workerData.custom;
  let crypto;
  let sodium;
  const hash = (password) => {
    if (!custom) return crypto.hashPassword(password);
    if (typeof password !== "string" || password.length > 4096) {
      throw new crypto.CryptoError("BAD_INPUT", "password must be a string of at most 4096 characters");
    }
    const normalised = password.normalize("NFC");
    if (normalised.length === 0) {
      throw new crypto.CryptoError("BAD_INPUT", "password must not be empty");
    }
    return sodium.crypto_pwhash_str(normalised, custom.opsLimit, custom.memLimit);
  };
  try {
    crypto = await import(workerData.cryptoUrl);
    await crypto.ready();
    if (custom) {
      sodium = (await import(custom.sodiumUrl)).default;
      await sodium.ready;
    }
  } catch (error) {
    parentPort.postMessage({ type: "failed", message: String(error && error.message) });
    return;
  }
  parentPort.on("message", (job) => {
    try {
      const value =
        job.op === "hash"
          ? hash(job.password)
          : crypto.verifyPassword(job.hash, job.password);
      parentPort.postMessage({ type: "done", id: job.id, ok: true, value });
    } catch (error) {
      // Only a CryptoError's code and message cross back: its messages are written never to
      // contain the password; anything else is reported without its text.
      const known = error instanceof crypto.CryptoError;
      parentPort.postMessage({
        type: "done",
        id: job.id,
        ok: false,
        code: known ? error.code : undefined,
        message: known ? error.message : "password hashing failed",
      });
    }
  });
  parentPort.postMessage({ type: "ready" });
})();
`;
