/** Resumable uploads of large chunks in parts (`Content-Range`), for HttpBlobStore.put. */
import type { ChunkId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import { type BlobHttp, badAnswer } from "./blob-http.js";
import { HTTP_BLOB_PART_BYTES } from "./blob-routes.js";
import { discard } from "./read-body.js";

/** Failed parts in a row (network error, 5xx, offset conflict) before a put gives up. */
export const MAX_PART_RETRIES = 4;
/** Wait before retry n: n × this. */
const PART_RETRY_DELAY_MS = 100;

/**
 * Uploads `data` in parts (see HttpBlobStore.put).
 * @returns false when the relay has no resumable uploads (the caller sends the whole body)
 */
export async function putInParts(http: BlobHttp, id: ChunkId, data: Uint8Array): Promise<boolean> {
  const total = data.length;
  const probe = await http.request("GET", `/${id}/upload`, {});
  if (probe.status === 404 || probe.status === 405 || probe.status === 501) {
    await discard(probe);
    return false;
  }
  let state = uploadState(await http.expectJson(probe, [200]), total);
  let failures = 0;
  let lastError: unknown;
  for (;;) {
    if (state === "complete") return true;
    const offset = state;
    const end = Math.min(offset + HTTP_BLOB_PART_BYTES, total);
    let failed = false;
    let conflict = false;
    try {
      const response = await http.request("PUT", `/${id}`, {
        body: data.subarray(offset, end),
        contentType: "application/octet-stream",
        headers: { "content-range": `bytes ${offset}-${end - 1}/${total}` },
      });
      if (response.status === 200 || response.status === 201 || response.status === 204) {
        await discard(response);
        return true;
      }
      if (response.status === 202) {
        const received = ((await http.expectJson(response, [202])) as { received?: unknown } | null)
          ?.received;
        if (!isCount(received) || received <= offset || received >= total)
          throw badAnswer("the relay answered a part with a received count that does not fit");
        state = received;
        failures = 0;
        continue;
      }
      if (response.status === 409 || (response.status >= 500 && response.status !== 507)) {
        conflict = response.status === 409;
        lastError = await http.errorFrom(response);
        failed = true;
      } else {
        throw await http.errorFrom(response, id);
      }
    } catch (error) {
      if (!isRetryable(error) || http.closed) throw error;
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
        const progress = await http.request("GET", `/${id}/upload`, {});
        state = uploadState(await http.expectJson(progress, [200]), total);
        // Refused at the very count the relay reports: its upload has another total (a
        // client with other bytes for this id). Starting at 0 with this total starts over.
        if (conflict && state === offset) state = 0;
      } catch (error) {
        if (!isRetryable(error) || http.closed) throw error;
        lastError = error; // asked again after the next failed attempt
      }
    }
  }
}

/** The answer of `…/upload`: "complete", or the offset to send from. */
function uploadState(body: unknown, total: number): number | "complete" {
  const { received, complete } = (body ?? {}) as { received?: unknown; complete?: unknown };
  if (!isCount(received)) throw badAnswer("the upload answer is malformed");
  if (complete === true) return "complete";
  // More than this chunk's size: an upload of another size is under way; start over.
  return received < total ? received : 0;
}

export function isCount(value: unknown): value is number {
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
