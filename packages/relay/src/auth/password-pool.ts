/** PasswordHasher: Argon2id hashing and verification in worker threads, so logins never block. */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ProtocolError, WeftError } from "@weft/core";
import { CryptoError, passwordNeedsRehash, ready } from "@weft/crypto";
import type { CryptoErrorCode, PasswordHashLimits } from "@weft/crypto";
import {
  PASSWORD_WORKER_SOURCE,
  type WorkerConfig,
  type WorkerReply,
  type WorkerRequest,
} from "./password-worker.js";

/** Options of {@link PasswordHasher.start}. */
export interface PasswordHasherOptions {
  /**
   * Worker threads, default 1. Each hash holds 64 MiB for about 0.3 s, so this bounds both the
   * memory and the CPU that simultaneous logins can take.
   */
  threads?: number;
  /** Jobs that may wait for a worker, default 1,000; more are refused as `unavailable`. */
  maxQueued?: number;
  /**
   * Argon2id cost of new hashes; libsodium's INTERACTIVE (2 passes, 64 MiB, what
   * `hashPassword` uses) by default. Tests pass the minimum (1 pass, 8 KiB) to run fast.
   * Hashes made with other limits than these get `needsRehash` true.
   */
  limits?: PasswordHashLimits;
}

type Job = { request: WorkerRequest; password: string } & PromiseHandlers;

interface PromiseHandlers {
  resolve: (value: string | boolean) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

const MAX_THREADS = 64;
const MAX_OPS = 32;
const MIN_MEM = 8 * 1024;
const MAX_MEM = 1024 * 1024 * 1024;
const HASH_PARAMS = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),/;
const DEFAULT_MAX_QUEUED = 1000;
const MIN_QUOTABLE = 8;
const CRYPTO_CODES: ReadonlySet<string> = new Set<CryptoErrorCode>([
  "NOT_READY",
  "TAMPERED",
  "BAD_KEY",
  "BAD_INPUT",
  "BAD_SIGNATURE",
  "WRONG_PASSWORD",
]);

/**
 * Runs @weft/crypto's `hashPassword` and `verifyPassword` (Argon2id, 0.3–0.8 s of CPU each) on
 * worker threads, so the relay's event loop keeps serving while logins are checked.
 *
 * Each worker runs one job at a time and the rest wait here, not in the worker's message
 * queue: a worker that dies then loses only the job it was running, which is rejected, and a
 * replacement worker is started. Passwords appear in no error message and nothing is logged.
 * Workers keep the process alive until {@link PasswordHasher.close}.
 */
export class PasswordHasher {
  readonly #config: WorkerConfig;
  readonly #limits: PasswordHashLimits | undefined;
  readonly #maxQueued: number;
  readonly #slots: Slot[] = [];
  readonly #workers = new Set<Worker>();
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  private constructor(config: WorkerConfig, maxQueued: number, limits?: PasswordHashLimits) {
    this.#config = config;
    this.#maxQueued = maxQueued;
    this.#limits = limits;
  }

  /**
   * Starts the workers and resolves once every one has loaded libsodium.
   * @throws WeftError INVALID_ARGUMENT on bad options; ProtocolError `internal` when a worker
   * cannot start (for example when @weft/crypto has not been built: the workers load its
   * `dist`, even under vitest, whose module aliases do not reach worker threads)
   */
  static async start(options: PasswordHasherOptions = {}): Promise<PasswordHasher> {
    const { threads = 1, maxQueued = DEFAULT_MAX_QUEUED, limits } = options;
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > MAX_THREADS) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `threads must be an integer from 1 to ${MAX_THREADS}`,
      );
    }
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 0) {
      throw new WeftError("INVALID_ARGUMENT", "maxQueued must be a non-negative integer");
    }
    if (limits !== undefined) checkLimits(limits);
    // needsRehash runs on this thread, so libsodium must be ready here too.
    await ready();
    const hasher = new PasswordHasher(workerConfig(limits), maxQueued, limits && { ...limits });
    try {
      await Promise.all(Array.from({ length: threads }, () => hasher.#spawn()));
    } catch (error) {
      await hasher.close();
      throw error;
    }
    return hasher;
  }

  /**
   * An Argon2id hash string of `password`, to store.
   * @throws CryptoError BAD_INPUT for an empty or over-long password; WeftError CLOSED after
   * {@link close}; ProtocolError `unavailable` when the queue is full, `internal` when the
   * worker died
   */
  async hash(password: string): Promise<string> {
    const value = await this.#submit({ op: "hash", password }, password);
    return value as string;
  }

  /**
   * Whether `password` matches `hash`; a wrong password gives false.
   * @throws CryptoError BAD_INPUT when `hash` is not an Argon2 hash string; otherwise as
   * {@link hash}
   */
  async verify(hash: string, password: string): Promise<boolean> {
    if (typeof hash !== "string") throw new CryptoError("BAD_INPUT", "hash must be a string");
    const value = await this.#submit({ op: "verify", hash, password }, password);
    return value as boolean;
  }

  /**
   * Whether `hash` was made with other limits than hashing uses now, so the password should be
   * re-hashed after the next successful {@link verify}. Cheap, so it runs on this thread.
   * @throws CryptoError BAD_INPUT when `hash` is not an Argon2 hash string
   */
  needsRehash(hash: string): boolean {
    // Also validates the string, throwing BAD_INPUT for one that is not an Argon2 hash.
    const stale = passwordNeedsRehash(hash);
    if (this.#limits === undefined) return stale;
    const match = HASH_PARAMS.exec(hash);
    return (
      match === null ||
      Number(match[1]) * 1024 !== this.#limits.memLimit ||
      Number(match[2]) !== this.#limits.opsLimit
    );
  }

  /** Rejects waiting and running jobs with WeftError CLOSED and stops the workers. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = (): WeftError => new WeftError("CLOSED", "password hasher is closed");
    for (const job of this.#queue.splice(0)) job.reject(closed());
    for (const slot of this.#slots.splice(0)) {
      slot.job?.reject(closed());
      slot.job = undefined;
    }
    const workers = [...this.#workers];
    this.#workers.clear();
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  #submit(
    request: { op: "hash"; password: string } | { op: "verify"; hash: string; password: string },
    password: string,
  ): Promise<string | boolean> {
    if (this.#closed) {
      return Promise.reject(new WeftError("CLOSED", "password hasher is closed"));
    }
    // Checked here because postMessage would throw on values that cannot be cloned.
    if (typeof password !== "string") {
      return Promise.reject(new CryptoError("BAD_INPUT", "password must be a string"));
    }
    if (this.#queue.length >= this.#maxQueued && this.#idleSlot() === undefined) {
      return Promise.reject(
        new ProtocolError("unavailable", "too many password checks waiting; retry later"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ request: { ...request, id: this.#nextId++ }, password, resolve, reject });
      this.#pump();
    });
  }

  #idleSlot(): Slot | undefined {
    return this.#slots.find((slot) => slot.job === undefined);
  }

  #pump(): void {
    for (let slot = this.#idleSlot(); slot && this.#queue.length > 0; slot = this.#idleSlot()) {
      const job = this.#queue.shift() as Job;
      slot.job = job;
      slot.worker.postMessage(job.request);
    }
    if (this.#workers.size === 0) {
      // Every worker died and none could be restarted: fail fast instead of waiting forever.
      for (const job of this.#queue.splice(0)) job.reject(workerGone());
    }
  }

  /** Starts one worker; resolves when it is ready, rejects if it fails before that. */
  #spawn(): Promise<void> {
    const worker = new Worker(PASSWORD_WORKER_SOURCE, {
      eval: true,
      workerData: this.#config,
      name: "weft-password-hasher",
    });
    this.#workers.add(worker);
    return new Promise((resolve, reject) => {
      let slot: Slot | undefined;
      let failure: string | undefined;
      worker.on("message", (reply: WorkerReply) => {
        if (reply.type === "ready") {
          slot = { worker, job: undefined };
          this.#slots.push(slot);
          resolve();
          this.#pump();
        } else if (reply.type === "failed") {
          failure = reply.message;
          void worker.terminate();
        } else if (slot?.job?.request.id === reply.id) {
          const job = slot.job;
          slot.job = undefined;
          if (reply.ok) job.resolve(reply.value);
          else job.reject(jobError(reply.code, reply.message, job.password));
          this.#pump();
        }
      });
      // Without an "error" listener an exception in the worker would crash the relay; the
      // "exit" that always follows does the cleanup.
      worker.on("error", (error) => {
        failure ??= error.message;
      });
      worker.on("messageerror", () => void worker.terminate());
      worker.on("exit", () => {
        this.#workers.delete(worker);
        if (slot === undefined) {
          reject(
            new ProtocolError(
              "internal",
              `password worker failed to start: ${failure ?? "exited"}`,
            ),
          );
          return;
        }
        const index = this.#slots.indexOf(slot);
        if (index >= 0) this.#slots.splice(index, 1);
        slot.job?.reject(workerGone());
        slot.job = undefined;
        if (this.#closed) return;
        // Replace a worker that died while running; if even that fails, #pump fails the queue.
        this.#spawn().then(
          () => this.#pump(),
          () => this.#pump(),
        );
      });
    });
  }
}

function workerConfig(limits: PasswordHashLimits | undefined): WorkerConfig {
  // Resolved here because eval'd worker code would resolve bare specifiers from the working
  // directory. Node resolves, not vitest: under vitest this is still the built package.
  const cryptoUrl = import.meta.resolve("@weft/crypto");
  if (limits === undefined) return { cryptoUrl };
  // libsodium as @weft/crypto itself resolves it, since the relay does not depend on it.
  const sodiumPath = createRequire(cryptoUrl).resolve("libsodium-wrappers-sumo");
  return { cryptoUrl, custom: { sodiumUrl: pathToFileURL(sodiumPath).href, ...limits } };
}

function checkLimits(limits: PasswordHashLimits): void {
  const { opsLimit, memLimit } = limits;
  if (!Number.isSafeInteger(opsLimit) || opsLimit < 1 || opsLimit > MAX_OPS) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `limits.opsLimit must be an integer from 1 to ${MAX_OPS}`,
    );
  }
  if (
    !Number.isSafeInteger(memLimit) ||
    memLimit < MIN_MEM ||
    memLimit > MAX_MEM ||
    memLimit % 1024 !== 0
  ) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      "limits.memLimit must be a multiple of 1024 from 8 KiB to 1 GiB",
    );
  }
}

function workerGone(): ProtocolError {
  return new ProtocolError("internal", "the password worker stopped before finishing");
}

function jobError(code: string | undefined, message: string, password: string): Error {
  // Defence in depth: crypto's messages never quote the password, but this is the one place
  // where a change there could leak it into logs. Short strings are exempt because they turn
  // up in any English message by coincidence ("pass" in "password").
  const leaks = password.length >= MIN_QUOTABLE && message.includes(password);
  const safe = leaks ? "the password input was refused" : message;
  if (code !== undefined && CRYPTO_CODES.has(code)) {
    return new CryptoError(code as CryptoErrorCode, safe);
  }
  return new ProtocolError("internal", safe);
}
