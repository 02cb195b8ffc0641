/** The HTTP blob routes' limits (PROTOCOL.md, "HTTP: blobs"): one definition for the relay, the test bridge and HttpBlobStore. */
import { frameLimits } from "../protocol/limits.js";

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

/** Ids in one `missing`, `delete` or `fetch` request: as many as one `haveCheck`. */
export const HTTP_BLOB_MAX_IDS = frameLimits.maxChunkIdsPerCheck;

/** Bytes of a JSON id list of {@link HTTP_BLOB_MAX_IDS} ids: 64 hex, quotes and a comma each, and room. */
export const HTTP_BLOB_ID_LIST_BYTES = HTTP_BLOB_MAX_IDS * 70 + 1024;

/** Ids one page of `GET …/blobs/ids` lists at most, and by default. */
export const HTTP_BLOB_ID_PAGE = 1000;

/**
 * The blob routes, under `/v1/folders/:folderId/blobs` (uWS pattern syntax): `missing`,
 * `delete` and `fetch` take a JSON id list, `batch` a chunk batch; `chunk` is PUT (whole or a
 * `Content-Range` part, then 200/201/202) and GET (with Range: 206, 416), `upload` tells how far
 * a resumable upload got, `ids` lists ids a page at a time, the base alone answers the size.
 */
export const BLOB_ROUTES = Object.freeze({
  base: "/v1/folders/:folderId/blobs",
  missing: "/v1/folders/:folderId/blobs/missing",
  delete: "/v1/folders/:folderId/blobs/delete",
  batch: "/v1/folders/:folderId/blobs/batch",
  fetch: "/v1/folders/:folderId/blobs/fetch",
  ids: "/v1/folders/:folderId/blobs/ids",
  chunk: "/v1/folders/:folderId/blobs/:chunkId",
  upload: "/v1/folders/:folderId/blobs/:chunkId/upload",
});

/** The answer of `POST …/blobs/delete` (always 200 with both lists). */
export interface BlobDeleteAnswer {
  /** The asked ids deleted (or quarantined). */
  deleted: string[];
  /** The asked ids present but touched within the grace period: kept. */
  kept: string[];
}
