/**
 * S3Parts: the unfinished resumable uploads of one folder in S3. Each part is an object
 * `<prefix>p/<chunkId>/<total>/<start>` (start zero-padded, so a listing is in byte order);
 * what an upload has received is read from S3 (the parts contiguous from byte 0), so another
 * relay can continue an upload this one began. When the last part arrives the parts are read
 * back, joined with it and written as the chunk, then deleted. A chunk is at most 16 MiB, so
 * joining in memory is bounded; S3 multipart uploads are not used (parts under 5 MiB are not
 * allowed there, and listing them is not offered everywhere).
 *
 * Like PartialUploads it keeps a running view of the uploads under way (ids and declared
 * totals, counted against the quota), from a listing when the store opens and from this relay's
 * own parts since. Call under the store's per-id lock.
 */
import { WeftError } from "@weft/core";
import { isChunkId, type ChunkId } from "@weft/crypto";
import { PARTIAL_MAX_AGE_MS } from "../partial-uploads.js";
import type { S3Bucket, S3ObjectInfo } from "./s3-bucket.js";

/** How often, at most, starting an upload sweeps stale parts (besides on open). */
const SWEEP_EVERY_MS = 3600 * 1000;
const PART_KEY = /^([0-9a-f]{64})\/(\d{1,10})\/(\d{10})$/;

/** A part object, parsed from its key. */
interface Part {
  id: ChunkId;
  total: number;
  start: number;
  size: number;
  key: string;
  lastModified: number;
}

/** The unfinished uploads of one folder's prefix in a bucket. */
export class S3Parts {
  private lastSweep = Date.now();

  private constructor(
    private readonly bucket: S3Bucket,
    /** `<folder prefix>p/`. */
    private readonly dir: string,
    /** This relay's view: the declared total of each upload under way. */
    private readonly totals: Map<ChunkId, number>,
  ) {}

  /** Lists the uploads under way, deleting stale ones (no part for 24 h) and foreign objects. */
  static async open(bucket: S3Bucket, dir: string, now: number): Promise<S3Parts> {
    const parts = new S3Parts(bucket, dir, new Map());
    await parts.sweep(now);
    return parts;
  }

  /** How many uploads are under way (this relay's view). */
  get count(): number {
    return this.totals.size;
  }

  /** The declared totals of the uploads under way (this relay's view). */
  get declaredBytes(): number {
    let sum = 0;
    for (const t of this.totals.values()) sum += t;
    return sum;
  }

  /** Whether stale uploads should be looked for: an hour since the last sweep, or many under way. */
  sweepDue(now: number, max: number): boolean {
    return now - this.lastSweep >= SWEEP_EVERY_MS || this.totals.size >= max;
  }

  /**
   * Re-reads every upload from S3: those with no part for 24 h are deleted, the others make
   * the running view. Parts of another relay count from here on.
   */
  async sweep(now: number): Promise<void> {
    this.lastSweep = now;
    const byId = new Map<ChunkId, Part[]>();
    for (const o of await this.bucket.list(this.dir)) {
      const part = this.parse(o);
      if (part === undefined) await this.bucket.delete(o.key);
      else byId.set(part.id, [...(byId.get(part.id) ?? []), part]);
    }
    this.totals.clear();
    for (const [id, parts] of byId) {
      if (Math.max(...parts.map((p) => p.lastModified)) < now - PARTIAL_MAX_AGE_MS)
        await this.deleteAll(parts);
      else this.totals.set(id, current(parts)[0]!.total);
    }
  }

  /**
   * The upload of `id` as S3 has it: its declared total and the bytes received (contiguous
   * from 0), or undefined. Parts of an older total (a restart another relay began) are ignored.
   */
  async progress(id: ChunkId): Promise<{ total: number; received: number } | undefined> {
    const parts = current(await this.partsOf(id));
    if (parts.length === 0) {
      this.totals.delete(id);
      return undefined;
    }
    const total = parts[0]!.total;
    this.totals.set(id, total);
    return { total, received: contiguous(parts) };
  }

  /** Stores `bytes` at `start` of `id`'s upload of `total` bytes (0 starts it over). */
  async append(id: ChunkId, total: number, start: number, bytes: Uint8Array): Promise<void> {
    if (start === 0) await this.discard(id);
    this.totals.set(id, total);
    await this.bucket.put(this.keyOf(id, total, start), bytes, Date.now());
  }

  /**
   * The whole chunk: the parts S3 has before `start` (which must cover bytes 0 to `start`),
   * then `last`.
   * @throws WeftError STORAGE if a part went missing meanwhile (another relay restarted the upload)
   */
  async join(id: ChunkId, total: number, start: number, last: Uint8Array): Promise<Uint8Array> {
    const parts = current(await this.partsOf(id)).filter(
      (p) => p.total === total && p.start < start,
    );
    const whole = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      if (p.start !== at) break;
      const bytes = await this.bucket.get(p.key);
      if (bytes === undefined || bytes.length !== p.size) break;
      whole.set(bytes, at);
      at += bytes.length;
    }
    if (at !== start)
      throw new WeftError(
        "STORAGE",
        "S3 chunk store: the upload's parts changed while it completed",
      );
    whole.set(last, start);
    return whole;
  }

  /** Deletes `id`'s upload, if any (after it became a chunk, or to start it over). */
  async discard(id: ChunkId): Promise<void> {
    this.totals.delete(id);
    await this.deleteAll(await this.partsOf(id));
  }

  /** Whether this relay knows of an upload of `id` under way. */
  has(id: ChunkId): boolean {
    return this.totals.has(id);
  }

  private async partsOf(id: ChunkId): Promise<Part[]> {
    const out: Part[] = [];
    for (const o of await this.bucket.list(`${this.dir}${id}/`)) {
      const part = this.parse(o);
      if (part !== undefined) out.push(part);
    }
    return out;
  }

  private async deleteAll(parts: readonly Part[]): Promise<void> {
    for (const p of parts) await this.bucket.delete(p.key);
  }

  private keyOf(id: ChunkId, total: number, start: number): string {
    return `${this.dir}${id}/${total}/${String(start).padStart(10, "0")}`;
  }

  private parse(o: S3ObjectInfo): Part | undefined {
    const match = PART_KEY.exec(o.key.slice(this.dir.length));
    const id = match?.[1];
    if (match === null || id === undefined || !isChunkId(id)) return undefined;
    const total = Number(match[2]);
    const start = Number(match[3]);
    if (start + o.size > total) return undefined;
    return { id, total, start, size: o.size, key: o.key, lastModified: o.lastModified };
  }
}

/** The parts of the newest total (the upload under way), in byte order. */
function current(parts: readonly Part[]): Part[] {
  if (parts.length === 0) return [];
  const newest = parts.reduce((a, b) => (b.lastModified > a.lastModified ? b : a));
  return parts.filter((p) => p.total === newest.total).sort((a, b) => a.start - b.start);
}

/** The bytes held contiguously from 0 by `parts` (in byte order). */
function contiguous(parts: readonly Part[]): number {
  let at = 0;
  for (const p of parts) {
    if (p.start > at) break;
    at = Math.max(at, p.start + p.size);
  }
  return at;
}
