/**
 * Test helper: a TCP proxy on 127.0.0.1 that forwards to a target and injects network faults
 * on demand (delay, stall, drop mid-frame, reset, refuse), switchable at any time.
 */
import { type Server, type Socket, connect, createServer } from "node:net";
import { pickFreePort } from "./free-port.js";

/** What the proxy does to traffic now. */
export type FaultMode =
  /** Forwards everything as it comes. */
  | "pass"
  /** Holds each chunk for `delayMs` before forwarding it (order kept). */
  | "delay"
  /**
   * Accepts connections but forwards nothing either way (a black hole: a cable pulled, a NAT
   * that forgot the flow). Held bytes flow again, in order, once the mode changes.
   */
  | "stall"
  /** Cuts each connection (FIN both ways) after forwarding part of its next chunk. */
  | "drop"
  /** Resets (RST) every open connection and each new one. */
  | "reset"
  /** Nothing listens: new connections are refused; open ones are left alone. */
  | "refuse";

/** A running fault proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: give this to clients instead of the target's URL. */
  readonly url: string;
  readonly port: number;
  /** The mode now. */
  readonly mode: FaultMode;
  /** Connections open now. */
  readonly open: number;
  /** Connections accepted so far (refused ones are never accepted). */
  readonly accepted: number;
  /** Connections cut by "drop" so far. */
  readonly dropped: number;
  /** Connections reset by "reset" so far. */
  readonly resets: number;
  /** Bytes forwarded from clients to the target so far. */
  readonly bytesUp: number;
  /** Bytes forwarded from the target to clients so far. */
  readonly bytesDown: number;
  /** Forwards everything again (listening again after "refuse", on the same port). */
  pass(): Promise<void>;
  /** Holds each chunk `ms` before forwarding it. */
  delay(ms: number): Promise<void>;
  /** Forwards nothing, on open and new connections, until the mode changes. */
  stall(): Promise<void>;
  /** Cuts every connection after part of its next chunk, and new ones the same way. */
  drop(): Promise<void>;
  /** Resets every open connection and each new one. */
  reset(): Promise<void>;
  /** Stops listening, so new connections are refused (ECONNREFUSED). */
  refuse(): Promise<void>;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
}

/** Starts a proxy on a free port of 127.0.0.1 that forwards to `target` ("host:port" or a URL). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const { hostname, port: targetPort } = new URL(
    /^[a-z]+:\/\//.test(target) ? target : `tcp://${target}`,
  );
  const upstreamHost = hostname.replace(/^\[|\]$/g, "");
  let mode: FaultMode = "pass";
  let delayMs = 0;
  let accepted = 0;
  let dropped = 0;
  let resets = 0;
  let bytesUp = 0;
  let bytesDown = 0;
  const links = new Set<Link>();
  // Resolved when the mode leaves "stall"; pumps wait on it before forwarding a chunk.
  let unstalled: Promise<void> = Promise.resolve();
  let releaseStall: () => void = () => undefined;

  const resetLink = (link: Link): void => {
    if (!links.delete(link)) return;
    resets++;
    link.client.resetAndDestroy();
    link.upstream.resetAndDestroy();
  };
  const cutLink = (link: Link): void => {
    if (!links.has(link)) return;
    // A black hole passes on no close either: the other end learns of it once traffic flows.
    if (mode === "stall") {
      void unstalled.then(() => cutLink(link));
      return;
    }
    links.delete(link);
    link.client.destroy();
    link.upstream.destroy();
  };

  // Copies `from` to `to` chunk by chunk, applying the mode at each chunk. Reading stops while
  // a chunk waits (stall, delay, a full socket), so TCP backpressure does the holding.
  const pump = async (link: Link, from: Socket, to: Socket): Promise<void> => {
    try {
      for await (const chunk of from as AsyncIterable<Buffer>) {
        await unstalled;
        if (!links.has(link)) return;
        if (mode === "delay" && delayMs > 0)
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (!links.has(link)) return;
        if (mode === "drop") {
          // Part of the chunk, never all of it: the peer sees a frame cut in the middle, then
          // the end of the stream.
          links.delete(link);
          dropped++;
          to.end(chunk.subarray(0, Math.floor(chunk.length / 2)), () => to.destroy());
          from.destroy();
          return;
        }
        if (from === link.client) bytesUp += chunk.length;
        else bytesDown += chunk.length;
        if (!to.write(chunk)) await new Promise((resolve) => to.once("drain", resolve));
      }
      await unstalled;
      to.end(); // a half-close is passed on as one
    } catch {
      // one side failed (reset, destroyed): the other goes too
      cutLink(link);
    }
  };

  const onConnection = (client: Socket): void => {
    accepted++;
    client.on("error", () => undefined); // a reset by either end is expected here
    if (mode === "reset") {
      resets++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host: upstreamHost, port: Number(targetPort) });
    const link: Link = { client, upstream };
    links.add(link);
    for (const s of [client, upstream]) {
      s.on("error", () => cutLink(link));
      s.on("close", () => cutLink(link));
    }
    void pump(link, client, upstream);
    void pump(link, upstream, client);
  };

  const port = await pickFreePort();
  let server: Server | undefined;
  const listen = async (): Promise<void> => {
    if (server) return;
    const s = createServer({ noDelay: true }, onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen({ host: "127.0.0.1", port, exclusive: true }, () => resolve());
    });
    server = s;
  };
  const unlisten = async (): Promise<void> => {
    const s = server;
    if (!s) return;
    server = undefined;
    // close() stops accepting at once; its callback waits for open connections, which stay.
    await new Promise<void>((resolve) => {
      s.close();
      setImmediate(resolve);
    });
  };
  await listen();

  const setMode = async (next: FaultMode): Promise<void> => {
    const was = mode;
    mode = next;
    if (next === "stall" && was !== "stall")
      unstalled = new Promise((resolve) => (releaseStall = resolve));
    if (next !== "stall" && was === "stall") releaseStall();
    if (next === "reset") for (const link of [...links]) resetLink(link);
    if (next === "refuse") await unlisten();
    else await listen();
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get mode() {
      return mode;
    },
    get open() {
      return links.size;
    },
    get accepted() {
      return accepted;
    },
    get dropped() {
      return dropped;
    },
    get resets() {
      return resets;
    },
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    pass: () => setMode("pass"),
    delay: (ms) => {
      delayMs = ms;
      return setMode("delay");
    },
    stall: () => setMode("stall"),
    drop: () => setMode("drop"),
    reset: () => setMode("reset"),
    refuse: () => setMode("refuse"),
    close: async () => {
      mode = "pass";
      releaseStall();
      await unlisten();
      for (const link of [...links]) cutLink(link);
    },
  };
}
