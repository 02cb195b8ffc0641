// A replica left running finds its relay again by itself: after failed connection attempts
// (the relay away for a while), and after a relay that hangs without closing anything. Nothing
// here calls syncOnce() or connectNow(), which would connect on demand and hide a replica that
// stopped retrying.
import { afterEach, describe, expect, it } from "vitest";
import type { Replica } from "../src/index.js";
import { createTestNetwork, type TestNetwork } from "../src/testing/index.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** Polls `check` every 10 ms until it holds; fails after `ms` naming `what`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until `replica` has `path` with `content`, only by the replica's own doing. */
async function arrives(replica: Replica, path: string, content: string): Promise<void> {
  let got: string | undefined;
  const deadline = Date.now() + 5000;
  for (;;) {
    if (replica.list().some((e) => e.path === path))
      got = await replica.readFile(path).then(str, () => undefined);
    if (got === content) return;
    if (Date.now() > deadline)
      throw new Error(`${path} did not arrive (status ${replica.status}, has ${String(got)})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("a replica reconnects by itself", () => {
  it("keeps retrying while the relay refuses it, reports the problem once, and is back when it returns", async () => {
    net = await createTestNetwork({
      devices: 2,
      seed: 7,
      replica: { reconnectDelayMs: { min: 5, max: 20 } },
    });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await net.settle();
    const reported: string[] = [];
    b.on("error", ({ context }) => reported.push(context));

    net.partition([0], [1]);
    await until(() => b.status !== "online", "b to go offline");
    // Several attempts fail while it is cut off; each schedules the next.
    const retries = new Set<number>();
    await until(() => {
      const due = b.connection.nextRetryAt;
      if (due !== undefined) retries.add(due);
      return retries.size >= 4;
    }, "b to schedule four retries");
    expect(b.connection.lastError?.message).toMatch(/offline|unavailable|cut off/i);
    expect(reported.filter((c) => c === "connecting to the relay")).toHaveLength(1);

    net.heal();
    await a.writeFile("while-away.txt", text("written on a"));
    await arrives(b, "while-away.txt", "written on a");
    expect(b.status).toBe("online");
    expect(b.connection.nextRetryAt).toBeUndefined();
  });

  it("gives up on a relay that hangs without closing, and resumes once it answers", async () => {
    net = await createTestNetwork({
      devices: 2,
      seed: 11,
      replica: { reconnectDelayMs: { min: 5, max: 20 }, keepaliveMs: 40 },
    });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    await net.settle();

    net.hub.setStalled(true);
    // No close, no error from the hub: only the replica's keepalive can tell.
    await until(() => b.status !== "online", "b to give up on the hung connection");
    expect(b.connection.lastError?.message).toMatch(/did not answer/);
    // Attempts while it hangs time out too, and are retried.
    const since = b.connection.since;
    await until(() => b.connection.since !== since, "another attempt on the hung relay");

    net.hub.setStalled(false);
    await a.writeFile("after-hang.txt", text("written on a"));
    await arrives(b, "after-hang.txt", "written on a");
    expect([a.status, b.status]).toEqual(["online", "online"]);
  });
});

describe("downloads cut off by the relay going away", () => {
  it("finish after the reconnect: the file is on the device, readable with the relay gone", async () => {
    net = await createTestNetwork({
      devices: 2,
      seed: 5,
      replica: {
        reconnectDelayMs: { min: 5, max: 20 },
        chunking: { minSize: 1024, avgSize: 4096, maxSize: 16384 },
      },
    });
    const [a, b] = [net.replicas[0]!, net.replicas[1]!];
    const content = new Uint8Array(400_000).map((_, i) => (i * 7919) % 251);
    await a.writeFile("big.bin", content);
    let cut = false;
    b.on("progress", ({ direction, done }) => {
      if (direction === "download" && done >= 3 && !cut) {
        cut = true;
        net!.partition([0], [1]); // mid-download: the chunk requests in flight fail
      }
    });
    await until(() => cut, "b to start downloading");
    net.heal();
    await net.settle();
    // With the relay out of reach again, every chunk must already be here.
    net.partition([0], [1]);
    const got = await b.readFile("big.bin");
    expect(got.length).toBe(content.length);
    expect(Buffer.from(got).equals(Buffer.from(content))).toBe(true);
  });
});
