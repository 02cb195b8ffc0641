// A replica whose state store reports a full disk (WeftError DISK_FULL, as the agent's SQLite
// stores do for SQLITE_FULL/ENOSPC): a change made meanwhile, here or on another device, is
// neither lost nor left half-known. It is stored once space returns, then sent or announced,
// and the device's later changes reach the other devices too.
import { afterEach, describe, expect, it } from "vitest";
import { WeftError } from "../src/index.js";
import type { Replica, StateStore } from "../src/index.js";
import { createTestNetwork, type TestNetwork } from "../src/testing/index.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** A state store whose transactions fail with DISK_FULL while `full` is set. */
function fillable(store: StateStore): StateStore & { full: boolean; refused: number } {
  const wrapped = {
    full: false,
    refused: 0,
    load: (key: readonly string[]) => store.load(key),
    save: (key: readonly string[], data: Uint8Array) => store.save(key, data),
    remove: (key: readonly string[]) => store.remove(key),
    loadRange: (prefix: readonly string[]) => store.loadRange(prefix),
    removeRange: (prefix: readonly string[]) => store.removeRange(prefix),
    transaction: async (ops: Parameters<StateStore["transaction"]>[0]) => {
      if (wrapped.full) {
        wrapped.refused++;
        throw new WeftError("DISK_FULL", "state store: the disk is full");
      }
      return store.transaction(ops);
    },
    close: () => store.close?.(),
  };
  return wrapped;
}

/** Polls `check` every 10 ms until it holds; fails after `ms` naming `what`. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const has = (r: Replica, path: string, content: string) =>
  r.list().some((e) => e.path === path) &&
  r.readFile(path).then(
    (b) => str(b) === content,
    () => false,
  );

describe("a replica on a full disk", () => {
  it("stores a local change once space returns and sends it, and the changes after it", async () => {
    const stores: ReturnType<typeof fillable>[] = [];
    net = await createTestNetwork({
      devices: 2,
      seed: 3,
      wrapState: (i, store) => (stores[i] = fillable(store)),
    });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await net.settle();
    const errors: string[] = [];
    a.on("error", ({ context, error }) => errors.push(`${context}: ${error.message}`));

    stores[0]!.full = true;
    const written = a.writeFile("during.txt", text("written while the disk was full")).then(
      () => "stored",
      (error: Error) => `failed: ${error.message}`,
    );
    await until(() => stores[0]!.refused >= 1, "a refused transaction");

    stores[0]!.full = false;
    await a.writeFile("after.txt", text("written after"));
    await until(() => has(b, "during.txt", "written while the disk was full"), "during.txt on b");
    await until(() => has(b, "after.txt", "written after"), "after.txt on b");
    // The write waited for space rather than fail with its change half-kept (in memory only).
    expect(await written).toBe("stored");
    expect(errors.some((e) => /waiting for space.*the disk is full/.test(e))).toBe(true);
  });

  it("stores updates from the log once space returns, and announces them", async () => {
    const stores: ReturnType<typeof fillable>[] = [];
    net = await createTestNetwork({
      devices: 2,
      seed: 4,
      wrapState: (i, store) => (stores[i] = fillable(store)),
    });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await net.settle();
    const remote: number[] = [];
    b.on("change", ({ origin, changed }) => origin === "remote" && remote.push(changed));

    stores[1]!.full = true;
    await a.writeFile("from-a.txt", text("hello"));
    await until(() => stores[1]!.refused >= 2, "b to be refused");
    stores[1]!.full = false;
    // Announced once stored: an agent writes files to disk when it hears this.
    await until(() => remote.length > 0, "b's remote change event");
    await until(() => has(b, "from-a.txt", "hello"), "from-a.txt on b");
  });

  it("with diskFullWaitMs 0 (a one-shot process) fails at once, as before", async () => {
    const stores: ReturnType<typeof fillable>[] = [];
    net = await createTestNetwork({
      devices: 1,
      seed: 5,
      replica: { diskFullWaitMs: 0 },
      wrapState: (i, store) => (stores[i] = fillable(store)),
    });
    stores[0]!.full = true;
    await expect(net.replicas[0]!.writeFile("x.txt", text("x"))).rejects.toThrow(/disk is full/);
    expect(stores[0]!.refused).toBe(1);
  });
});
