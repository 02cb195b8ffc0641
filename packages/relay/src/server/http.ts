/** HTTP plumbing on uWebSockets.js: one function per route, bodies read with a limit, JSON errors `{error: {code, message}}`. */
import { STATUS_CODES } from "node:http";
import { randomUUID } from "node:crypto";
import type { ProtocolErrorCode } from "@weft/core";
import { PROTOCOL_ERROR_HTTP_STATUS, ProtocolError, errorMessageFor } from "@weft/core";
import type uWS from "uWebSockets.js";
import { type ByteBudget, addressHolder } from "./byte-budget.js";

/** What a route handler gets: everything read from the request before any await. */
export interface HttpRequest {
  /** A fresh id, also logged, to match a client's report to the log. */
  id: string;
  method: string;
  /** The route pattern that matched, e.g. `/v1/folders/:folderId` (for metrics: never the raw URL). */
  route: string;
  params: string[];
  /** The query string without its `?` ("" when none). */
  query: string;
  headers: { authorization: string; range: string; contentType: string; contentRange: string };
  /** The client's address, for rate limits. */
  address: string;
  body: Uint8Array;
}

/** What a route handler returns. */
export interface Reply {
  status: number;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
}

/** A route handler. Throw a ProtocolError for a refusal; anything else is a 500 `internal`. */
export type Handler = (req: HttpRequest) => Promise<Reply> | Reply;

/** Called once per finished request, for logs and metrics; `sentBytes` is the reply body's size. */
export type RequestObserver = (
  req: HttpRequest,
  status: number,
  ms: number,
  error: unknown,
  sentBytes: number,
) => void;

/** A JSON reply; a status ≥ 400 wraps `value` as `{error: value}`. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  const body = status >= 400 ? { error: value } : value;
  return {
    status,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  };
}

/** The reply for an error: its wire code, the HTTP status of that code, and a message safe to show. */
export function errorReply(error: unknown): Reply {
  const code: ProtocolErrorCode = error instanceof ProtocolError ? error.wireCode : "internal";
  const { message } = errorMessageFor(error); // an unexpected error says only "internal error"
  const headers: Record<string, string> = {};
  const retry = (error as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  if ((code === "rate_limited" || code === "unavailable") && typeof retry === "number")
    headers["retry-after"] = String(Math.ceil(retry));
  return json(PROTOCOL_ERROR_HTTP_STATUS[code], { code, message }, headers);
}

const MAX_JSON_DEPTH = 8;

/**
 * Bodies up to this limit (JSON requests) are not counted against the byte budget: the
 * per-address rate limit bounds them, and a sign-in must not wait for an upload to finish.
 */
export const SMALL_BODY_BYTES = 64 * 1024;

/**
 * Parses a JSON body into an object. Refuses anything else, and nesting deeper than 8 levels:
 * no route takes more. The depth is read from the bytes before `JSON.parse` runs: parsing
 * 64 KiB of `[` builds 65,536 nested arrays and takes about 100 ms of the event loop, which a
 * client could repeat without end; the scan stops at the ninth level.
 * @throws ProtocolError bad_frame
 */
export function jsonBody(body: Uint8Array): Record<string, unknown> {
  if (nestedDeeperThan(body, MAX_JSON_DEPTH))
    throw new ProtocolError("bad_frame", `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new ProtocolError("bad_frame", "the body is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ProtocolError("bad_frame", "the body must be a JSON object");
  return value as Record<string, unknown>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether the JSON text `bytes` opens more than `max` arrays or objects inside one another,
 * counted on the bytes (strings skipped), stopping at the first level too deep. For valid JSON
 * this is its nesting depth; invalid JSON is refused by the parse after it anyway.
 */
function nestedDeeperThan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      // Jump to the closing quote: the next one not escaped by an odd run of backslashes.
      let end = i;
      for (;;) {
        end = bytes.indexOf(QUOTE, end + 1);
        if (end < 0) return false;
        let slashes = 0;
        while (bytes[end - 1 - slashes] === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
      }
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A string field of a JSON body, checked. @throws ProtocolError bad_frame */
export function field(body: Record<string, unknown>, name: string, max = 1024): string {
  const v = body[name];
  if (typeof v !== "string" || v.length === 0 || v.length > max)
    throw new ProtocolError("bad_frame", `${name} must be a string of 1 to ${max} characters`);
  return v;
}

/**
 * Registers a route. Reads the request at once (uWS frees it when this returns), sets the
 * abort handler before any asynchronous work (after an abort, `res` must not be touched), reads
 * the body up to `limit` bytes (413 beyond, and the connection is closed so the rest is not
 * read), runs the handler, and answers; a thrown error becomes its JSON error. A route whose
 * limit is over {@link SMALL_BODY_BYTES} reserves its body's bytes in `budget` (the declared
 * length at once, or chunk by chunk) until it has answered; over budget it answers 503 with
 * `Retry-After` and closes the connection, before the body is read.
 */
export function route(
  app: uWS.TemplatedApp,
  method: "get" | "post" | "put" | "del" | "any",
  pattern: string,
  limit: number,
  handler: Handler,
  observe: RequestObserver,
  budget?: ByteBudget,
): void {
  const counted = budget !== undefined && limit > SMALL_BODY_BYTES;
  const paramCount = pattern.split("/").filter((part) => part.startsWith(":")).length;
  app[method](pattern, (res, req) => {
    const started = performance.now();
    // uWS answers "" (not undefined) past the last parameter: count them from the pattern.
    const params: string[] = [];
    for (let i = 0; i < paramCount; i++) params.push(req.getParameter(i) ?? "");
    const request: HttpRequest = {
      id: randomUUID(),
      method: req.getMethod(),
      route: pattern,
      params,
      query: req.getQuery() ?? "",
      headers: {
        authorization: req.getHeader("authorization"),
        range: req.getHeader("range"),
        contentType: req.getHeader("content-type"),
        contentRange: req.getHeader("content-range"),
      },
      address: Buffer.from(res.getRemoteAddressAsText()).toString(),
      body: new Uint8Array(0),
    };
    let done = false;
    let reserved = 0;
    const release = (): void => {
      if (reserved > 0) budget!.release(addressHolder(request.address), reserved, "body");
      reserved = 0;
    };
    res.onAborted(() => {
      done = true;
      release();
    });
    const answer = (reply: Reply, error?: unknown, close = reply.status === 413): void => {
      if (done) return;
      done = true;
      release();
      res.cork(() => {
        res.writeStatus(`${reply.status} ${STATUS_CODES[reply.status] ?? ""}`);
        res.writeHeader("x-request-id", request.id);
        for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v);
        res.end(reply.body ?? "", close);
      });
      const sent =
        typeof reply.body === "string" ? Buffer.byteLength(reply.body) : (reply.body?.length ?? 0);
      observe(request, reply.status, performance.now() - started, error, sent);
    };
    const run = (): void => {
      Promise.resolve()
        .then(() => handler(request))
        .then(
          (reply) => answer(reply),
          (error: unknown) => answer(errorReply(error), error),
        );
    };
    const declared = Number(req.getHeader("content-length") || "0");
    if (declared > limit)
      return answer(errorReply(new ProtocolError("too_large", `the body is over ${limit} bytes`)));
    if (method === "get" || method === "del") return run();
    // Refused before a byte of the body is read; the connection is closed so it never is.
    const hold = (bytes: number): boolean => {
      if (!counted || !(bytes > reserved)) return true; // NaN (a bad header): counted as it arrives
      try {
        budget.reserve(addressHolder(request.address), bytes - reserved, "body");
      } catch (error) {
        answer(errorReply(error), error, true);
        return false;
      }
      reserved = bytes;
      return true;
    };
    if (!hold(declared)) return;
    const parts: Uint8Array[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit)
        return answer(
          errorReply(new ProtocolError("too_large", `the body is over ${limit} bytes`)),
        );
      if (!hold(size)) return;
      parts.push(new Uint8Array(chunk.slice(0))); // uWS reuses `chunk` after this returns
      if (!isLast) return;
      const body = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        body.set(p, at);
        at += p.length;
      }
      request.body = body;
      run();
    });
  });
}
