// Time under test control: a replica given a ManualClock takes every timer from it, so its
// reconnect backoff runs step by step as the test moves time, with no real waiting.
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../src/index.js";
import { Backoff } from "../src/replica/backoff.js";
import { createTestNetwork, type TestNetwork } from "../src/testing/index.js";

let net: TestNetwork | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

/** Lets the event loop turn (in-memory deliveries) until `check` holds; no clock time passes. */
async function turnsUntil(check: () => boolean, what: string): Promise<void> {
  for (let turn = 0; !check(); turn++) {
    if (turn > 10_000) throw new Error(`${what} did not happen`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe("ManualClock", () => {
  it("runs timers in due order when advanced, and cancelled ones never", async () => {
    const clock = new ManualClock(1_000);
    const ran: string[] = [];
    clock.setTimeout(() => ran.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => ran.push(`a@${clock.now()}`), 10);
    const dropped = clock.setTimeout(() => ran.push("dropped"), 15);
    clock.clearTimeout(dropped);
    await clock.advance(9);
    expect(ran).toEqual([]);
    await clock.advance(20);
    expect(ran).toEqual(["a@1010", "b@1020"]);
    expect(clock.now()).toBe(1_029);
    expect(clock.monotonic()).toBe(29);
    expect(clock.pending).toBe(0);
  });

  it("drives a Backoff: each wait doubles up to the cap, and reset starts over", async () => {
    const clock = new ManualClock();
    const backoff = new Backoff({ min: 100, max: 400 }, false, clock);
    let retries = 0;
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      backoff.schedule(() => retries++);
      waits.push(backoff.dueAt! - clock.now());
      await clock.advance(waits[i]! - 1);
      expect(retries).toBe(i);
      await clock.advance(1);
      expect(retries).toBe(i + 1);
    }
    expect(waits).toEqual([100, 200, 400, 400]);
    backoff.reset();
    backoff.schedule(() => retries++);
    expect(backoff.dueAt! - clock.now()).toBe(100);
  });
});

describe("a replica on a manual clock", () => {
  it("retries a lost relay on its backoff schedule, only as the clock moves", async () => {
    const clock = new ManualClock();
    net = await createTestNetwork({
      devices: 2,
      seed: 3,
      replica: { time: clock, reconnectDelayMs: { min: 1_000, max: 8_000 } },
    });
    const b = net.replicas[1]!;
    await turnsUntil(() => b.status === "online", "b going online");
    const since = clock.now();
    expect(b.connection.since).toBe(since);

    net.partition([0], [1]);
    await turnsUntil(() => b.connection.nextRetryAt !== undefined, "b scheduling a retry");
    expect(b.status).toBe("offline");
    expect(b.connection.lastError?.time).toBe(since);

    // Each failed attempt schedules the next, the wait doubling (less up to half its jitter)
    // up to the cap; no attempt is made before its time.
    const waits: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const due = b.connection.nextRetryAt!;
      waits.push(due - clock.now());
      await clock.advance(due - clock.now() - 1);
      expect(b.connection.nextRetryAt).toBe(due);
      await clock.advance(1);
      await turnsUntil(
        () => b.connection.nextRetryAt !== undefined && b.connection.nextRetryAt !== due,
        `retry ${attempt + 2} being scheduled`,
      );
      expect(b.status).toBe("offline");
    }
    const bands = [1_000, 2_000, 4_000, 8_000, 8_000];
    waits.forEach((wait, i) => {
      expect(wait).toBeGreaterThanOrEqual(bands[i]! / 2);
      expect(wait).toBeLessThanOrEqual(bands[i]!);
    });

    // Back: the next attempt, when it is due, gets through.
    net.heal();
    const due = b.connection.nextRetryAt!;
    await clock.advance(due - clock.now());
    await turnsUntil(() => b.status === "online", "b going online again");
    expect(b.connection.nextRetryAt).toBeUndefined();
    expect(b.connection.since).toBe(due);
  });
});
