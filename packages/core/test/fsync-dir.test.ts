// fsyncDir (@weft/core/fs): the one directory flush of the relay's and the agent's disk stores.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { fsyncDir } from "../src/fs/index.js";

test("flushes a directory, and a directory that is not there is the system's error", async () => {
  const dir = await mkdtemp(join(tmpdir(), "weft-fsync-dir-"));
  try {
    await expect(fsyncDir(dir)).resolves.toBeUndefined();
    await expect(fsyncDir(join(dir, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
