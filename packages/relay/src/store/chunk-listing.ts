/** The chunk ids of a DiskBlobStore directory in id order, a page at a time, read from the shards. */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";

const SHARD = /^[0-9a-f]{2}$/;

/**
 * Up to `limit` ids greater than `after` (from the first when undefined), ascending. Chunk
 * `abcd…` is `<dir>/ab/cd/abcd…`, so walking the sorted shards in order yields sorted ids, and
 * shards before `after`'s are skipped unread: a page costs a few directory reads. Temp files,
 * partial uploads and misplaced names are not chunks and are left out.
 */
export async function listChunkIds(
  dir: string,
  after: ChunkId | undefined,
  limit: number,
): Promise<ChunkId[]> {
  const out: ChunkId[] = [];
  const from = after ?? "";
  for (const first of (await shardsIn(dir)).sort()) {
    if (first < from.slice(0, 2)) continue;
    for (const second of (await shardsIn(join(dir, first))).sort()) {
      const prefix = first + second;
      if (prefix < from.slice(0, 4)) continue;
      const names = (await filesIn(join(dir, first, second)))
        .filter((n): n is ChunkId => isChunkId(n) && n.startsWith(prefix) && n > from)
        .sort();
      for (const name of names) {
        out.push(name);
        if (out.length === limit) return out;
      }
    }
  }
  return out;
}

/** The shard directories (two hex digits) in `dir`. */
async function shardsIn(dir: string): Promise<string[]> {
  return (await entriesOf(dir))
    .filter((e) => e.isDirectory() && SHARD.test(e.name))
    .map((e) => e.name);
}

/** The names of the plain files in `dir`. */
async function filesIn(dir: string): Promise<string[]> {
  return (await entriesOf(dir)).filter((e) => e.isFile()).map((e) => e.name);
}

async function entriesOf(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    // A directory that is not there (yet) holds no chunks.
    if ((error as { code?: unknown }).code === "ENOENT") return [];
    throw error;
  }
}
