// The agent's SQLite chunk store against the shared BlobStore conformance suite, and reopening.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBlobStoreTests } from "@weft/core/conformance";
import type { ChunkId } from "@weft/crypto";
import { expect, test } from "vitest";
import { SqliteBlobStore } from "../src/index.js";

runBlobStoreTests("SqliteBlobStore", async () => {
  const dir = await mkdtemp(join(tmpdir(), "weft-blobs-"));
  const store = await SqliteBlobStore.open(join(dir, "chunks.sqlite"));
  return {
    store,
    teardown: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test("chunks survive a reopen, and the file is private (0600)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "weft-blobs-"));
  try {
    const path = join(dir, "chunks.sqlite");
    const id = "ab".repeat(32) as ChunkId;
    const first = await SqliteBlobStore.open(path);
    await first.put(id, new Uint8Array([1, 2, 3]));
    await first.close();
    const again = await SqliteBlobStore.open(path);
    expect(await again.get(id)).toEqual(new Uint8Array([1, 2, 3]));
    await again.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
