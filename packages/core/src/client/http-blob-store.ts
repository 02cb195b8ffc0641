/** HttpBlobStore: the relay's chunk store over HTTP (PROTOCOL.md, "HTTP: blobs"), as a BlobStore. */
import type { ChunkId, FolderId } from "@weft/crypto";
import { isChunkId, isFolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import {
  type BatchChunk,
  MAX_CHUNK_BATCH_BYTES,
  MAX_BATCH_CHUNKS,
  decodeChunkBatch,
  encodeChunkBatch,
} from "../protocol/chunk-batch.js";
import type { BlobStore, BlobStoreSize, ByteRange } from "../storage/blob-store.js";
import { checkChunkId, checkChunkIds, resolveByteRange } from "../storage/blob-store.js";
import { checkStorageData } from "../storage/keys.js";
import { BlobHttp, badAnswer } from "./blob-http.js";
import {
  HTTP_BLOB_ID_PAGE,
  HTTP_BLOB_MAX_BYTES,
  HTTP_BLOB_MAX_IDS,
  HTTP_BLOB_PART_BYTES,
} from "./blob-routes.js";
import { isCount, putInParts } from "./blob-upload.js";
import { discard, readBody } from "./read-body.js";

export { HTTP_BLOB_MAX_BYTES, HTTP_BLOB_PART_BYTES } from "./blob-routes.js";

/** Options of {@link HttpBlobStore}. */
export interface HttpBlobStoreOptions {
  /** The relay's HTTP base URL, e.g. `"https://relay.example"` or `"http://127.0.0.1:8787"`. */
  baseUrl: string;
  /** The folder whose chunks this store reads and writes. */
  folderId: FolderId;
  /**
   * The access token sent as `Authorization: Bearer <token>`, or a function returning a fresh
   * one, called before every request.
   * @remarks **Secret.** It never appears in an error message.
   */
  token: string | (() => string | Promise<string>);
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * A request whose answer has not begun after this long, or whose body has not all arrived
   * this long after it began, is abandoned as `unavailable` (default 120,000 ms: a 16 MiB batch
   * needs about 140 KB/s). A relay or network that stalls must not hold a transfer forever.
   */
  requestTimeoutMs?: number;
}

/**
 * A {@link BlobStore} over the relay's HTTP API for one folder: what a Replica passes as
 * `remoteBlobs`. Arguments are checked exactly as by the in-memory store, before any request;
 * answers are checked too (a range longer than asked, a `missing` id that was not asked, an
 * oversized body are `bad_frame`).
 *
 * Failures reject with: WeftError INVALID_OPTIONS for a bad argument, WeftError STORAGE after
 * `close()`, ProtocolError with the relay's code for an error answer (`internal` when the body
 * is not a protocol error; `quota_exceeded` for a 507), ProtocolError `unavailable` when the
 * relay cannot be reached.
 *
 * Beyond BlobStore: {@link collect} (garbage collection, telling what the relay kept) and
 * {@link listIds} (every chunk id the relay holds for the folder).
 */
export class HttpBlobStore implements BlobStore {
  private readonly http: BlobHttp;

  /** @throws WeftError INVALID_OPTIONS for a malformed base URL, folder id, token or fetch */
  constructor(options: HttpBlobStoreOptions) {
    const { baseUrl, folderId, token } = options ?? {};
    let url: URL | undefined;
    try {
      url = new URL(baseUrl);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:"))
      throw new WeftError("INVALID_OPTIONS", "baseUrl must be an http:// or https:// URL");
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "")
      throw new WeftError("INVALID_OPTIONS", "baseUrl must have no credentials, query or hash");
    if (!isFolderId(folderId))
      throw new WeftError("INVALID_OPTIONS", "folderId is not a folder id");
    if (typeof token !== "string" && typeof token !== "function")
      throw new WeftError("INVALID_OPTIONS", "token must be a string or a function");
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== "function")
      throw new WeftError("INVALID_OPTIONS", "there is no global fetch: pass options.fetch");
    const timeoutMs = options.requestTimeoutMs ?? 120_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new WeftError("INVALID_OPTIONS", "requestTimeoutMs must be a positive number");
    this.http = new BlobHttp(url, folderId, url.origin, fetchFn, token, timeoutMs);
  }

  has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    return this.http.run(async () => {
      checkChunkIds(ids);
      const asked = [...new Set(ids)];
      const missing = new Set<ChunkId>();
      for (const batch of batches(asked)) {
        const response = await this.http.request("POST", "/missing", { json: { ids: batch } });
        const body = await this.http.expectJson(response, [200]);
        const list = (body as { missing?: unknown } | null)?.missing;
        if (!Array.isArray(list)) throw badAnswer("the missing answer has no list");
        const inBatch = new Set(batch);
        for (const id of list) {
          if (!isChunkId(id) || !inBatch.has(id))
            throw badAnswer("the missing answer names an id that was not asked");
          missing.add(id);
        }
      }
      // In the order asked, whatever order the relay used.
      return asked.filter((id) => missing.has(id));
    });
  }

  /**
   * Stores a chunk. A body over {@link HTTP_BLOB_PART_BYTES} goes up in parts, resuming after a
   * network error or a 5xx from the count the relay reports (also an upload an earlier session
   * left unfinished); after four failures in a row it rejects with
   * ProtocolError `unavailable` naming the chunk by its id's first characters. A relay without
   * resumable uploads gets the whole body at once.
   */
  put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    return this.http.run(async () => {
      checkChunkId(id);
      checkStorageData(bytes, "bytes");
      if (bytes.length > HTTP_BLOB_MAX_BYTES) {
        throw new ProtocolError(
          "too_large",
          `a chunk of ${bytes.length} bytes is over the limit of ${HTTP_BLOB_MAX_BYTES}`,
        );
      }
      // A copy: fetch may read the body after the caller has moved on and reused its buffer.
      const data = bytes.slice();
      if (data.length > HTTP_BLOB_PART_BYTES && (await putInParts(this.http, id, data))) return;
      const response = await this.http.request("PUT", `/${id}`, {
        body: data,
        contentType: "application/octet-stream",
      });
      await this.http.expectEmpty(response, [200, 201, 204], id);
    });
  }

  /**
   * Stores several chunks in one request (`blobs/batch`), for many small chunks: at most
   * {@link MAX_BATCH_CHUNKS} of at most {@link MAX_CHUNK_BATCH_BYTES} together with their framing.
   */
  putMany(chunks: readonly BatchChunk[]): Promise<void> {
    return this.http.run(async () => {
      for (const { id, bytes } of chunks) {
        checkChunkId(id);
        checkStorageData(bytes, "bytes");
      }
      const body = encodeChunkBatch(chunks); // a copy, as put makes
      if (chunks.length > MAX_BATCH_CHUNKS || body.length > MAX_CHUNK_BATCH_BYTES)
        throw new WeftError(
          "INVALID_OPTIONS",
          `a batch holds at most ${MAX_BATCH_CHUNKS} chunks and ${MAX_CHUNK_BATCH_BYTES} bytes`,
        );
      const response = await this.http.request("POST", "/batch", {
        body,
        contentType: "application/octet-stream",
      });
      await this.http.expectJson(response, [200]);
    });
  }

  /**
   * Several chunks in one request (`blobs/fetch`): those the relay has, by id. Ids left out are
   * absent, or did not fit in one answer ({@link MAX_CHUNK_BATCH_BYTES}): ask for those with `get`.
   */
  getMany(ids: readonly ChunkId[]): Promise<Map<ChunkId, Uint8Array>> {
    return this.http.run(async () => {
      checkChunkIds(ids);
      const asked = new Set(ids);
      const out = new Map<ChunkId, Uint8Array>();
      for (const batch of batches([...asked])) {
        const response = await this.http.request("POST", "/fetch", { json: { ids: batch } });
        if (response.status !== 200) throw await this.http.errorFrom(response);
        let chunks: BatchChunk[];
        try {
          chunks = decodeChunkBatch(await readBody(response, MAX_CHUNK_BATCH_BYTES));
        } catch (error) {
          throw error instanceof ProtocolError ? badAnswer(error.message) : error;
        }
        for (const { id, bytes } of chunks) {
          if (!asked.has(id)) throw badAnswer("the fetch answer names an id that was not asked");
          out.set(id, bytes);
        }
      }
      return out;
    });
  }

  get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    return this.http.run(async () => {
      checkChunkId(id);
      // Checked against no length: the relay clamps, and this client checks what comes back.
      const [start, end] = resolveByteRange(range, Number.MAX_SAFE_INTEGER);
      // An HTTP range cannot be empty: for an empty one ask for one byte and drop it; the
      // answer still tells whether the chunk exists (404) or not.
      const headers: Record<string, string> =
        range === undefined ? {} : { range: `bytes=${start}-${Math.max(start, end - 1)}` };
      const response = await this.http.request("GET", `/${id}`, { headers });
      if (response.status === 404) {
        await discard(response);
        return undefined;
      }
      if (range === undefined) {
        if (response.status !== 200) throw await this.http.errorFrom(response);
        return await readBody(response, HTTP_BLOB_MAX_BYTES);
      }
      if (response.status === 416) {
        // The range starts at or past the end: what the BlobStore contract clamps to empty.
        await discard(response);
        return new Uint8Array(0);
      }
      if (response.status === 200) {
        // A relay may ignore Range and send the whole chunk, as HTTP allows: cut it here.
        const whole = await readBody(response, HTTP_BLOB_MAX_BYTES);
        return whole.slice(Math.min(start, whole.length), Math.min(end, whole.length));
      }
      if (response.status !== 206) throw await this.http.errorFrom(response);
      const contentRange = response.headers.get("content-range") ?? "";
      if (!contentRange.startsWith(`bytes ${start}-`)) {
        await discard(response);
        throw badAnswer("the relay answered a different range than asked");
      }
      const part = await readBody(response, Math.max(1, end - start));
      return start === end ? new Uint8Array(0) : part;
    });
  }

  /**
   * Asks the relay to delete these chunks. The relay keeps those touched (stored or has-checked)
   * within its grace period, so a chunk another client just decided to reuse survives; use
   * {@link collect} to learn which. Resolves when the relay has answered.
   */
  delete(ids: readonly ChunkId[]): Promise<void> {
    return this.http.run(async () => {
      await this.collectChecked(ids);
    });
  }

  /**
   * Garbage collection: asks the relay to delete `ids` (in requests of at most 1,024) and tells
   * what it did. `deleted` and `kept` (present but touched within the relay's grace period)
   * list asked ids once each, in the order asked; ids the relay lacks are in neither.
   */
  collect(ids: readonly ChunkId[]): Promise<{ deleted: ChunkId[]; kept: ChunkId[] }> {
    return this.http.run(() => this.collectChecked(ids));
  }

  /**
   * Every chunk id the relay holds for the folder, ascending, fetched a page of 1,000 at a time
   * as the iteration goes: with the ids the folder's manifests still reference, what a client
   * needs to compute the garbage to {@link collect}.
   */
  listIds(): AsyncIterable<ChunkId> {
    const pages = async function* (store: HttpBlobStore): AsyncGenerator<ChunkId> {
      let after: ChunkId | undefined;
      for (;;) {
        const page = await store.http.run(() => store.idPage(after));
        yield* page.ids;
        if (page.next === undefined) return;
        after = page.next;
      }
    };
    return pages(this);
  }

  size(): Promise<BlobStoreSize> {
    return this.http.run(async () => {
      const response = await this.http.request("GET", "", {});
      const body = (await this.http.expectJson(response, [200])) as {
        count?: unknown;
        bytes?: unknown;
      };
      const { count, bytes } = body ?? {};
      if (!isCount(count) || !isCount(bytes)) throw badAnswer("the size answer is malformed");
      return { count, bytes };
    });
  }

  /** Closes the store: requests in flight are aborted, and later calls reject (STORAGE). */
  close(): Promise<void> {
    this.http.close();
    return Promise.resolve();
  }

  // ---- internals

  private async collectChecked(
    ids: readonly ChunkId[],
  ): Promise<{ deleted: ChunkId[]; kept: ChunkId[] }> {
    checkChunkIds(ids);
    const asked = [...new Set(ids)];
    const deleted = new Set<ChunkId>();
    const kept = new Set<ChunkId>();
    for (const batch of batches(asked)) {
      const response = await this.http.request("POST", "/delete", { json: { ids: batch } });
      const body = (await this.http.expectJson(response, [200])) as {
        deleted?: unknown;
        kept?: unknown;
      } | null;
      const inBatch = new Set(batch);
      for (const [list, into] of [
        [body?.deleted, deleted],
        [body?.kept, kept],
      ] as const) {
        if (!Array.isArray(list)) throw badAnswer("the delete answer has no deleted or kept list");
        for (const id of list) {
          if (!isChunkId(id) || !inBatch.has(id) || deleted.has(id) || kept.has(id))
            throw badAnswer("the delete answer names an id that was not asked, or twice");
          into.add(id);
        }
      }
    }
    return {
      deleted: asked.filter((id) => deleted.has(id)),
      kept: asked.filter((id) => kept.has(id)),
    };
  }

  /** One page of the id listing, checked: ascending ids after `after`, and a `next` that fits. */
  private async idPage(
    after: ChunkId | undefined,
  ): Promise<{ ids: ChunkId[]; next: ChunkId | undefined }> {
    const query =
      after === undefined
        ? `?limit=${HTTP_BLOB_ID_PAGE}`
        : `?after=${after}&limit=${HTTP_BLOB_ID_PAGE}`;
    const response = await this.http.request("GET", `/ids${query}`, {});
    const body = (await this.http.expectJson(response, [200])) as { ids?: unknown; next?: unknown };
    const ids = body?.ids;
    const next = body?.next;
    if (!Array.isArray(ids) || ids.length > HTTP_BLOB_ID_PAGE)
      throw badAnswer("the ids answer is malformed");
    let previous = after ?? "";
    for (const id of ids) {
      // Strictly ascending: a relay cannot make the listing repeat itself or loop.
      if (!isChunkId(id) || id <= previous) throw badAnswer("the ids answer is not in order");
      previous = id;
    }
    if (next === null) return { ids: ids as ChunkId[], next: undefined };
    if (ids.length === 0 || next !== ids[ids.length - 1])
      throw badAnswer("the ids answer has a next that is not its last id");
    return { ids: ids as ChunkId[], next: next as ChunkId };
  }
}

function batches(ids: readonly ChunkId[]): ChunkId[][] {
  const out: ChunkId[][] = [];
  for (let i = 0; i < ids.length; i += HTTP_BLOB_MAX_IDS)
    out.push(ids.slice(i, i + HTTP_BLOB_MAX_IDS));
  return out;
}
