/** The Transport interface (a message pipe to the relay or a peer) and an in-memory pair of it. */
import { decodeMessage, encodeMessage } from "./codec.js";
import { ProtocolError } from "./errors.js";
import { errorMessageFor } from "./messages.js";
import type { Message } from "./messages.js";

/** Where a transport is in its life: `closed` is final. */
export type TransportState = "connecting" | "open" | "closed";

/** Why a transport closed. */
export interface TransportCloseInfo {
  /** For people and logs. */
  reason: string;
  /** True when the other end (or the network) closed it, false when `close()` was called here. */
  remote: boolean;
}

/** The events of a {@link Transport} and the payload each listener receives. */
export interface TransportEventMap {
  /** The connection is open (again): sending works. */
  open: undefined;
  /** A decoded, validated message from the other end. */
  message: Message;
  /** The connection closed; for a transport that reconnects, `open` may follow. */
  close: TransportCloseInfo;
  /** Something failed (an undecodable frame, a throwing listener); usually followed by `close`. */
  error: Error;
}

/** A listener for event `E`. */
export type TransportListener<E extends keyof TransportEventMap> = (
  payload: TransportEventMap[E],
) => void;

/**
 * A bidirectional pipe of protocol messages: to the relay over WebSocket, to another process,
 * or in memory for tests. It moves whole {@link Message}s, encoding and decoding with the one
 * codec, and knows nothing of folders, requests or retries; those belong to its user.
 *
 * Events are delivered asynchronously and in order. Implementations never throw from an event
 * callback: a frame that fails to decode becomes an `error` event and closes the connection.
 */
export interface Transport {
  /** The current state. */
  readonly state: TransportState;
  /** Starts connecting if not already; resolves once open, rejects if it closes for good first. */
  connect(): Promise<void>;
  /** Resolves when the transport is open (at once if it is); rejects if it is closed for good. */
  whenReady(): Promise<void>;
  /**
   * Sends one message. Synchronous so that a caller's messages keep their order.
   * @throws ProtocolError `unavailable` unless open; `bad_frame`/`too_large` for an invalid message
   */
  send(message: Message): void;
  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof TransportEventMap>(event: E, listener: TransportListener<E>): () => void;
  /** Closes the connection (both directions). Messages already sent are still delivered. */
  close(reason?: string): void;
  /**
   * Bytes sent but not yet handed to the network, when the transport can tell (a WebSocket's
   * `bufferedAmount`). A connection whose relay is silent while this shrinks is busy carrying
   * a large frame, not dead.
   */
  readonly bufferedAmount?: number;
}

/** One end of {@link createMemoryTransportPair}: a {@link Transport} with counters for tests. */
export interface MemoryTransport extends Transport {
  /** Frames sent from this end, and their total size: what a relay link would carry. */
  readonly framesSent: number;
  /** Total bytes of the frames sent from this end. */
  readonly bytesSent: number;
  /**
   * Delivers `frame` to the other end as it is, without encoding: for tests of how a peer
   * handles malformed input: the receiver gets an `error` event, answers with an `error`
   * message, and the pair closes.
   */
  sendRaw(frame: Uint8Array): void;
}

/**
 * The listeners of a {@link Transport} and the one rule every implementation follows for a
 * listener that throws: it becomes an `error` event, because a throw from a socket or microtask
 * callback would crash the process; a throw from an `error` listener, or with none, goes to
 * `unhandled` so it is not lost.
 */
export class TransportListeners {
  private readonly sets: { [E in keyof TransportEventMap]: Set<TransportListener<E>> } = {
    open: new Set(),
    message: new Set(),
    close: new Set(),
    error: new Set(),
  };

  constructor(private readonly unhandled: (error: unknown) => void) {}

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof TransportEventMap>(event: E, listener: TransportListener<E>): () => void {
    const set = this.sets[event] as Set<TransportListener<E>>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Calls every listener of `event`, in the order added. */
  emit<E extends keyof TransportEventMap>(event: E, payload: TransportEventMap[E]): void {
    // A copy, so a listener may remove itself (or add others) while being called.
    for (const listener of [...(this.sets[event] as Set<TransportListener<E>>)]) {
      try {
        listener(payload);
      } catch (error) {
        if (event === "error" || this.sets.error.size === 0) this.unhandled(error);
        else this.emit("error", error instanceof Error ? error : new Error(String(error)));
      }
    }
  }
}

/**
 * Two connected in-memory transports: what one sends, the other receives. Every message goes
 * through `encodeMessage` and `decodeMessage`, so tests exercise the real codec and its
 * validation, and a receiver never shares an object with the sender.
 *
 * Both ends start open and emit `open` in a microtask (listeners added right after creation see
 * it). Delivery is asynchronous (queueMicrotask), in order, each direction independent, like a
 * socket: nothing is delivered inside `send`. Closing either end closes both; frames sent before
 * `close()` still arrive first, frames still travelling towards the closed end are dropped.
 */
export function createMemoryTransportPair(): [MemoryTransport, MemoryTransport] {
  const a = new MemoryEnd("a");
  const b = new MemoryEnd("b");
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryEnd implements MemoryTransport {
  peer: MemoryEnd | undefined;
  framesSent = 0;
  bytesSent = 0;
  private current: TransportState = "open";
  private readonly listeners = new TransportListeners((error) => {
    // Thrown from a delivery microtask: an uncaught error, not a silent loss.
    throw error;
  });

  constructor(private readonly label: string) {
    queueMicrotask(() => {
      if (this.current === "open") this.emit("open", undefined);
    });
  }

  get state(): TransportState {
    return this.current;
  }

  connect(): Promise<void> {
    return this.whenReady();
  }

  whenReady(): Promise<void> {
    return this.current === "open" ? Promise.resolve() : Promise.reject(this.closedError());
  }

  send(message: Message): void {
    if (this.current !== "open") throw this.closedError();
    this.transmit(encodeMessage(message));
  }

  sendRaw(frame: Uint8Array): void {
    if (this.current !== "open") throw this.closedError();
    this.transmit(frame.slice());
  }

  on<E extends keyof TransportEventMap>(event: E, listener: TransportListener<E>): () => void {
    return this.listeners.on(event, listener);
  }

  close(reason = "closed"): void {
    if (this.current === "closed") return;
    this.current = "closed";
    const peer = this.peer;
    queueMicrotask(() => this.emit("close", { reason, remote: false }));
    // Queued after every frame this end sent, so those arrive before the peer learns of it.
    queueMicrotask(() => peer?.remoteClosed(reason));
  }

  private transmit(frame: Uint8Array): void {
    this.framesSent++;
    this.bytesSent += frame.length;
    const peer = this.peer;
    queueMicrotask(() => peer?.receive(frame));
  }

  private receive(frame: Uint8Array): void {
    if (this.current !== "open") return; // like bytes reaching a socket that was closed
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      // The connection cannot be trusted to stay in step after a bad frame: tell the sender
      // why with an `error` frame (as the relay does), report it here, and close.
      this.transmit(encodeMessage(errorMessageFor(error)));
      this.emit("error", error as Error);
      this.close(`undecodable frame: ${(error as Error).message}`);
      return;
    }
    this.emit("message", message);
  }

  private remoteClosed(reason: string): void {
    if (this.current === "closed") return;
    this.current = "closed";
    this.emit("close", { reason, remote: true });
  }

  private emit<E extends keyof TransportEventMap>(event: E, payload: TransportEventMap[E]): void {
    this.listeners.emit(event, payload);
  }

  private closedError(): ProtocolError {
    return new ProtocolError("unavailable", `memory transport ${this.label} is closed`);
  }
}
