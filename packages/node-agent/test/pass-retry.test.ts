// A daemon pass that failed runs again after 1 s, 2 s, 4 s … up to the cap, on the folder's
// clock (here a manual one: no waiting), and a pass that succeeds resets the backoff.
import { expect, test } from "vitest";
import { ManualClock } from "@weft/core";
import { PassRetry } from "../src/sync/retry.js";

test("a failing pass is retried with doubling waits up to the cap; a success resets them", async () => {
  const clock = new ManualClock();
  const runs: number[] = [];
  const retry = new PassRetry(() => runs.push(clock.now()), 1000, 4000, clock);
  const start = clock.now();
  const fail = (): void => retry.after(true);

  fail();
  expect(retry.nextAt).toBe(start + 1000);
  await clock.advance(999);
  expect(runs).toEqual([]);
  await clock.advance(1);
  expect(runs).toEqual([start + 1000]);
  for (const wait of [2000, 4000, 4000]) {
    fail();
    await clock.advance(wait);
  }
  expect(runs.map((t) => t - start)).toEqual([1000, 3000, 7000, 11000]);

  retry.after(false);
  fail();
  expect(retry.nextAt).toBe(clock.now() + 1000);
  retry.stop();
  await clock.advance(10_000);
  expect(runs).toHaveLength(4);
  expect(retry.nextAt).toBeUndefined();
});
