/** One client session with a relay (or the in-memory hub) over a Transport: handshake, auth, requests matched to answers. */
import { type Clock, type ClockTimer, systemClock } from "../clock.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Message, MessageOf } from "../protocol/messages.js";
import { protocolErrorFrom } from "../protocol/messages.js";
import type { Transport } from "../protocol/transport.js";
import { SUPPORTED_VERSIONS, negotiateVersion } from "../protocol/version.js";

/** Messages a session hands to its owner: pushes, not answers to requests. */
export type PushMessage = MessageOf<"envelopes"> | MessageOf<"presence"> | MessageOf<"ephemeral">;

/** What a {@link Connection} tells its owner. */
export interface ConnectionHandlers {
  /** A push from the relay. Called in arrival order; errors it throws close the session. */
  onPush(message: PushMessage): void;
  /** The session ended (once). `error` says why when it was not a local `close()`. */
  onClose(error: Error | undefined): void;
}

/** How a {@link Connection} tells a live relay from a silent one. */
export interface ConnectionTiming {
  /**
   * After this long without a frame from the relay, the session asks it with a `ping`; after
   * twice this long it is given up on (closed as `unavailable`), and `open()` fails if the
   * handshake takes longer than twice this. A connection that stalls (the network dropped
   * without a reset, a proxy that accepts and holds) is replaced instead of waited on forever.
   */
  keepaliveMs: number;
  /**
   * The clock of the watchdog. Silences are measured on its monotonic time, not the wall
   * clock: set back by an hour, that would make a dead connection look fresh for that hour.
   */
  clock: Clock;
}

/** The version that added `ping`; with an older relay an idle connection is left alone. */
export const PING_SINCE = 2;

/** Requests and the answer type each expects. */
type Answer<T extends Message["type"]> = T extends "subscribe"
  ? MessageOf<"subscribed">
  : T extends "append"
    ? MessageOf<"appended">
    : T extends "appendIf"
      ? MessageOf<"appended"> | MessageOf<"stale">
      : T extends "snapshotGet"
        ? MessageOf<"snapshot">
        : T extends "haveCheck"
          ? MessageOf<"haveResult">
          : MessageOf<"ok">;

type RequestMessage = Extract<Message, { requestId: number }> & {
  type:
    | "auth"
    | "ping"
    | "subscribe"
    | "unsubscribe"
    | "append"
    | "appendIf"
    | "snapshotPut"
    | "snapshotGet"
    | "haveCheck";
};

const CLIENT = { name: "weft-core", version: "0.1.0" };

/**
 * A live session: `open()` runs hello → welcome → auth over a fresh transport; then
 * `request()` sends a message with a new request id and resolves with its answer. Answers may
 * come out of order; pushes go to the handlers. A session is used once: after it closes, the
 * owner opens a new one (and resubscribes).
 */
export class Connection {
  private nextRequestId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (m: Message) => void; reject: (e: Error) => void }
  >();
  private closed = false;
  private readonly unsubscribe: (() => void)[] = [];
  /** The negotiated protocol version once open. */
  version = 0;
  private lastHeard: number;
  private lastBuffered = 0;
  private pinging = false;
  private watchdog: ClockTimer | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly handlers: ConnectionHandlers,
    private readonly timing: ConnectionTiming = { keepaliveMs: 15_000, clock: systemClock },
  ) {
    this.lastHeard = timing.clock.monotonic();
    this.unsubscribe.push(
      transport.on("message", (m) => this.receive(m)),
      transport.on("close", (info) =>
        this.end(new ProtocolError("unavailable", `connection closed: ${info.reason}`)),
      ),
      transport.on("error", (e) => this.end(e)),
    );
  }

  /**
   * Connects, negotiates the version and authenticates with `token`; from then on watches
   * that the relay still answers (see {@link ConnectionTiming}).
   * @throws ProtocolError `unavailable` when the relay cannot be reached or does not answer in time
   */
  async open(token: string): Promise<void> {
    // Checked a few times per keepalive period: the handshake too must not hang forever.
    this.watch();
    await this.transport.connect();
    const welcome = await this.exchange<MessageOf<"welcome">>(
      { type: "hello", versions: SUPPORTED_VERSIONS, client: CLIENT },
      "welcome",
    );
    this.version = negotiateVersion(SUPPORTED_VERSIONS, {
      min: welcome.version,
      max: welcome.version,
    });
    await this.request({ type: "auth", requestId: 0, token });
  }

  /** Sends a request (its `requestId` is replaced) and resolves with the answer. */
  request<M extends RequestMessage>(message: M): Promise<Answer<M["type"]>> {
    const requestId = this.nextRequestId++;
    return new Promise<Answer<M["type"]>>((resolve, reject) => {
      if (this.closed) return reject(new ProtocolError("unavailable", "not connected"));
      this.pending.set(requestId, { resolve: resolve as (m: Message) => void, reject });
      this.sendOrEnd({ ...message, requestId });
    });
  }

  /** Sends a message that has no answer (`ack`, `presence`, `ephemeral`). */
  post(message: MessageOf<"ack"> | MessageOf<"presence"> | MessageOf<"ephemeral">): void {
    if (!this.closed) this.sendOrEnd(message);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Ends the session here. */
  close(reason = "closed by the replica"): void {
    if (this.closed) return;
    this.end(undefined);
    this.transport.close(reason);
  }

  private helloWaiter: ((m: Message) => void) | undefined;

  private exchange<T extends Message>(message: Message, answer: T["type"]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.helloWaiter = (m) => {
        this.helloWaiter = undefined;
        if (m.type === answer) resolve(m as T);
        else if (m.type === "error") reject(protocolErrorFrom(m));
        else reject(new ProtocolError("bad_frame", `expected ${answer}, got ${m.type}`));
      };
      this.pending.set(-1, { resolve: () => undefined, reject });
      this.sendOrEnd(message);
    });
  }

  private sendOrEnd(message: Message): void {
    try {
      this.transport.send(message);
    } catch (error) {
      this.end(error as Error);
      this.transport.close("send failed");
    }
  }

  private receive(m: Message): void {
    if (this.closed) return;
    this.lastHeard = this.timing.clock.monotonic();
    try {
      if (this.helloWaiter) {
        this.pending.delete(-1);
        this.helloWaiter(m);
        return;
      }
      if (m.type === "envelopes" || m.type === "presence" || m.type === "ephemeral") {
        this.handlers.onPush(m);
        return;
      }
      if (m.type === "presenceList") {
        // Protocol 5: each item is a presence of its own.
        for (const item of m.items)
          this.handlers.onPush({ type: "presence", folderId: m.folderId, ...item });
        return;
      }
      const requestId = "requestId" in m ? m.requestId : undefined;
      if (requestId === undefined) {
        // A connection-level error (the relay closes next) or a message a client never gets.
        const error =
          m.type === "error"
            ? protocolErrorFrom(m)
            : new ProtocolError("bad_frame", `unexpected ${m.type}`);
        this.end(error);
        this.transport.close(error.message);
        return;
      }
      const waiter = this.pending.get(requestId);
      if (!waiter) return; // an answer to a request given up on
      this.pending.delete(requestId);
      if (m.type === "error") waiter.reject(protocolErrorFrom(m));
      else waiter.resolve(m);
    } catch (error) {
      // Never let a handler's throw escape into the transport's callback.
      this.end(error as Error);
      this.transport.close("client failed to handle a message");
    }
  }

  /**
   * Gives up on a relay silent for twice the keepalive period (or a handshake that long), and
   * pings one silent for one period. Frames leaving this side count as life too: a large
   * append on a slow uplink keeps the relay quiet until it has all arrived.
   */
  private checkAlive(): void {
    if (this.closed) return;
    const now = this.timing.clock.monotonic();
    const buffered = this.transport.bufferedAmount ?? 0;
    if (buffered !== this.lastBuffered) {
      this.lastBuffered = buffered;
      if (buffered > 0) this.lastHeard = now;
    }
    const silent = now - this.lastHeard;
    const opening = this.version === 0 || this.helloWaiter !== undefined;
    const canPing = !opening && this.version >= PING_SINCE;
    // An old relay that cannot be pinged is only judged while it owes an answer.
    const owed = opening || this.pinging || this.pending.size > 0;
    if (owed && silent >= 2 * this.timing.keepaliveMs) {
      const error = new ProtocolError(
        "unavailable",
        `the relay did not answer for ${Math.round(silent / 1000)} s`,
      );
      this.end(error);
      this.transport.close(error.message);
      return;
    }
    if (canPing && !this.pinging && silent >= this.timing.keepaliveMs) {
      this.pinging = true;
      this.request({ type: "ping", requestId: 0 }).then(
        () => (this.pinging = false),
        () => undefined, // the connection ended; its owner hears that from onClose
      );
    }
  }

  /** Runs {@link checkAlive} a few times per keepalive period until the session ends. */
  private watch(): void {
    this.watchdog = this.timing.clock.setTimeout(
      () => {
        this.checkAlive();
        if (!this.closed) this.watch();
      },
      Math.max(10, this.timing.keepaliveMs / 4),
      { keepAlive: false },
    );
  }

  private end(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.timing.clock.clearTimeout(this.watchdog);
    for (const off of this.unsubscribe) off();
    const reason = error ?? new ProtocolError("unavailable", "connection closed");
    for (const { reject } of this.pending.values()) reject(reason);
    this.pending.clear();
    this.handlers.onClose(error);
  }
}
