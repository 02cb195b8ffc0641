/** A Transport over one WebSocket connection to the relay (browser, Node 22, or `ws` on Node 20). */
import { WeftError } from "../errors.js";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { ProtocolError } from "../protocol/errors.js";
import { frameLimits } from "../protocol/limits.js";
import type { Message } from "../protocol/messages.js";
import { errorMessageFor } from "../protocol/messages.js";
import {
  type Transport,
  type TransportEventMap,
  type TransportListener,
  TransportListeners,
  type TransportState,
} from "../protocol/transport.js";

// Handler properties are compared bivariantly through a method signature, so both the DOM's
// `(event: MessageEvent) => void` and the `ws` package's own event types fit this interface.
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/**
 * The part of the WHATWG WebSocket this transport uses. The browser's `WebSocket`, Node 22's
 * global one and the `ws` package's `WebSocket` all implement it.
 */
export interface WebSocketLike {
  /** Set to `"arraybuffer"` so binary messages arrive as ArrayBuffers. */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Sends one binary message. */
  send(data: Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** The connection opened. */
  onopen: Handler<unknown> | null;
  /** A message arrived: `data` is an ArrayBuffer for binary messages, a string for text. */
  onmessage: Handler<{ data: unknown }> | null;
  /** The connection closed (after `onerror` when it failed). */
  onclose: Handler<{ code: number; reason: string }> | null;
  /** The connection failed; `close` follows. */
  onerror: Handler<unknown> | null;
}

/** The WebSocket class to use: the browser's / Node 22's global, or `ws` on Node 20. */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => WebSocketLike;

/** Options of {@link createWebSocketTransport}. */
export interface WebSocketTransportOptions {
  /**
   * The WebSocket class. Default: `globalThis.WebSocket` (browsers, Node 22+). Node 20 has no
   * global one: pass `WebSocket` from the `ws` package.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * The access token to offer when the socket opens, as the subprotocol `weft.bearer.<token>`
   * beside `weft`. The relay admits frames over 16 KiB only from a socket authenticated this
   * way (its frame limit is chosen at the upgrade); the session still runs `hello` and `auth`.
   * The socket opens once the token is there.
   */
  token?: string | (() => string | Promise<string>);
}

/**
 * Opens one WebSocket connection to `url` (`ws://` or `wss://`, normally `<relay>/v1/ws`) and
 * returns it as a {@link Transport}: it moves one protocol message per binary WebSocket
 * message. The state goes `connecting` → `open` → `closed` and never back; a Replica's
 * `connect` option creates a new transport for each (re)connect, e.g.
 * `connect: () => createWebSocketTransport(url, { WebSocket })`.
 *
 * A frame that is not binary, is over `frameLimits.maxFrameBytes` or does not decode is
 * answered with an `error` message, reported as an `error` event, and the connection closes.
 * Events are delivered in order; a listener that throws becomes an `error` event, never an
 * exception out of a socket callback.
 *
 * @throws WeftError INVALID_OPTIONS for a URL that is not ws:// or wss://, or when no WebSocket
 * class is given and there is no global one
 */
export function createWebSocketTransport(
  url: string,
  options: WebSocketTransportOptions = {},
): Transport {
  const WebSocketClass =
    options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof WebSocketClass !== "function") {
    throw new WeftError(
      "INVALID_OPTIONS",
      "there is no global WebSocket (Node 20): pass one, e.g. { WebSocket } from the ws package",
    );
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== "ws:" && parsed?.protocol !== "wss:")
    throw new WeftError("INVALID_OPTIONS", "url must be a ws:// or wss:// URL");
  const { token } = options;
  return new WebSocketTransport(
    parsed.href,
    parsed.host,
    WebSocketClass,
    typeof token === "string" ? () => token : token,
  );
}

// The standard close codes: 1000 normal; 1002 protocol error (a frame that does not decode);
// 1009 message too big.
const NORMAL = 1000;
const PROTOCOL_ERROR = 1002;
const TOO_BIG = 1009;
/** The subprotocol of the Weft relay, and the prefix of the one that carries a token. */
const SUBPROTOCOL = "weft";
const BEARER = "weft.bearer.";
// A close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5: 125 minus the code).
const MAX_REASON_BYTES = 123;

class WebSocketTransport implements Transport {
  private current: TransportState = "connecting";
  private closeReason = "closed";
  private socket: WebSocketLike | undefined;
  /** Why the socket failed, from its `error` event, for the close reason that follows. */
  private failure: string | undefined;
  private readonly opened: Promise<void>;
  private settleOpened!: (error?: Error) => void;
  private readonly listeners = new TransportListeners((error) =>
    // Outside the socket callback, so the WebSocket's own dispatch is not broken.
    queueMicrotask(() => {
      throw error;
    }),
  );

  get bufferedAmount(): number {
    return (this.socket as { bufferedAmount?: number } | undefined)?.bufferedAmount ?? 0;
  }

  constructor(
    url: string,
    private readonly host: string,
    WebSocketClass: WebSocketConstructor,
    token?: () => string | Promise<string>,
  ) {
    this.opened = new Promise<void>((resolve, reject) => {
      this.settleOpened = (error) => (error ? reject(error) : resolve());
    });
    // Handled here so that a transport nobody awaits does not report an unhandled rejection;
    // callers of connect() and whenReady() still see it.
    this.opened.catch(() => undefined);
    if (token === undefined) {
      this.openSocket(url, WebSocketClass, undefined);
      return;
    }
    // A token function that throws is a connection that failed, like an unreachable relay.
    new Promise<string>((resolve) => resolve(token())).then(
      (value) => {
        if (this.current === "connecting")
          this.openSocket(url, WebSocketClass, [SUBPROTOCOL, `${BEARER}${value}`]);
      },
      (error: unknown) => this.remoteClosed(`no access token: ${describe(error)}`),
    );
  }

  private openSocket(
    url: string,
    WebSocketClass: WebSocketConstructor,
    protocols: string[] | undefined,
  ): void {
    let socket: WebSocketLike;
    try {
      socket = protocols ? new WebSocketClass(url, protocols) : new WebSocketClass(url);
    } catch (error) {
      // E.g. a port the browser blocks: a connection that failed at once, so the owner's usual
      // reconnect logic applies instead of an exception from its connect callback.
      queueMicrotask(() => this.remoteClosed(`cannot open a WebSocket: ${describe(error)}`));
      return;
    }
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.onOpen();
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = (event) => {
      // The browser's error event says nothing; `ws` puts the cause (ECONNREFUSED…) in
      // `message`. Either way `close` follows, and closing is how the owner learns of it.
      const message = (event as { message?: unknown } | null)?.message;
      this.failure = typeof message === "string" && message !== "" ? message : "connection failed";
    };
    socket.onclose = (event) => {
      const reason = event.reason || this.failure || `closed with code ${event.code}`;
      this.remoteClosed(reason);
    };
  }

  get state(): TransportState {
    return this.current;
  }

  connect(): Promise<void> {
    return this.whenReady();
  }

  whenReady(): Promise<void> {
    if (this.current === "open") return Promise.resolve();
    if (this.current === "closed") return Promise.reject(this.closedError());
    return this.opened;
  }

  send(message: Message): void {
    if (this.current !== "open" || this.socket === undefined) throw this.closedError();
    const frame = encodeMessage(message);
    try {
      this.socket.send(frame);
    } catch (error) {
      throw new ProtocolError("unavailable", `cannot send to ${this.host}`, { cause: error });
    }
  }

  on<E extends keyof TransportEventMap>(event: E, listener: TransportListener<E>): () => void {
    return this.listeners.on(event, listener);
  }

  close(reason = "closed"): void {
    this.closeWith(NORMAL, reason);
  }

  private closeWith(code: number, reason: string): void {
    if (this.current === "closed") return;
    const wasConnecting = this.current === "connecting";
    this.current = "closed";
    this.closeReason = reason;
    closeSocket(this.socket, code, reason);
    if (wasConnecting) this.settleOpened(this.closedError());
    // Later socket events are ignored (the state is final), so this is the only close event.
    queueMicrotask(() => this.emit("close", { reason, remote: false }));
  }

  private onOpen(): void {
    if (this.current !== "connecting") return;
    this.current = "open";
    this.settleOpened();
    this.emit("open", undefined);
  }

  private receive(data: unknown): void {
    if (this.current !== "open") return; // like bytes reaching a socket that was closed
    let message: Message;
    try {
      message = decodeMessage(frameOf(data));
    } catch (error) {
      // The two ends can no longer be sure they agree on the state: say why with an `error`
      // frame (as the relay does), report it here, and close.
      const problem =
        error instanceof ProtocolError
          ? error
          : new ProtocolError("bad_frame", "frame could not be decoded", { cause: error });
      try {
        this.socket?.send(encodeMessage(errorMessageFor(problem)));
      } catch {
        // The socket is going away anyway; the close below still happens.
      }
      this.emit("error", problem);
      const code = problem.wireCode === "too_large" ? TOO_BIG : PROTOCOL_ERROR;
      this.closeWith(code, `undecodable frame: ${problem.message}`);
      return;
    }
    this.emit("message", message);
  }

  private remoteClosed(reason: string): void {
    if (this.current === "closed") return;
    const wasConnecting = this.current === "connecting";
    this.current = "closed";
    this.closeReason = reason;
    if (wasConnecting) this.settleOpened(this.closedError());
    this.emit("close", { reason, remote: true });
  }

  private emit<E extends keyof TransportEventMap>(event: E, payload: TransportEventMap[E]): void {
    this.listeners.emit(event, payload);
  }

  private closedError(): ProtocolError {
    return new ProtocolError(
      "unavailable",
      `WebSocket to ${this.host} is closed (${this.closeReason})`,
    );
  }
}

/**
 * The frame in a message event's `data`.
 * @throws ProtocolError `bad_frame` for a text message (the protocol is binary only),
 * `too_large` over `frameLimits.maxFrameBytes`, checked before anything is decoded
 */
function frameOf(data: unknown): Uint8Array {
  let frame: Uint8Array;
  if (data instanceof ArrayBuffer) frame = new Uint8Array(data);
  else if (ArrayBuffer.isView(data))
    frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else if (typeof data === "string")
    throw new ProtocolError("bad_frame", "a text message; the protocol sends binary frames only");
  else throw new ProtocolError("bad_frame", "a message that is not an ArrayBuffer");
  if (frame.length > frameLimits.maxFrameBytes) {
    throw new ProtocolError(
      "too_large",
      `frame of ${frame.length} bytes is over the limit of ${frameLimits.maxFrameBytes}`,
    );
  }
  return frame;
}

/** Closes `socket` with `code` and `reason`, never throwing. */
function closeSocket(socket: WebSocketLike | undefined, code: number, reason: string): void {
  if (socket === undefined) return;
  const short = fitReason(reason);
  try {
    socket.close(code, short);
  } catch {
    // Browsers accept only 1000 and 3000–4999 from scripts (1002 and 1009 throw there); the
    // reason still says what happened.
    try {
      socket.close(NORMAL, short);
    } catch {
      // Nothing more to do: the socket is unusable either way.
    }
  }
}

/** `reason` cut at a code point boundary to at most {@link MAX_REASON_BYTES} bytes of UTF-8. */
function fitReason(reason: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(reason).length <= MAX_REASON_BYTES) return reason;
  let out = "";
  let bytes = 0;
  for (const ch of reason) {
    const size = encoder.encode(ch).length;
    if (bytes + size > MAX_REASON_BYTES - 3) break;
    out += ch;
    bytes += size;
  }
  return `${out}...`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
