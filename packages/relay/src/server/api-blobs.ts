/**
 * The chunk routes of the API (PROTOCOL.md "HTTP: blobs"): batch have-check (which touches the
 * chunks it finds), PUT whole or in resumable parts, GET with Range, many small chunks in one
 * request either way, the id listing, garbage collection with a grace period (into quarantine),
 * and the folder's size and quota.
 */
import type { ChunkId } from "@weft/crypto";
import { isChunkId } from "@weft/crypto";
import {
  BLOB_ROUTES,
  type BatchChunk,
  HTTP_BLOB_ID_LIST_BYTES,
  HTTP_BLOB_ID_PAGE,
  HTTP_BLOB_MAX_BYTES,
  HTTP_BLOB_MAX_IDS,
  MAX_CHUNK_BATCH_BYTES,
  ProtocolError,
  batchedSize,
  decodeChunkBatch,
  encodeChunkBatch,
  mapLimited,
} from "@weft/core";
import type uWS from "uWebSockets.js";
import type { Role } from "../store/index.js";
import type { FolderChunkStore } from "../store/chunk-store.js";
import { type AccessContext, authorize, folderParam, requireRole, routes } from "./access.js";
import type { FolderBlobs } from "./folder-blobs.js";
import type { Quotas } from "./quotas.js";
import { type HttpRequest, type Reply, json, jsonBody } from "./http.js";

/** A list of the most chunk ids one request may name. */
const ID_LIST_LIMIT = HTTP_BLOB_ID_LIST_BYTES;
/** Most ids in one page of `GET …/blobs/ids`, and the default. */
export const MAX_ID_PAGE = HTTP_BLOB_ID_PAGE;
/** Chunk files one batch request reads or writes at once (open files, the I/O thread pool). */
const BATCH_IO = 16;
/**
 * A batch fails whole: after the first failed chunk no other starts, and the answer waits for
 * those in flight (nothing keeps writing after the request has failed).
 */
const STOP = { onFailure: "stop" } as const;
/** `Content-Range: bytes START-END/TOTAL` of a part (END inclusive). */
const CONTENT_RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/;

/** What the chunk routes use of the API's context (`ApiContext` has all of it). */
export interface BlobApiContext extends AccessContext {
  blobs: FolderBlobs;
  /** The account quotas (absent: none). */
  quotas?: Quotas;
}

/** Registers the chunk routes on `app`. */
export function registerBlobApi(app: uWS.TemplatedApp, ctx: BlobApiContext): void {
  const r = routes(app, ctx);

  r("post", BLOB_ROUTES.missing, ID_LIST_LIMIT, async (req) => {
    const store = await blobAccess(ctx, req, "viewer");
    // has() touches every chunk it finds: a client that reuses one has just decided to.
    return json(200, { missing: await store.has(idList(req.body)) });
  });

  // Garbage collection deletes what the asker says is unreferenced, and the relay cannot check:
  // owners only, so that an editor cannot destroy content other devices rely on.
  r("post", BLOB_ROUTES.delete, ID_LIST_LIMIT, async (req) => {
    const store = await blobAccess(ctx, req, "owner");
    return json(200, await store.collect(idList(req.body), ctx.blobs.gcGraceMs));
  });

  // Many small chunks in one request: stored each as a PUT would, in parallel.
  r("post", BLOB_ROUTES.batch, MAX_CHUNK_BATCH_BYTES, async (req) => {
    const store = await blobAccess(ctx, req, "editor");
    const chunks = decodeChunkBatch(req.body);
    const release = await reserve(
      ctx,
      req,
      chunks.reduce((n, c) => n + c.bytes.length, 0),
    );
    const outcomes = await mapLimited(chunks, BATCH_IO, STOP, ({ id, bytes }) =>
      store.add(id, bytes),
    ).finally(release);
    const stored = outcomes.filter((o) => o === "stored").length;
    return json(200, { stored, existing: outcomes.length - stored });
  });

  // Many chunks in one answer: those the relay has, each once, in the order asked, until one
  // does not fit in MAX_CHUNK_BATCH_BYTES; the asker fetches any it did not get one by one,
  // which tells "absent" from "left out". Read BATCH_IO at a time, and nothing more once the
  // answer is full: reading every id first made 1,024 ids of one 70 KB chunk cost 70 MiB of
  // reads (all held until the answer) to send 16 MiB, and a few such requests at once went
  // unanswered for over 15 s (bench:fuzz's two hangs).
  r("post", BLOB_ROUTES.fetch, ID_LIST_LIMIT, async (req) => {
    const store = await blobAccess(ctx, req, "viewer");
    const ids = [...new Set(idList(req.body))];
    const chunks: BatchChunk[] = [];
    let bytes = 0;
    let full = false;
    for (let at = 0; at < ids.length && !full; at += BATCH_IO) {
      const window = ids.slice(at, at + BATCH_IO);
      const found = await mapLimited(window, BATCH_IO, STOP, (id) => store.get(id));
      for (const [i, chunk] of found.entries()) {
        if (!chunk) continue;
        if (bytes + batchedSize(chunk.length) > MAX_CHUNK_BATCH_BYTES) {
          full = true;
          break;
        }
        bytes += batchedSize(chunk.length);
        chunks.push({ id: window[i]!, bytes: chunk });
      }
    }
    return {
      status: 200,
      body: encodeChunkBatch(chunks),
      headers: { "content-type": "application/octet-stream" },
    };
  });

  // Registered before `:chunkId`, and "ids" is no chunk id either way.
  r("get", BLOB_ROUTES.ids, 0, async (req) => {
    const store = await blobAccess(ctx, req, "viewer");
    const { after, limit } = listQuery(req.query);
    const ids = await store.listIds(after, limit);
    return json(200, { ids, next: ids.length === limit ? ids[ids.length - 1]! : null });
  });

  r("put", BLOB_ROUTES.chunk, HTTP_BLOB_MAX_BYTES, async (req) => {
    const store = await blobAccess(ctx, req, "editor");
    const id = chunkParam(req);
    if (req.headers.contentRange === "") {
      const release = await reserve(ctx, req, req.body.length);
      return { status: (await store.add(id, req.body).finally(release)) === "stored" ? 201 : 200 };
    }
    const part = parseContentRange(req.headers.contentRange, req.body.length);
    if (typeof part === "string") return json(416, { code: "bad_frame", message: part });
    // An upload counts by its whole declared size from its first part on, as the folder quota
    // counts it: unfinished uploads cannot hold bytes the quota does not see.
    const release = await reserve(ctx, req, part.start === 0 ? part.total : 0);
    const outcome = await store.putPart(id, part.start, part.total, req.body).finally(release);
    switch (outcome.status) {
      case "stored":
        return { status: 201 };
      case "existing":
        return { status: 200 };
      case "partial":
        return json(202, { received: outcome.received });
      case "conflict":
        return json(409, {
          code: "conflict",
          message: `a part must start at byte ${outcome.received}: ${outcome.reason}`,
          received: outcome.received,
        });
    }
  });

  r("get", BLOB_ROUTES.upload, 0, async (req) => {
    const store = await blobAccess(ctx, req, "editor");
    return json(200, await store.uploadProgress(chunkParam(req)));
  });

  r("get", BLOB_ROUTES.chunk, 0, async (req) => {
    const store = await blobAccess(ctx, req, "viewer");
    const chunk = await store.get(chunkParam(req));
    if (chunk === undefined) throw new ProtocolError("not_found", "no such chunk");
    return rangeReply(chunk, req.headers.range);
  });

  r("get", BLOB_ROUTES.base, 0, async (req) => {
    const store = await blobAccess(ctx, req, "viewer");
    return json(200, {
      ...(await store.size()),
      // What the quotas count: the chunks and unfinished uploads (by their declared totals).
      used: store.usedBytes(),
      quarantined: store.quarantined(),
      quota: store.quota,
    });
  });
}

/** Reserves `bytes` about to be stored in the request's folder against its owners' account quotas. */
function reserve(ctx: BlobApiContext, req: HttpRequest, bytes: number): Promise<() => void> {
  return ctx.quotas ? ctx.quotas.reserve(folderParam(req), bytes) : Promise.resolve(() => {});
}

/** The folder's chunk store, once the token and the role are checked. */
async function blobAccess(
  ctx: BlobApiContext,
  req: HttpRequest,
  least: Role,
): Promise<FolderChunkStore> {
  const who = await authorize(ctx, req);
  const folderId = folderParam(req);
  await requireRole(ctx.meta, folderId, who.sub, least);
  return ctx.blobs.of(folderId);
}

function chunkParam(req: HttpRequest): ChunkId {
  const id = req.params[1] ?? "";
  if (!isChunkId(id)) throw new ProtocolError("bad_frame", "malformed chunk id");
  return id;
}

function idList(body: Uint8Array): ChunkId[] {
  const ids = jsonBody(body)["ids"];
  if (!Array.isArray(ids)) throw new ProtocolError("bad_frame", "ids must be an array");
  if (ids.length > HTTP_BLOB_MAX_IDS)
    throw new ProtocolError("too_large", `at most ${HTTP_BLOB_MAX_IDS} ids`);
  return ids.map((id) => {
    if (!isChunkId(id)) throw new ProtocolError("bad_frame", "malformed chunk id");
    return id;
  });
}

/** `after` (a chunk id, optional) and `limit` (1 to {@link MAX_ID_PAGE}, default that). */
function listQuery(query: string): { after: ChunkId | undefined; limit: number } {
  const params = new URLSearchParams(query);
  const after = params.get("after") ?? undefined;
  if (after !== undefined && !isChunkId(after))
    throw new ProtocolError("bad_frame", "after must be a chunk id");
  const text = params.get("limit") ?? String(MAX_ID_PAGE);
  const limit = /^\d{1,4}$/.test(text) ? Number(text) : 0;
  if (limit < 1 || limit > MAX_ID_PAGE)
    throw new ProtocolError("bad_frame", `limit must be a whole number from 1 to ${MAX_ID_PAGE}`);
  return { after, limit };
}

/**
 * A part's `Content-Range: bytes START-END/TOTAL`, checked against itself and the body.
 * @returns the part, or why it is malformed (answered 416)
 * @throws ProtocolError too_large for a TOTAL over {@link HTTP_BLOB_MAX_BYTES}
 */
function parseContentRange(
  header: string,
  bodyLength: number,
): { start: number; total: number } | string {
  const match = CONTENT_RANGE.exec(header);
  if (!match) return "Content-Range must be bytes START-END/TOTAL";
  const [start, end, total] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (start > end || end >= total) return "Content-Range needs START ≤ END < TOTAL";
  if (end - start + 1 !== bodyLength)
    return `Content-Range names ${end - start + 1} bytes but the body has ${bodyLength}`;
  if (total > HTTP_BLOB_MAX_BYTES)
    throw new ProtocolError("too_large", `a chunk is at most ${HTTP_BLOB_MAX_BYTES} bytes`);
  return { start, total };
}

function rangeReply(chunk: Uint8Array, range: string): Reply {
  if (range === "")
    return { status: 200, body: chunk, headers: { "content-type": "application/octet-stream" } };
  const match = /^bytes=(\d+)-(\d+)$/.exec(range);
  if (!match) throw new ProtocolError("bad_frame", "only a single bytes=start-end range");
  const start = Number(match[1]);
  const last = Number(match[2]);
  if (start > last) throw new ProtocolError("bad_frame", "the range ends before it starts");
  if (start >= chunk.length)
    return { status: 416, headers: { "content-range": `bytes */${chunk.length}` } };
  const end = Math.min(last + 1, chunk.length);
  return {
    status: 206,
    body: chunk.subarray(start, end),
    headers: {
      "content-range": `bytes ${start}-${end - 1}/${chunk.length}`,
      "content-type": "application/octet-stream",
    },
  };
}
