/** One JSON call to the relay's HTTP API, with its errors made clear and free of secrets. */
import { fromBase64Url } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { ProtocolError, isProtocolErrorCode } from "../protocol/errors.js";
import { readBody } from "./read-body.js";
import { RelayEndpoints } from "./relay-endpoints.js";

/** Where the relay is and how to reach it. */
export interface RelayHttpOptions {
  /**
   * The relay's HTTP base URL, e.g. `"https://relay.example"` or `"http://127.0.0.1:8787"`; or
   * several addresses of one relay (the first is its identity), tried in turn by the rules of
   * {@link RelayEndpoints}.
   */
  relay: string | readonly string[] | RelayEndpoints;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Give up on a request after this long (default 30 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// Answers of these routes are a few hundred bytes; an error needs only a code and a sentence.
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_MESSAGE_CHARS = 512;
// Printable ASCII without space: what `Authorization: Bearer` can carry.
const TOKEN = /^[\x21-\x7e]{1,4096}$/;

/** Whether `value` can be sent as a bearer token. */
export function isTokenText(value: unknown): value is string {
  return typeof value === "string" && TOKEN.test(value);
}

/** The relay's HTTP API at one base URL. */
export class RelayHttp {
  /** The base URL without a trailing slash: the first address, the relay's identity. */
  readonly base: string;
  /** Every address of the relay, and which one is in use. */
  readonly endpoints: RelayEndpoints;
  /** The fetch requests go through (following {@link endpoints} when there are several). */
  readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  /** @throws WeftError INVALID_OPTIONS for a malformed URL, timeout or fetch */
  constructor(options: RelayHttpOptions) {
    const endpoints = RelayEndpoints.from(options?.relay);
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== "function")
      throw new WeftError("INVALID_OPTIONS", "there is no global fetch: pass options.fetch");
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new WeftError("INVALID_OPTIONS", "timeoutMs must be a positive number");
    this.endpoints = endpoints;
    this.base = endpoints.primary;
    // One address: the fetch as given, so nothing changes for the common case.
    this.fetchFn = endpoints.urls.length > 1 ? endpoints.fetchVia(fetchFn) : fetchFn;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Sends `body` as JSON and returns the JSON answer (`{}` for an empty one).
   * @param init.token - the access token, sent as a bearer token
   * @param init.secrets - strings never to repeat in an error, should the relay echo them
   * @throws ProtocolError with the relay's code and message for an error status, `unavailable`
   * when it cannot be reached in time, `bad_frame` for an answer that is not a JSON object
   */
  async call(
    method: string,
    path: string,
    init: { body?: unknown; token?: string; secrets?: readonly string[] } = {},
  ): Promise<Record<string, unknown>> {
    const { body, token } = init;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token !== undefined) {
      // Checked here so that fetch never refuses a header and quotes it in its error.
      if (!isTokenText(token))
        throw new WeftError("INVALID_OPTIONS", "the access token is not printable ASCII");
      headers["authorization"] = `Bearer ${token}`;
    }
    const what = `${method} ${redact(path)}`;
    let response: Response;
    let text: string;
    // Called as a plain function, not as `this.fetchFn(…)`: a browser's fetch called with any
    // `this` but the window (or none) throws "Illegal invocation".
    const fetchFn = this.fetchFn;
    try {
      response = await fetchFn(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await readText(response);
    } catch (error) {
      if (error instanceof WeftError) throw error;
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      const why = typeof code === "string" ? ` (${code})` : "";
      throw new ProtocolError(
        "unavailable",
        `cannot reach the relay at ${this.base}${why} for ${what}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    let json: unknown = {};
    let parsed = true;
    if (text !== "") {
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        parsed = false;
      }
    }
    const secrets = [...(init.secrets ?? []), ...(token === undefined ? [] : [token])];
    if (response.status >= 400) throw refusal(what, response.status, json, secrets);
    if (!parsed || typeof json !== "object" || json === null || Array.isArray(json))
      throw new ProtocolError("bad_frame", `the relay's answer to ${what} is not a JSON object`);
    return json as Record<string, unknown>;
  }
}

/**
 * A checked field of an answer. @throws ProtocolError `bad_frame` naming the field when it is
 * missing or of another type (a number must be a non-negative safe integer)
 */
export function field<T extends "string" | "number">(
  json: Record<string, unknown>,
  name: string,
  answer: string,
  type: T,
): T extends "string" ? string : number {
  const value = json[name];
  const ok =
    type === "string"
      ? typeof value === "string" && value !== ""
      : Number.isSafeInteger(value) && (value as number) >= 0;
  if (!ok) throw new ProtocolError("bad_frame", `the ${answer} answer has no valid ${name}`);
  return value as T extends "string" ? string : number;
}

/**
 * A base64url field of an answer as bytes, of exactly `length` bytes when given.
 * @throws ProtocolError `bad_frame` naming the field
 */
export function bytesField(
  json: Record<string, unknown>,
  name: string,
  answer: string,
  length?: number,
): Uint8Array {
  const text = field(json, name, answer, "string");
  let bytes: Uint8Array | undefined;
  try {
    bytes = fromBase64Url(text);
  } catch {
    bytes = undefined;
  }
  if (bytes === undefined || (length !== undefined && bytes.length !== length))
    throw new ProtocolError("bad_frame", `the ${answer} answer has a malformed ${name}`);
  return bytes;
}

/** The error an error status stands for, in the relay's words. */
function refusal(
  what: string,
  status: number,
  json: unknown,
  secrets: readonly string[],
): ProtocolError {
  const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = isProtocolErrorCode(error?.code) ? error.code : fallbackCode(status);
  const reason =
    typeof error?.message === "string" && error.message !== ""
      ? clean(error.message, secrets)
      : `HTTP ${status}`;
  return new ProtocolError(code, `the relay refused ${what}: ${reason}`);
}

function fallbackCode(status: number) {
  if (status === 401) return "unauthorized" as const;
  if (status === 403) return "forbidden" as const;
  if (status === 404) return "not_found" as const;
  if (status === 409) return "conflict" as const;
  if (status === 429) return "rate_limited" as const;
  return status >= 500 ? ("unavailable" as const) : ("bad_frame" as const);
}

/** The relay's message, cut short, with any secret the client knows and any bearer removed. */
function clean(message: string, secrets: readonly string[]): string {
  let text = message.slice(0, MAX_MESSAGE_CHARS);
  for (const secret of secrets) if (secret !== "") text = text.split(secret).join("[secret]");
  return text.replace(/Bearer\s+\S+/gi, "Bearer [token]");
}

/** A path as errors show it: an invite id is as good as the invite to whoever has an account. */
function redact(path: string): string {
  return path.replace(/\/invites\/[^/]+/, "/invites/…");
}

/** The body as text, refused past {@link MAX_ANSWER_BYTES}. */
async function readText(response: Response): Promise<string> {
  return new TextDecoder().decode(await readBody(response, MAX_ANSWER_BYTES));
}
