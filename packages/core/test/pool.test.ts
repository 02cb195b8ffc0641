// mapLimited / forEachLimited: the one worker pool, with its failure policy said by each caller.
import { describe, expect, test } from "vitest";
import { forEachLimited, mapLimited } from "../src/index.js";

/** A task that records how many calls are pending at once, and fails on the items in `failOn`. */
function recorder(failOn: readonly number[] = []) {
  const started: number[] = [];
  let pending = 0;
  let most = 0;
  const task = async (n: number): Promise<number> => {
    started.push(n);
    pending++;
    most = Math.max(most, pending);
    await new Promise((resolve) => setImmediate(resolve));
    pending--;
    if (failOn.includes(n)) throw new Error(`item ${n} failed`);
    return n * 10;
  };
  return { task, started, most: () => most, pending: () => pending };
}

const items = Array.from({ length: 20 }, (_, i) => i);

describe("mapLimited", () => {
  test("runs every item, at most `limit` at once, and keeps the items' order", async () => {
    const r = recorder();
    expect(await mapLimited(items, 3, { onFailure: "stop" }, r.task)).toEqual(
      items.map((n) => n * 10),
    );
    expect(r.most()).toBe(3);
    expect(await mapLimited([], 3, { onFailure: "stop" }, r.task)).toEqual([]);
  });

  test('"stop": no item starts after the first failure, and nothing is pending when it rejects', async () => {
    const r = recorder([2]);
    await expect(mapLimited(items, 3, { onFailure: "stop" }, r.task)).rejects.toThrow(
      "item 2 failed",
    );
    expect(r.pending()).toBe(0);
    expect(r.started.length).toBeLessThan(items.length);
  });

  test('"finish": every item runs, then the first failure is thrown', async () => {
    const r = recorder([2, 7]);
    await expect(forEachLimited(items, 3, { onFailure: "finish" }, r.task)).rejects.toThrow(
      "item 2 failed",
    );
    expect([...r.started].sort((a, b) => a - b)).toEqual(items);
    expect(r.pending()).toBe(0);
  });
});
