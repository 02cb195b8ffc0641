/** BlobHttp: one folder's HTTP blob routes over fetch: the token, the deadlines, and error answers as ProtocolErrors. */
import type { ChunkId, FolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError, isProtocolErrorCode } from "../protocol/errors.js";
import { frameLimits } from "../protocol/limits.js";
import { closedError } from "../storage/settle.js";
import { discard, readBody } from "./read-body.js";

// JSON answers are small: 1,024 ids of 64 hex characters are about 70 KiB.
const MAX_JSON_BYTES = 1024 * 1024;
// Of an error body, only the code and a sentence matter.
const MAX_ERROR_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 1024;
// Printable ASCII without space, as `auth` requires of a token: also what an HTTP header can
// carry without the runtime refusing it (and echoing the value in its error).
const TOKEN = /^[\x21-\x7e]+$/;

/** Requests to `<baseUrl>/v1/folders/<folderId>/blobs…`, for {@link HttpBlobStore}. */
export class BlobHttp {
  // Aborts every request in flight when the store closes.
  /**
   * One controller per request in flight, aborted by close(). Not one shared signal: fetch
   * (undici) adds an abort listener per request to the signal it is given and drops it only at
   * garbage collection, so a long-lived shared signal collects thousands of listeners.
   */
  private readonly inflight = new Set<AbortController>();
  private readonly base: string;
  /** Set by {@link close}: every later request refuses. */
  closed = false;

  constructor(
    url: URL,
    folderId: FolderId,
    private readonly origin: string,
    private readonly fetchFn: typeof fetch,
    readonly tokenSource: string | (() => string | Promise<string>),
    private readonly timeoutMs: number,
  ) {
    this.base = `${url.href.replace(/\/+$/, "")}/v1/folders/${folderId}/blobs`;
  }

  /** Aborts the requests in flight; later ones refuse (STORAGE). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const controller of this.inflight) controller.abort();
    this.inflight.clear();
  }

  /**
   * Runs one call: refused once closed; a failure that is not already a WeftError (a socket
   * reset while reading a body, an abort) becomes `unavailable`, or STORAGE once closed.
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
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

  async request(
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
    // Called as a plain function, not as `this.fetchFn(…)`: a browser's fetch called with any
    // `this` but the window (or none) throws "Illegal invocation".
    const fetchFn = this.fetchFn;
    try {
      const response = await fetchFn(`${this.base}${path}`, {
        method,
        headers,
        // The DOM's BodyInit takes only ArrayBuffer-backed views (no SharedArrayBuffer), which
        // every body here is; Node's types accept any Uint8Array.
        body: body as Uint8Array<ArrayBuffer> | string | undefined,
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

  async expectJson(response: Response, ok: number[]): Promise<unknown> {
    if (!ok.includes(response.status)) throw await this.errorFrom(response);
    const text = new TextDecoder().decode(await readBody(response, MAX_JSON_BYTES));
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badAnswer(`the relay answered ${response.status} with a body that is not JSON`);
    }
  }

  async expectEmpty(response: Response, ok: number[], chunk?: ChunkId): Promise<void> {
    if (!ok.includes(response.status)) throw await this.errorFrom(response, chunk);
    await discard(response);
  }

  /** The ProtocolError an error answer stands for; `chunk` names the chunk being stored. */
  async errorFrom(response: Response, chunk?: ChunkId): Promise<ProtocolError> {
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
        // The relay's message names the quota (the folder's, the account's) and its figures.
        `the relay refused to store${what || " more"}: ${this.clean(error.message)}`,
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

/** An answer that breaks the protocol: `bad_frame`. */
export function badAnswer(message: string): ProtocolError {
  return new ProtocolError("bad_frame", message);
}
