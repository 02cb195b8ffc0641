import { expect, test } from "vitest";
import { placeholder } from "@weft/core";
test("smoke", () => {
  expect(placeholder).toBe(1);
});
