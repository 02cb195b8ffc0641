/** The disk blob store's quarantine: chunks garbage collection removed, restorable until their time is over. */
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";
import { isNotFound } from "./disk-files.js";

/** The directory of chunks in quarantine, inside the store's directory (never a shard name). */
export const QUARANTINE_DIR = ".quarantine";
/** How often, at most, a collect or a has-check purges expired quarantine (besides on open). */
const PURGE_EVERY_MS = 60 * 1000;

/** What `DiskBlobStore.collect` did with each id it was given (absent ids are in neither). */
export interface CollectResult {
  deleted: ChunkId[];
  /** Present, but touched within the grace period: possibly just referenced, so kept. */
  kept: ChunkId[];
}

/** Chunks in quarantine: how many and their bytes. */
export interface QuarantineSize {
  count: number;
  bytes: number;
}

/**
 * What is in `<dir>/.quarantine`: each chunk's size and when it went there (its mtime). The
 * store moves the files (under each id's lock); this keeps the account of them.
 */
export class QuarantineIndex {
  private readonly entries: Map<ChunkId, { size: number; since: number }>;
  private total = 0;
  private lastPurge = Date.now();

  private constructor(
    private readonly dir: string,
    entries: Map<ChunkId, { size: number; since: number }>,
  ) {
    this.entries = entries;
    for (const q of entries.values()) this.total += q.size;
  }

  /**
   * The chunks in `<root>/.quarantine`, purging those older than `quarantineMs` (all when 0)
   * and files that are not chunks.
   */
  static async open(root: string, quarantineMs: number): Promise<QuarantineIndex> {
    return new QuarantineIndex(
      join(root, QUARANTINE_DIR),
      await openQuarantine(root, quarantineMs),
    );
  }

  /**
   * An index of `entries` (chunk → size and when it went to quarantine, ms), for a store that
   * keeps its quarantine elsewhere than `<root>/.quarantine` (the S3 chunk store: `dir` is its
   * key prefix).
   */
  static of(dir: string, entries: Map<ChunkId, { size: number; since: number }>): QuarantineIndex {
    return new QuarantineIndex(dir, entries);
  }

  /** The quarantine directory. */
  get path(): string {
    return this.dir;
  }

  pathOf(id: ChunkId): string {
    return join(this.dir, id);
  }

  has(id: ChunkId): boolean {
    return this.entries.has(id);
  }

  /** The size of `id` in quarantine, if there. */
  sizeOf(id: ChunkId): number | undefined {
    return this.entries.get(id)?.size;
  }

  get bytes(): number {
    return this.total;
  }

  size(): QuarantineSize {
    return { count: this.entries.size, bytes: this.total };
  }

  add(id: ChunkId, size: number, since: number): void {
    this.entries.set(id, { size, since });
    this.total += size;
  }

  remove(id: ChunkId): void {
    const q = this.entries.get(id);
    if (q === undefined) return;
    this.entries.delete(id);
    this.total -= q.size;
  }

  /** Whether a lazy purge is due (something is in quarantine and the last purge is a while ago). */
  purgeDue(): boolean {
    return this.entries.size > 0 && Date.now() - this.lastPurge >= PURGE_EVERY_MS;
  }

  /** The ids whose quarantine time is over (a purge starts now). */
  expired(quarantineMs: number): ChunkId[] {
    this.lastPurge = Date.now();
    const before = Date.now() - quarantineMs;
    const out: ChunkId[] = [];
    for (const [id, q] of this.entries) if (q.since <= before) out.push(id);
    return out;
  }

  /** The oldest ids to purge so that at most `limit` bytes stay. */
  oldestOver(limit: number): ChunkId[] {
    const oldestFirst = [...this.entries].sort((a, b) => a[1].since - b[1].since);
    let bytes = this.total;
    const out: ChunkId[] = [];
    for (const [id, q] of oldestFirst) {
      if (bytes <= limit) break;
      bytes -= q.size;
      out.push(id);
    }
    return out;
  }
}

/**
 * The chunks in `<root>/.quarantine`, purging those older than `quarantineMs` (all when 0)
 * and files that are not chunks.
 */
async function openQuarantine(
  root: string,
  quarantineMs: number,
): Promise<Map<ChunkId, { size: number; since: number }>> {
  const dir = join(root, QUARANTINE_DIR);
  const out = new Map<ChunkId, { size: number; since: number }>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isNotFound(error)) return out;
    throw error;
  }
  const oldest = Date.now() - quarantineMs;
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined || !info.isFile()) continue;
    if (!isChunkId(name) || quarantineMs === 0 || info.mtimeMs <= oldest) await unlink(path);
    else out.set(name, { size: info.size, since: info.mtimeMs });
  }
  return out;
}
