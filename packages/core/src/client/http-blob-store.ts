/** HttpBlobStore: the relay's chunk store over HTTP (PROTOCOL.md, "HTTP: blobs"), as a BlobStore. */
import type { ChunkId, FolderId } from "@weft/crypto";
import { isChunkId, isFolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError, isProtocolErrorCode } from "../protocol/errors.js";
import {
  type BatchChunk,
  MAX_BATCH_BYTES,
  MAX_BATCH_CHUNKS,
  decodeChunkBatch,
  encodeChunkBatch,
} from "../protocol/chunk-batch.js";
import { frameLimits } from "../protocol/limits.js";
import type { BlobStore, BlobStoreSize, ByteRange } from "../storage/blob-store.js";
import { checkChunkId, checkChunkIds, resolveByteRange } from "../storage/blob-store.js";
import { checkStorageData } from "../storage/keys.js";
import { closedError } from "../storage/settle.js";
import { discard, readBody } from "./read-body.js";

/**
 * Largest chunk the relay accepts in one `PUT` (and a client accepts in one `GET`): a sealed
 * chunk of the largest size plus room for its header, the same 16 MiB + 64 KiB as a frame.
 */
export const HTTP_BLOB_MAX_BYTES = 16 * 1024 * 1024 + 64 * 1024;

/**
 * A body larger than this goes up in parts of this size (`Content-Range`), each resumable: after
 * a network error or a 5xx the upload continues from what the relay reports it received.
 */
export const HTTP_BLOB_PART_BYTES = 4 * 1024 * 1024;
/** Failed parts in a row (network error, 5xx, offset conflict) before a put gives up. */
const MAX_PART_RETRIES = 4;
/** Wait before retry n: n × this. */
const PART_RETRY_DELAY_MS = 100;
/** Ids asked per page of the listing (the relay's most). */
const ID_PAGE = 1000;

// JSON answers are small: 1,024 ids of 64 hex characters are about 70 KiB.
const MAX_JSON_BYTES = 1024 * 1024;
// Of an error body, only the code and a sentence matter.
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 1024;
// Printable ASCII without space, as `auth` requires of a token: also what an HTTP header can
// carry without the runtime refusing it (and echoing the value in its error).
const TOKEN = /^[\x21-\x7e]+$/;

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
  private readonly base: string;
  private readonly origin: string;
  private readonly fetchFn: typeof fetch;
  private readonly tokenSource: HttpBlobStoreOptions["token"];
  // Aborts every request in flight when the store closes.
  /**
   * One controller per request in flight, aborted by close(). Not one shared signal: fetch
   * (undici) adds an abort listener per request to the signal it is given and drops it only at
   * garbage collection, so a long-lived shared signal collects thousands of listeners.
   */
  private readonly inflight = new Set<AbortController>();
  private readonly timeoutMs: number;
  private closed = false;

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
    this.timeoutMs = timeoutMs;
    this.fetchFn = fetchFn;
    this.tokenSource = token;
    this.origin = url.origin;
    this.base = `${url.href.replace(/\/+$/, "")}/v1/folders/${folderId}/blobs`;
  }

  has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    return this.run(async () => {
      checkChunkIds(ids);
      const asked = [...new Set(ids)];
      const missing = new Set<ChunkId>();
      for (const batch of batches(asked)) {
        const response = await this.request("POST", "/missing", { json: { ids: batch } });
        const body = await this.expectJson(response, [200]);
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
   * left unfinished); after {@link MAX_PART_RETRIES} failures in a row it rejects with
   * ProtocolError `unavailable` naming the chunk by its id's first characters. A relay without
   * resumable uploads gets the whole body at once.
   */
  put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    return this.run(async () => {
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
      if (data.length > HTTP_BLOB_PART_BYTES && (await this.putInParts(id, data))) return;
      const response = await this.request("PUT", `/${id}`, {
        body: data,
        contentType: "application/octet-stream",
      });
      await this.expectEmpty(response, [200, 201, 204], id);
    });
  }

  /**
   * Stores several chunks in one request (`blobs/batch`), for many small chunks: at most
   * {@link MAX_BATCH_CHUNKS} of at most {@link MAX_BATCH_BYTES} together with their framing.
   */
  putMany(chunks: readonly BatchChunk[]): Promise<void> {
    return this.run(async () => {
      for (const { id, bytes } of chunks) {
        checkChunkId(id);
        checkStorageData(bytes, "bytes");
      }
      const body = encodeChunkBatch(chunks); // a copy, as put makes
      if (chunks.length > MAX_BATCH_CHUNKS || body.length > MAX_BATCH_BYTES)
        throw new WeftError(
          "INVALID_OPTIONS",
          `a batch holds at most ${MAX_BATCH_CHUNKS} chunks and ${MAX_BATCH_BYTES} bytes`,
        );
      const response = await this.request("POST", "/batch", {
        body,
        contentType: "application/octet-stream",
      });
      await this.expectJson(response, [200]);
    });
  }

  /**
   * Several chunks in one request (`blobs/fetch`): those the relay has, by id. Ids left out are
   * absent, or did not fit in one answer ({@link MAX_BATCH_BYTES}): ask for those with `get`.
   */
  getMany(ids: readonly ChunkId[]): Promise<Map<ChunkId, Uint8Array>> {
    return this.run(async () => {
      checkChunkIds(ids);
      const asked = new Set(ids);
      const out = new Map<ChunkId, Uint8Array>();
      for (const batch of batches([...asked])) {
        const response = await this.request("POST", "/fetch", { json: { ids: batch } });
        if (response.status !== 200) throw await this.errorFrom(response);
        let chunks: BatchChunk[];
        try {
          chunks = decodeChunkBatch(await readBody(response, MAX_BATCH_BYTES));
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
    return this.run(async () => {
      checkChunkId(id);
      // Checked against no length: the relay clamps, and this client checks what comes back.
      const [start, end] = resolveByteRange(range, Number.MAX_SAFE_INTEGER);
      // An HTTP range cannot be empty: for an empty one ask for one byte and drop it; the
      // answer still tells whether the chunk exists (404) or not.
      const headers: Record<string, string> =
        range === undefined ? {} : { range: `bytes=${start}-${Math.max(start, end - 1)}` };
      const response = await this.request("GET", `/${id}`, { headers });
      if (response.status === 404) {
        await discard(response);
        return undefined;
      }
      if (range === undefined) {
        if (response.status !== 200) throw await this.errorFrom(response);
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
      if (response.status !== 206) throw await this.errorFrom(response);
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
    return this.run(async () => {
      await this.collectChecked(ids);
    });
  }

  /**
   * Garbage collection: asks the relay to delete `ids` (in requests of at most 1,024) and tells
   * what it did. `deleted` and `kept` (present but touched within the relay's grace period)
   * list asked ids once each, in the order asked; ids the relay lacks are in neither. A relay
   * that answers 204 without lists (an older one, which deletes at once) has all ids in
   * `deleted`.
   */
  collect(ids: readonly ChunkId[]): Promise<{ deleted: ChunkId[]; kept: ChunkId[] }> {
    return this.run(() => this.collectChecked(ids));
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
        const page = await store.run(() => store.idPage(after));
        yield* page.ids;
        if (page.next === undefined) return;
        after = page.next;
      }
    };
    return pages(this);
  }

  size(): Promise<BlobStoreSize> {
    return this.run(async () => {
      const response = await this.request("GET", "", {});
      const body = (await this.expectJson(response, [200])) as { count?: unknown; bytes?: unknown };
      const { count, bytes } = body ?? {};
      if (!isCount(count) || !isCount(bytes)) throw badAnswer("the size answer is malformed");
      return { count, bytes };
    });
  }

  /** Closes the store: requests in flight are aborted, and later calls reject (STORAGE). */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const controller of this.inflight) controller.abort();
      this.inflight.clear();
    }
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
      const response = await this.request("POST", "/delete", { json: { ids: batch } });
      if (response.status === 204) {
        await discard(response);
        for (const id of batch) deleted.add(id);
        continue;
      }
      const body = (await this.expectJson(response, [200])) as {
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
    const query = after === undefined ? `?limit=${ID_PAGE}` : `?after=${after}&limit=${ID_PAGE}`;
    const response = await this.request("GET", `/ids${query}`, {});
    const body = (await this.expectJson(response, [200])) as { ids?: unknown; next?: unknown };
    const ids = body?.ids;
    const next = body?.next;
    if (!Array.isArray(ids) || ids.length > ID_PAGE) throw badAnswer("the ids answer is malformed");
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

  /**
   * Uploads `data` in parts (see {@link put}).
   * @returns false when the relay has no resumable uploads (the caller sends the whole body)
   */
  private async putInParts(id: ChunkId, data: Uint8Array): Promise<boolean> {
    const total = data.length;
    const probe = await this.request("GET", `/${id}/upload`, {});
    if (probe.status === 404 || probe.status === 405 || probe.status === 501) {
      await discard(probe);
      return false;
    }
    let state = this.uploadState(await this.expectJson(probe, [200]), total);
    let failures = 0;
    let lastError: unknown;
    for (;;) {
      if (state === "complete") return true;
      const offset = state;
      const end = Math.min(offset + HTTP_BLOB_PART_BYTES, total);
      let failed = false;
      let conflict = false;
      try {
        const response = await this.request("PUT", `/${id}`, {
          body: data.subarray(offset, end),
          contentType: "application/octet-stream",
          headers: { "content-range": `bytes ${offset}-${end - 1}/${total}` },
        });
        if (response.status === 200 || response.status === 201 || response.status === 204) {
          await discard(response);
          return true;
        }
        if (response.status === 202) {
          const received = (
            (await this.expectJson(response, [202])) as { received?: unknown } | null
          )?.received;
          if (!isCount(received) || received <= offset || received >= total)
            throw badAnswer("the relay answered a part with a received count that does not fit");
          state = received;
          failures = 0;
          continue;
        }
        if (response.status === 409 || (response.status >= 500 && response.status !== 507)) {
          conflict = response.status === 409;
          lastError = await this.errorFrom(response);
          failed = true;
        } else {
          throw await this.errorFrom(response, id);
        }
      } catch (error) {
        if (!isRetryable(error) || this.closed) throw error;
        lastError = error;
        failed = true;
      }
      if (failed) {
        failures += 1;
        if (failures > MAX_PART_RETRIES) {
          throw new ProtocolError(
            "unavailable",
            `the upload of chunk ${id.slice(0, 12)}… stopped at byte ${offset} of ${total} ` +
              `after ${failures} failed attempts in a row; retry later`,
            { cause: lastError },
          );
        }
        await sleep(PART_RETRY_DELAY_MS * failures);
        try {
          // Where to go on from: the relay may have kept more (or less) than this side knows.
          const progress = await this.request("GET", `/${id}/upload`, {});
          state = this.uploadState(await this.expectJson(progress, [200]), total);
          // Refused at the very count the relay reports: its upload has another total (a
          // client with other bytes for this id). Starting at 0 with this total starts over.
          if (conflict && state === offset) state = 0;
        } catch (error) {
          if (!isRetryable(error) || this.closed) throw error;
          lastError = error; // asked again after the next failed attempt
        }
      }
    }
  }

  /** The answer of `…/upload`: "complete", or the offset to send from. */
  private uploadState(body: unknown, total: number): number | "complete" {
    const { received, complete } = (body ?? {}) as { received?: unknown; complete?: unknown };
    if (!isCount(received)) throw badAnswer("the upload answer is malformed");
    if (complete === true) return "complete";
    // More than this chunk's size: an upload of another size is under way; start over.
    return received < total ? received : 0;
  }

  /**
   * Runs one call: refused once closed; a failure that is not already a WeftError (a socket
   * reset while reading a body, an abort) becomes `unavailable`, or STORAGE once closed.
   */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError("HttpBlobStore");
    try {
      return await fn();
    } catch (error) {
      if (this.closed) throw closedError("HttpBlobStore");
      if (error instanceof WeftError) throw error;
      throw new ProtocolError("unavailable", `the connection to ${this.origin} failed`, {
        cause: error,
      });
    }
  }

  private async request(
    method: string,
    path: string,
    init: {
      json?: unknown;
      body?: Uint8Array;
      contentType?: string;
      headers?: Record<string, string>;
    },
  ): Promise<Response> {
    const headers: Record<string, string> = {
      ...init.headers,
      authorization: `Bearer ${await this.token()}`,
    };
    let body: Uint8Array | string | undefined = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    } else if (init.contentType !== undefined) {
      headers["content-type"] = init.contentType;
    }
    if (this.closed) throw closedError("HttpBlobStore");
    const controller = new AbortController();
    this.inflight.add(controller);
    // Two deadlines on one timer: the answer must begin within the timeout, then its body
    // must all arrive within another. The body is read by the caller, so the second is left
    // running (unref'd); aborting a request that has finished does nothing.
    const abandon = () =>
      controller.abort(
        new ProtocolError(
          "unavailable",
          `the relay at ${this.origin} did not answer within ${this.timeoutMs / 1000} s`,
        ),
      );
    let timer = setTimeout(abandon, this.timeoutMs);
    (timer as { unref?: () => void }).unref?.();
    try {
      const response = await this.fetchFn(`${this.base}${path}`, {
        method,
        headers,
        body,
        signal: controller.signal,
      });
      clearTimeout(timer);
      timer = setTimeout(abandon, this.timeoutMs);
      (timer as { unref?: () => void }).unref?.();
      return response;
    } catch (error) {
      clearTimeout(timer);
      if (this.closed) throw closedError("HttpBlobStore");
      if (controller.signal.reason instanceof ProtocolError) throw controller.signal.reason;
      throw new ProtocolError("unavailable", `the relay at ${this.origin} cannot be reached`, {
        cause: error,
      });
    } finally {
      this.inflight.delete(controller);
    }
  }

  private async token(): Promise<string> {
    let token: unknown;
    try {
      token = typeof this.tokenSource === "function" ? await this.tokenSource() : this.tokenSource;
    } catch (error) {
      throw new ProtocolError("unauthorized", "the token function failed", { cause: error });
    }
    // The message describes the token and never quotes it.
    if (
      typeof token !== "string" ||
      token.length > frameLimits.maxTokenBytes ||
      !TOKEN.test(token)
    ) {
      throw new WeftError(
        "INVALID_OPTIONS",
        `token must be 1 to ${frameLimits.maxTokenBytes} printable ASCII characters, no spaces`,
      );
    }
    return token;
  }

  private async expectJson(response: Response, ok: number[]): Promise<unknown> {
    if (!ok.includes(response.status)) throw await this.errorFrom(response);
    const text = new TextDecoder().decode(await readBody(response, MAX_JSON_BYTES));
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badAnswer(`the relay answered ${response.status} with a body that is not JSON`);
    }
  }

  private async expectEmpty(response: Response, ok: number[], chunk?: ChunkId): Promise<void> {
    if (!ok.includes(response.status)) throw await this.errorFrom(response, chunk);
    await discard(response);
  }

  /** The ProtocolError an error answer stands for; `chunk` names the chunk being stored. */
  private async errorFrom(response: Response, chunk?: ChunkId): Promise<ProtocolError> {
    const status = response.status;
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(await readBody(response, MAX_ERROR_BYTES)));
    } catch {
      parsed = undefined;
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const what = chunk === undefined ? "" : ` chunk ${chunk.slice(0, 12)}…`;
    if (!isProtocolErrorCode(error?.code) || typeof error.message !== "string" || status < 400) {
      // 507 Insufficient Storage means the same whoever sends it.
      if (status === 507)
        return new ProtocolError("quota_exceeded", `the relay has no room for${what || " it"}`);
      return new ProtocolError("internal", `relay answered ${status}`);
    }
    if (error.code === "quota_exceeded")
      return new ProtocolError(
        "quota_exceeded",
        `the relay refused to store${what || " more"}: the folder's quota is full ` +
          `(${this.clean(error.message)})`,
      );
    return new ProtocolError(
      error.code,
      `relay answered ${error.code}: ${this.clean(error.message)}`,
    );
  }

  /** The relay's text, cut short and with the token removed, should a relay echo it. */
  private clean(message: string): string {
    let text = message.slice(0, MAX_MESSAGE_CHARS);
    if (typeof this.tokenSource === "string" && this.tokenSource !== "")
      text = text.split(this.tokenSource).join("[token]");
    // A token from a function is not kept; a token-like word is dropped instead.
    return text.replace(/Bearer\s+\S+/gi, "Bearer [token]");
  }
}

/** `ids` in lists of at most `maxChunkIdsPerCheck`, as the relay accepts them. */
function batches(ids: readonly ChunkId[]): ChunkId[][] {
  const out: ChunkId[][] = [];
  for (let i = 0; i < ids.length; i += frameLimits.maxChunkIdsPerCheck)
    out.push(ids.slice(i, i + frameLimits.maxChunkIdsPerCheck));
  return out;
}

function badAnswer(message: string): ProtocolError {
  return new ProtocolError("bad_frame", message);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** A failure a part upload recovers from: the network (not a refusal, not a closed store). */
function isRetryable(error: unknown): boolean {
  if (error instanceof ProtocolError) return error.wireCode === "unavailable";
  // A socket reset while a body was read surfaces as a plain error.
  return !(error instanceof WeftError);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
