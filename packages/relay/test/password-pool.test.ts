// PasswordHasher: Argon2id on worker threads (which load the built @weft/crypto dist).
import type * as WorkerThreads from "node:worker_threads";
import { ProtocolError, WeftError } from "@weft/core";
import { CryptoError } from "@weft/crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PasswordHasher } from "../src/auth/index.js";

// Every worker the hasher starts, so a test can kill one mid-job; `missingCrypto` makes new
// workers look for @weft/crypto where it is not, as when it was never built.
const spawned = vi.hoisted((): WorkerThreads.Worker[] => []);
const exits = vi.hoisted((): Promise<unknown>[] => []);
const sabotage = vi.hoisted(() => ({ missingCrypto: false }));
vi.mock("node:worker_threads", async (importOriginal) => {
  const original = await importOriginal<typeof WorkerThreads>();
  class TrackedWorker extends original.Worker {
    constructor(...[source, options]: ConstructorParameters<typeof original.Worker>) {
      const workerData: unknown = sabotage.missingCrypto
        ? { cryptoUrl: new URL("./no-such-dir/index.js", import.meta.url).href }
        : options?.workerData;
      super(source, { ...options, workerData });
      spawned.push(this);
      exits.push(new Promise((resolve) => this.once("exit", resolve)));
    }
  }
  return { ...original, Worker: TrackedWorker };
});

// The cheapest limits libsodium allows, so the suite does not spend seconds in Argon2id.
const FAST = { opsLimit: 1, memLimit: 8 * 1024 };
const PASSWORD = "correct horse battery staple \u00e9";

const open: PasswordHasher[] = [];
async function start(options: Parameters<typeof PasswordHasher.start>[0]): Promise<PasswordHasher> {
  const hasher = await PasswordHasher.start(options);
  open.push(hasher);
  return hasher;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((hasher) => hasher.close()));
  spawned.length = 0;
  exits.length = 0;
  sabotage.missingCrypto = false;
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error("expected a rejection");
}

describe("PasswordHasher", () => {
  it("hashes and verifies the right password only", async () => {
    const hasher = await start({ limits: FAST });
    const hash = await hasher.hash(PASSWORD);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=8,t=1,p=1\$/);
    expect(await hasher.verify(hash, PASSWORD)).toBe(true);
    // NFC normalisation, as @weft/crypto's hashPassword does it.
    expect(await hasher.verify(hash, PASSWORD.normalize("NFD"))).toBe(true);
    expect(await hasher.verify(hash, `${PASSWORD}!`)).toBe(false);
    expect(await hasher.verify(hash, "x".repeat(5000))).toBe(false);
  });

  it("uses @weft/crypto's default limits without options", async () => {
    const hasher = await start({});
    const hash = await hasher.hash(PASSWORD);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    expect(await hasher.verify(hash, PASSWORD)).toBe(true);
    expect(hasher.needsRehash(hash)).toBe(false);
  });

  it("salts: two hashes of one password differ", async () => {
    const hasher = await start({ limits: FAST });
    const [a, b] = await Promise.all([hasher.hash(PASSWORD), hasher.hash(PASSWORD)]);
    expect(a).not.toBe(b);
  });

  it("completes parallel jobs, more than there are workers", async () => {
    const hasher = await start({ threads: 2, limits: FAST });
    const passwords = ["one", "two", "three", "four"];
    const hashes = await Promise.all(passwords.map((p) => hasher.hash(p)));
    expect(new Set(hashes).size).toBe(4);
    const checks = await Promise.all(hashes.map((h, i) => hasher.verify(h, passwords[i] ?? "")));
    expect(checks).toEqual([true, true, true, true]);
    expect(await hasher.verify(hashes[0] ?? "", "two")).toBe(false);
  });

  it("says when a hash was made with other limits", async () => {
    const hasher = await start({ limits: FAST });
    const hash = await hasher.hash(PASSWORD);
    expect(hasher.needsRehash(hash)).toBe(false);
    const stronger = await start({ limits: { opsLimit: 2, memLimit: 16 * 1024 } });
    expect(stronger.needsRehash(hash)).toBe(true);
    // Verification reads the limits from the hash, so it still works across settings.
    expect(await stronger.verify(hash, PASSWORD)).toBe(true);
    expect(() => hasher.needsRehash("plaintext")).toThrow(CryptoError);
  });

  it("rejects bad input as CryptoError BAD_INPUT without quoting the password", async () => {
    const hasher = await start({ limits: FAST });
    const empty = await rejection(hasher.hash(""));
    expect(empty).toBeInstanceOf(CryptoError);
    expect((empty as CryptoError).code).toBe("BAD_INPUT");
    const long = "secret-".repeat(700);
    const tooLong = await rejection(hasher.hash(long));
    expect((tooLong as CryptoError).code).toBe("BAD_INPUT");
    expect(tooLong.message).not.toContain(long);
    const badHash = await rejection(hasher.verify("not-a-hash", PASSWORD));
    expect((badHash as CryptoError).code).toBe("BAD_INPUT");
    expect(badHash.message).not.toContain(PASSWORD);
    expect(String(badHash.stack)).not.toContain(PASSWORD);
    const notString = await rejection(hasher.hash(42 as unknown as string));
    expect((notString as CryptoError).code).toBe("BAD_INPUT");
  });

  it("rejects the job of a worker that dies, and keeps serving with a new worker", async () => {
    // Default limits: the job runs for a few hundred milliseconds, so it is surely still
    // running when its worker is killed.
    const hasher = await start({});
    expect(spawned).toHaveLength(1);
    const job = rejection(hasher.hash(PASSWORD));
    await spawned[0]?.terminate();
    const error = await job;
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).wireCode).toBe("internal");
    expect(error.message).not.toContain(PASSWORD);
    const hash = await hasher.hash(PASSWORD);
    expect(await hasher.verify(hash, PASSWORD)).toBe(true);
    expect(spawned).toHaveLength(2);
  });

  it("refuses jobs beyond the queue bound", async () => {
    const hasher = await start({ limits: FAST, maxQueued: 1 });
    const running = hasher.hash("a-password");
    const waiting = hasher.hash("b-password");
    const refused = await rejection(hasher.hash("c-password"));
    expect((refused as ProtocolError).wireCode).toBe("unavailable");
    await expect(Promise.all([running, waiting])).resolves.toHaveLength(2);
  });

  it("rejects waiting and new jobs once closed, and stops its workers", async () => {
    const hasher = await start({ threads: 1, limits: FAST });
    // Handlers attached before close() rejects, so the rejections are never unhandled.
    const pending = [rejection(hasher.hash("a-password")), rejection(hasher.hash("b-password"))];
    const exited = new Promise((resolve) => spawned[0]?.once("exit", resolve));
    await hasher.close();
    await exited;
    for (const job of pending) {
      const error = await job;
      expect(error).toBeInstanceOf(WeftError);
      expect((error as WeftError).code).toBe("CLOSED");
    }
    const late = await rejection(hasher.verify("$argon2id$", PASSWORD));
    expect((late as WeftError).code).toBe("CLOSED");
    expect(late.message).not.toContain(PASSWORD);
    await hasher.close(); // idempotent
  });

  it("fails to start, naming the cause, when a worker cannot load @weft/crypto", async () => {
    sabotage.missingCrypto = true;
    const error = await rejection(PasswordHasher.start({ threads: 2 }));
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).wireCode).toBe("internal");
    expect(error.message).toMatch(/password worker failed to start: .*no-such-dir/);
    // The worker that did not fail first was stopped too.
    expect(spawned).toHaveLength(2);
    await Promise.all(exits);
  });

  it("refuses bad options", async () => {
    await expect(PasswordHasher.start({ threads: 0 })).rejects.toThrow(/threads/);
    await expect(PasswordHasher.start({ maxQueued: -1 })).rejects.toThrow(/maxQueued/);
    await expect(PasswordHasher.start({ limits: { opsLimit: 0, memLimit: 8192 } })).rejects.toThrow(
      /opsLimit/,
    );
    await expect(PasswordHasher.start({ limits: { opsLimit: 1, memLimit: 8000 } })).rejects.toThrow(
      /memLimit/,
    );
    expect(spawned).toHaveLength(0);
  });
});
