// formatBytes: the one byte formatter of the CLI and the relay.
import { expect, test } from "vitest";
import { formatBytes } from "../src/index.js";

test("binary units with one decimal above 1 KiB, whole bytes below", () => {
  expect(formatBytes(0)).toBe("0 B");
  expect(formatBytes(1023)).toBe("1023 B");
  expect(formatBytes(1536)).toBe("1.5 KiB");
  expect(formatBytes(30 * 1024 ** 2)).toBe("30.0 MiB");
  expect(formatBytes(5 * 1024 ** 5)).toBe("5.0 PiB");
});

test("exact: the count as well, for messages a person acts on", () => {
  expect(formatBytes(60, { exact: true })).toBe("60 bytes");
  expect(formatBytes(1572864, { exact: true })).toBe("1.5 MiB (1572864 bytes)");
});
