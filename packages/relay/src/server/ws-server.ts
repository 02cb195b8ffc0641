/**
 * The relay's WebSocket endpoint `/v1/ws`: admission (sockets per address, unauthenticated
 * sockets per address and in all, a deadline to authenticate) and frame limits by state, in
 * front of the transport-free {@link ProtocolServer} (which also limits each socket's message
 * rate).
 */
import {
  type Message,
  ProtocolError,
  encodeMessage,
  errorMessageFor,
  frameLimits,
  messageFrameLimits,
} from "@weft/core";
import {
  type Principal,
  type ProtocolConnection,
  type ProtocolServer,
  newConnectionState,
} from "@weft/core/server";
import type uWS from "uWebSockets.js";
import {
  BUDGET_RETRY_SECONDS,
  type ByteBudget,
  type Holder,
  accountHolder,
  addressHolder,
} from "./byte-budget.js";

/** How many sockets, in which state, the endpoint admits; see THREAT_MODEL.md for the bound. */
export interface SocketLimits {
  /** Open sockets one client address may hold (a NAT of a few dozen devices fits). */
  perAddress: number;
  /** Sockets not yet authenticated that one address may hold. */
  preAuthPerAddress: number;
  /** Sockets not yet authenticated, in all. */
  preAuthTotal: number;
  /** Seconds a socket has from its upgrade to a successful `auth`; then it is closed. */
  preAuthSeconds: number;
  /** Messages per second one socket may send, in bursts of ten times that (the ProtocolServer counts them). */
  messagesPerSecond: number;
}

/** The defaults of {@link SocketLimits}. */
export const DEFAULT_SOCKET_LIMITS: Readonly<SocketLimits> = Object.freeze({
  perAddress: 256,
  preAuthPerAddress: 16,
  preAuthTotal: 1024,
  preAuthSeconds: 10,
  messagesPerSecond: 500,
});

/**
 * Largest frame a socket that was not authenticated at its upgrade may send: `hello` and
 * `auth` fit, an append of a small index update fits, a 16 MiB frame does not. uWS buffers a
 * partial frame up to the route's `maxPayloadLength`, so this is what an unauthenticated
 * socket can make the relay hold.
 */
export const SMALL_FRAME_BYTES = 16 * 1024;
/** The subprotocol a client offers, with `weft.bearer.<access token>`, to authenticate at upgrade. */
export const SUBPROTOCOL = "weft";
const BEARER = "weft.bearer.";

/** What the endpoint reports, for metrics and the audit stream. */
export interface SocketEvents {
  /** A socket was accepted. */
  opened(): void;
  bytesIn(bytes: number): void;
  bytesOut(bytes: number): void;
  refused(reason: string): void;
  slowConsumerClosed(): void;
}

interface SocketData {
  session?: ProtocolConnection;
  gone: boolean;
  address: string;
  /** Authenticated (at upgrade, or by `auth` since): no longer counted as pre-auth. */
  authenticated: boolean;
  /** The principal its upgrade token named, adopted by the service at open. */
  upgradePrincipal?: Principal;
  /** That token (an `auth` with the same one is answered without checking it again). */
  upgradeToken?: string;
  /** Monotonic milliseconds by which a pre-auth socket must authenticate. */
  deadline: number;
  /** Whose budget its bytes count against: its account if authenticated at upgrade, else its address. */
  holder: Holder;
  /** Bytes reserved in the budget for its partial frame (its route's frame limit). */
  reserved: number;
}

/** The running endpoint: counts for metrics, and the hooks the relay's timers and close use. */
export interface SocketServer {
  readonly open: number;
  readonly preAuth: number;
  /** The most bytes waiting in one socket's send buffer (a reader falling behind the fan-out). */
  maxBufferedBytes(): number;
  /**
   * Closes pre-auth sockets past their deadline and tells the budget what each holder's
   * sockets have queued (the relay calls this every second).
   */
  sweep(): void;
  /** Closes every socket (shutdown). */
  closeAll(): void;
}

/**
 * Registers `/v1/ws` on `app` twice, one path with two frame limits: a socket whose upgrade
 * carries a valid access token (subprotocol `weft.bearer.<token>`) gets the full frame limit;
 * any other gets {@link SMALL_FRAME_BYTES}, counts as pre-auth until its `auth` succeeds, and is
 * closed if that takes longer than `preAuthSeconds`. uWS sets the frame limit per route, not per
 * socket, so which route a socket lands on is decided at its upgrade. Each socket reserves its
 * route's frame limit in `budget` while it is open (uWS buffers a partial frame out of the
 * relay's sight, so what it may hold is what counts): against its account when its upgrade was
 * authenticated (so many devices behind one address, an office's NAT, are not limited by it),
 * against its address otherwise. An upgrade the budget cannot cover, or one while the relay's
 * memory is past its guard, is refused with 503 and `Retry-After`.
 */
export function registerSocketServer(
  app: uWS.TemplatedApp,
  service: ProtocolServer,
  authenticate: (token: string) => Principal | Promise<Principal>,
  limits: SocketLimits,
  events: SocketEvents,
  budget: ByteBudget,
  now: () => number = () => performance.now(),
): SocketServer {
  const perAddress = new Map<string, number>();
  const preAuthPerAddress = new Map<string, number>();
  const sockets = new Set<uWS.WebSocket<SocketData>>();
  const pending = new Set<uWS.WebSocket<SocketData>>();

  const count = (map: Map<string, number>, key: string, delta: number): void => {
    const n = (map.get(key) ?? 0) + delta;
    if (n > 0) map.set(key, n);
    else map.delete(key);
  };
  const refuse = (res: uWS.HttpResponse, status: string, code: string, message: string): void => {
    events.refused(message);
    res.cork(() => {
      res.writeStatus(status);
      if (code === "rate_limited") res.writeHeader("retry-after", "10");
      if (code === "unavailable") res.writeHeader("retry-after", String(BUDGET_RETRY_SECONDS));
      res.end(JSON.stringify({ error: { code, message } }));
    });
  };
  const admit = (res: uWS.HttpResponse, address: string, preAuth: boolean): boolean => {
    if ((perAddress.get(address) ?? 0) >= limits.perAddress) {
      refuse(res, "429 Too Many Requests", "rate_limited", "too many connections");
      return false;
    }
    if (
      preAuth &&
      (pending.size >= limits.preAuthTotal ||
        (preAuthPerAddress.get(address) ?? 0) >= limits.preAuthPerAddress)
    ) {
      refuse(res, "429 Too Many Requests", "rate_limited", "too many unauthenticated connections");
      return false;
    }
    return true;
  };
  /** Reserves a socket's frame limit; refused (503) when its holder or the relay is over budget. */
  const reserve = (res: uWS.HttpResponse, holder: Holder, bytes: number): boolean => {
    try {
      budget.reserve(holder, bytes, "frame");
      return true;
    } catch (error) {
      refuse(res, "503 Service Unavailable", "unavailable", (error as Error).message);
      return false;
    }
  };
  const upgradeTo = (
    res: uWS.HttpResponse,
    req: uWS.HttpRequest,
    context: uWS.us_socket_context_t,
    data: SocketData,
    protocol: string,
  ): void => {
    res.upgrade<SocketData>(
      data,
      req.getHeader("sec-websocket-key"),
      protocol,
      req.getHeader("sec-websocket-extensions"),
      context,
    );
  };
  const fresh = (
    address: string,
    holder: Holder,
    authenticated: boolean,
    reserved: number,
  ): SocketData => ({
    gone: false,
    address,
    holder,
    authenticated,
    deadline: now() + limits.preAuthSeconds * 1000,
    reserved,
  });

  const behavior = (
    maxPayloadLength: number,
  ): Omit<uWS.WebSocketBehavior<SocketData>, "upgrade"> => ({
    maxPayloadLength,
    maxBackpressure: 4 * frameLimits.maxFrameBytes,
    // A published frame past maxBackpressure is dropped by uWS, silently, like a sent one
    // (below): the socket is closed instead (1006), and its client resubscribes from what it
    // has applied.
    // (typed as a number by uWS, read as a boolean)
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    open: (ws) => {
      const data = ws.getUserData();
      sockets.add(ws);
      events.opened();
      count(perAddress, data.address, 1);
      if (!data.authenticated) {
        pending.add(ws);
        count(preAuthPerAddress, data.address, 1);
      }
      data.session = {
        ...newConnectionState(),
        send: (m: Message) => data.session!.sendFrame(encodeMessage(m)),
        sendFrame: (frame: Uint8Array) => {
          if (data.gone) return;
          events.bytesOut(frame.length);
          let dropped = false;
          ws.cork(() => {
            dropped = ws.send(frame, true) === 2;
          });
          // uWS drops a frame, silently, once a reader is maxBackpressure behind. A client
          // missing one log entry would wait for it forever; closed, it reconnects and
          // resubscribes from what it has applied.
          if (dropped) {
            events.slowConsumerClosed();
            data.gone = true;
            ws.end(1013, "too far behind; reconnect and resubscribe");
          }
        },
        bufferedAmount: () => (data.gone ? 0 : ws.getBufferedAmount()),
        // A folder's live entries: one publish hands the frame to uWS once, which copies it to
        // each subscriber in C++ and writes what a subscriber got in one loop turn at once.
        join: (folderId) => {
          if (!data.gone) ws.subscribe(folderId);
        },
        leave: (folderId) => {
          if (!data.gone) ws.unsubscribe(folderId);
        },
        // The server publishes through any socket on the topic: one that is closing (a slow
        // consumer ended, a session expired) still publishes, through the app, or every other
        // subscriber would miss the entry. A closed socket is off its topics already.
        publish: (folderId, frame, self) => {
          const viaApp = self || data.gone;
          const to = app.numSubscribers(folderId) - (viaApp ? 0 : 1);
          if (to > 0) events.bytesOut(frame.length * to);
          if (viaApp) app.publish(folderId, frame, true);
          else ws.publish(folderId, frame, true);
        },
        close: (code, reason) => {
          if (!data.gone) ws.end(code, reason);
        },
        authenticated: () => {
          if (data.authenticated) return;
          data.authenticated = true;
          pending.delete(ws);
          count(preAuthPerAddress, data.address, -1);
        },
      };
      if (data.upgradePrincipal)
        try {
          service.adopt(data.session, data.upgradePrincipal, data.upgradeToken);
        } catch (error) {
          data.session.send(errorMessageFor(error));
          data.session.close(1008, (error as Error).message);
        }
    },
    message: (ws, bytes, isBinary) => {
      events.bytesIn(bytes.byteLength);
      service.receive(ws.getUserData().session!, new Uint8Array(bytes.slice(0)), isBinary);
    },
    drain: (ws) => {
      const session = ws.getUserData().session;
      if (session) service.drained(session);
    },
    close: (ws) => {
      const data = ws.getUserData();
      data.gone = true;
      sockets.delete(ws);
      budget.release(data.holder, data.reserved, "frame");
      count(perAddress, data.address, -1);
      if (pending.delete(ws)) count(preAuthPerAddress, data.address, -1);
      if (data.session) service.closed(data.session);
    },
  });

  // Matched first (a static path before a parametric one): a valid token at upgrade. Without
  // one the request yields to the small route below; with a bad one it is refused here.
  app.ws<SocketData>("/v1/ws", {
    ...behavior(frameLimits.maxFrameBytes),
    upgrade: (res, req, context) => {
      const token = bearerOf(req.getHeader("sec-websocket-protocol"));
      if (token === undefined) {
        req.setYield(true);
        return;
      }
      const address = Buffer.from(res.getRemoteAddressAsText()).toString();
      // The token is checked against the store, asynchronously: the request is read now (uWS
      // frees it when this returns), the abort handler set before the first await, and the
      // answer corked after it.
      const key = req.getHeader("sec-websocket-key");
      const extensions = req.getHeader("sec-websocket-extensions");
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      void (async () => {
        let principal: Principal;
        try {
          principal = await authenticate(token);
        } catch (error) {
          if (aborted) return;
          const message = error instanceof Error ? error.message : "the token is not valid";
          refuse(res, "401 Unauthorized", "unauthorized", message);
          return;
        }
        if (aborted || !admit(res, address, false)) return;
        const holder = accountHolder(principal.accountId);
        if (!reserve(res, holder, frameLimits.maxFrameBytes)) return;
        const data = {
          ...fresh(address, holder, true, frameLimits.maxFrameBytes),
          upgradePrincipal: principal,
          upgradeToken: token,
        };
        // Released by `close`, which uWS calls for every socket `open` was called for.
        res.cork(() => res.upgrade<SocketData>(data, key, SUBPROTOCOL, extensions, context));
      })();
    },
  });
  app.ws<SocketData>("/v1/:socket", {
    ...behavior(SMALL_FRAME_BYTES),
    upgrade: (res, req, context) => {
      if (req.getParameter(0) !== "ws") {
        req.setYield(true);
        return;
      }
      const address = Buffer.from(res.getRemoteAddressAsText()).toString();
      const holder = addressHolder(address);
      if (!admit(res, address, true) || !reserve(res, holder, SMALL_FRAME_BYTES)) return;
      const offered = req.getHeader("sec-websocket-protocol");
      upgradeTo(
        res,
        req,
        context,
        fresh(address, holder, false, SMALL_FRAME_BYTES),
        offered.split(",").some((p) => p.trim() === SUBPROTOCOL) ? SUBPROTOCOL : "",
      );
    },
  });

  return {
    get open() {
      return sockets.size;
    },
    get preAuth() {
      return pending.size;
    },
    maxBufferedBytes: () => {
      let max = 0;
      for (const ws of sockets)
        if (!ws.getUserData().gone) max = Math.max(max, ws.getBufferedAmount());
      return max;
    },
    sweep: () => {
      const queued = new Map<Holder, number>();
      for (const ws of sockets) {
        const data = ws.getUserData();
        const n = data.gone ? 0 : ws.getBufferedAmount();
        if (n > 0) queued.set(data.holder, (queued.get(data.holder) ?? 0) + n);
      }
      budget.measured(queued);
      const t = now();
      for (const ws of [...pending]) {
        const data = ws.getUserData();
        if (data.deadline > t || data.gone) continue;
        data.session?.send(
          errorMessageFor(
            new ProtocolError(
              "unauthorized",
              `authenticate within ${limits.preAuthSeconds} s of connecting`,
            ),
          ),
        );
        data.gone = true;
        // close(), not end(): the socket may hold a partial frame, freed only when it is gone.
        ws.close();
      }
    },
    closeAll: () => {
      for (const ws of [...sockets]) ws.end(1001, "relay shutting down");
    },
  };
}

/** The access token a `Sec-WebSocket-Protocol` header offers as `weft.bearer.<token>`. */
function bearerOf(header: string): string | undefined {
  for (const part of header.split(",")) {
    const p = part.trim();
    if (
      p.startsWith(BEARER) &&
      p.length > BEARER.length &&
      p.length <= BEARER.length + messageFrameLimits.auth
    )
      return p.slice(BEARER.length);
  }
  return undefined;
}
