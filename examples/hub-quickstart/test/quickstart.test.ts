// Smoke test: the example runs start to end and tells the story it promises.
import { expect, test } from "vitest";
import { main } from "../index.mjs";

test("hub-quickstart: file and document sync, a conflict kept and resolved", async () => {
  const lines: string[] = [];
  const result = await main((line) => lines.push(line));
  expect(lines.some((l) => l.startsWith("phone sees trip, trip/packing.md"))).toBe(true);
  expect(result.conflicts).toBe(1);
  expect(result.packing).toBe("- passport\n- charger\n- sunscreen\n");
  expect([...result.items].sort()).toEqual(["apples", "bread", "coffee", "milk"]);
  expect(result.phoneItems).toEqual(result.items);
});
