/** RelayEndpoints: one relay reached at several addresses, and the rules for moving to the next one. */
import { WeftError } from "../errors.js";
import type { Transport } from "../protocol/transport.js";

/** Answers of a gateway whose relay is gone: the request did not reach a relay that answered. */
const GATEWAY_STATUSES = new Set([502, 503, 504]);
/**
 * Methods that mean the same when sent twice. Not PUT and DELETE: the relay answers a key row
 * or key epoch stored twice with 409, a member removed twice with 404.
 */
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/**
 * Network failures that prove the request never left: nothing reached a relay, so any request,
 * even one that must not run twice (a token refresh), may go to the next address.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);
/** The blob routes: uploads are content-addressed, the rest reads or deletes; all idempotent. */
const BLOB_ROUTE = /\/v1\/folders\/[^/]+\/blobs(\/|$|\?)/;

/**
 * One relay (several identical relays sharing their state, behind one name) reached at one or
 * more base URLs. The first is the relay's identity (what invites and folder records name); the
 * others are the same relay by another road. All clients of one account share one instance, so
 * a failure seen by one (a WebSocket that cannot open, an HTTP request refused) sends the next
 * attempt of every client to the next address.
 *
 * Rules (see PROTOCOL.md, "Several relay addresses"):
 * - a WebSocket that cannot be opened, is lost, or is given up on (a relay silent past the
 *   keepalive) marks its address failed: the owner's next (re)connect, after its usual
 *   backoff, goes to the next address;
 * - an HTTP request that fails at the network level, or is answered 502/503/504, marks its
 *   address failed and is sent once more to the next address when resending is safe: always
 *   when the connection was refused (nothing was sent), otherwise only for idempotent requests
 *   (GET/HEAD, and every blob route: uploads are content-addressed);
 * - never after any other answer (a 4xx, a 500, a success): the relay has spoken.
 */
export class RelayEndpoints {
  /** The base URLs, without a trailing slash; the first is the relay's identity. */
  readonly urls: readonly string[];
  #index = 0;

  /** @throws WeftError INVALID_OPTIONS for no URL or one that is not a plain http(s) URL */
  constructor(urls: string | readonly string[]) {
    const list = typeof urls === "string" ? [urls] : [...(urls ?? [])];
    if (list.length === 0) throw new WeftError("INVALID_OPTIONS", "relay needs at least one URL");
    const bases = list.map(baseOf);
    this.urls = bases.filter((url, i) => bases.indexOf(url) === i);
  }

  /** `value` as endpoints: the same instance when it is one already. */
  static from(value: string | readonly string[] | RelayEndpoints): RelayEndpoints {
    return value instanceof RelayEndpoints ? value : new RelayEndpoints(value);
  }

  /** The first URL: the relay's identity. */
  get primary(): string {
    return this.urls[0]!;
  }

  /** The address the next attempt uses. */
  get current(): string {
    return this.urls[this.#index]!;
  }

  /**
   * `url` failed: the next attempt goes to the address after it. A failure of an address that is
   * no longer the current one (another client moved on already) changes nothing.
   */
  failed(url: string = this.current): void {
    if (url === this.current) this.#index = (this.#index + 1) % this.urls.length;
  }

  /** The WebSocket URL (`ws://…/v1/ws` or `wss://…/v1/ws`) of the current address. */
  wsUrl(): string {
    return `${this.current.replace(/^http/, "ws")}/v1/ws`;
  }

  /**
   * A Replica's `connect`: each call opens `open(wsUrl)` to the current address, and a transport
   * that closes, for whatever reason, marks its address failed, so the owner's next (re)connect,
   * after its own backoff, goes to the next address. Not only a lost connection: one the owner
   * gave up on itself (a relay silent past the keepalive, a handshake that never ended) is the
   * likelier sign of a dead address. Every address reaches the same relay, so moving after a
   * close that was nobody's fault costs nothing; a dead next address costs one backoff.
   */
  connector(open: (wsUrl: string) => Transport): () => Transport {
    return () => {
      const base = this.current;
      const transport = open(this.wsUrl());
      const off = transport.on("close", () => {
        off();
        this.failed(base);
      });
      return transport;
    };
  }

  /**
   * `fetchFn` made to follow these endpoints: a request to a URL under {@link primary} goes to
   * the {@link current} address instead, and is sent once more to the next address by the rules
   * above. Request bodies must be strings or bytes (they may be sent twice); a `Request` object
   * is passed through untouched.
   */
  fetchVia(fetchFn: typeof fetch): typeof fetch {
    const send = (url: string, base: string, init: RequestInit | undefined) =>
      fetchFn(this.#rebase(url, base), init);
    return async (input, init) => {
      // A Request carries its own method and body: sent as it is, to the address it names.
      if (typeof input !== "string" && !(input instanceof URL)) return fetchFn(input, init);
      const url = typeof input === "string" ? input : input.href;
      const first = this.current;
      let response: Response;
      try {
        response = await send(url, first, init);
      } catch (error) {
        // A deadline or close() of the caller: its time is spent, it wants no second try. A
        // deadline still says the address did not answer.
        if (init?.signal?.aborted) {
          if (!isCallerAbort(init.signal.reason)) this.failed(first);
          throw error;
        }
        this.failed(first);
        const next = this.current;
        if (next === first || !(notSent(error) || idempotent(url, init))) throw error;
        return send(url, next, init);
      }
      if (!GATEWAY_STATUSES.has(response.status)) return response;
      this.failed(first);
      const next = this.current;
      if (next === first || !idempotent(url, init)) return response;
      await response.body?.cancel().catch(() => undefined);
      return send(url, next, init);
    };
  }

  #rebase(url: string, base: string): string {
    const primary = this.primary;
    if (base === primary || !url.startsWith(primary)) return url;
    const rest = url.slice(primary.length);
    return rest === "" || /^[/?#]/.test(rest) ? `${base}${rest}` : url;
  }
}

/** A base URL in one form. @throws WeftError INVALID_OPTIONS */
function baseOf(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:"))
    throw new WeftError("INVALID_OPTIONS", "relay must be an http:// or https:// URL");
  if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "")
    throw new WeftError("INVALID_OPTIONS", "relay must have no credentials, query or hash");
  return url.href.replace(/\/+$/, "");
}

/** Whether the failure proves the request never reached anyone (a refused connection). */
function notSent(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown; errors?: { code?: unknown }[] } })?.cause;
  const codes = [
    cause?.code,
    ...(Array.isArray(cause?.errors) ? cause.errors : []).map((e) => e?.code),
  ];
  return codes.some((code) => typeof code === "string" && NOT_SENT_CODES.has(code));
}

/** Whether sending the request twice does what sending it once does. */
function idempotent(url: string, init: RequestInit | undefined): boolean {
  const method = (init?.method ?? "GET").toUpperCase();
  return IDEMPOTENT_METHODS.has(method) || BLOB_ROUTE.test(url);
}

/** An abort the caller chose without a deadline (`close()`), as opposed to a timeout. */
function isCallerAbort(reason: unknown): boolean {
  const name = (reason as { name?: unknown } | undefined)?.name;
  if (name === "TimeoutError") return false;
  // HttpBlobStore's deadline aborts with a ProtocolError `unavailable`.
  if ((reason as { wireCode?: unknown } | undefined)?.wireCode === "unavailable") return false;
  return true;
}
