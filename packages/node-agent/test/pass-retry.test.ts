// A daemon pass that failed runs again after 1 s, 2 s, 4 s … up to the cap, on the folder's
// clock (here a manual one: no waiting), and a pass that succeeds resets the backoff.
import { expect, test } from "vitest";
import type { Clock } from "../src/sync/clock.js";
import { PassRetry } from "../src/sync/retry.js";

/** A clock that moves only when told to, firing the timers that fall due. */
class ManualClock implements Clock {
  time = 1_000_000;
  private timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.time;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.time + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
  advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) t.fn();
  }
}

test("a failing pass is retried with doubling waits up to the cap; a success resets them", () => {
  const clock = new ManualClock();
  const runs: number[] = [];
  const retry = new PassRetry(() => runs.push(clock.now()), 1000, 4000, clock);
  const start = clock.now();
  const fail = (): void => retry.after(true);

  fail();
  expect(retry.nextAt).toBe(start + 1000);
  clock.advance(999);
  expect(runs).toEqual([]);
  clock.advance(1);
  expect(runs).toEqual([start + 1000]);
  for (const wait of [2000, 4000, 4000]) {
    fail();
    clock.advance(wait);
  }
  expect(runs.map((t) => t - start)).toEqual([1000, 3000, 7000, 11000]);

  retry.after(false);
  fail();
  expect(retry.nextAt).toBe(clock.now() + 1000);
  retry.stop();
  clock.advance(10_000);
  expect(runs).toHaveLength(4);
  expect(retry.nextAt).toBeUndefined();
});
