// The daemon's filter for watcher events caused by its own writes: a placed file, the
// directories above it and the materializer's temp files are its own for two seconds, nothing
// else ever is.
import { afterEach, expect, test, vi } from "vitest";
import { OwnWrites } from "../src/sync/own-writes.js";

afterEach(() => {
  vi.useRealTimers();
});

test("a written path and its directories are the agent's own for two seconds; others never", () => {
  vi.useFakeTimers();
  const own = new OwnWrites();
  own.wrote("photos/2026/beach.jpg");
  for (const path of ["photos/2026/beach.jpg", "photos/2026", "photos"])
    expect(own.has(path)).toBe(true);
  expect(own.has("photos/2026/other.jpg")).toBe(false);
  expect(own.has("notes.txt")).toBe(false);
  expect(own.has("photos/.weft-tmp-0123456789abcdef")).toBe(true);
  expect(own.has("photos/.weft-tmp-not-ours")).toBe(false);
  vi.advanceTimersByTime(2001);
  expect(own.has("photos/2026/beach.jpg")).toBe(false); // a user's edit after that is seen
});
