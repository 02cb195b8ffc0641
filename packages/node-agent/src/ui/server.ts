/**
 * The dashboard's HTTP server (node:http, 127.0.0.1 only): the page, its JSON API, and a stream of
 * server-sent events with every folder's state, about once a second and soon after a change.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DeviceIdentity } from "@weft/crypto";
import { AgentError, type Home } from "../home/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import type { DaemonFolders } from "../sync/run.js";
import type { StartFolder } from "./folders-api.js";
import { DashboardApi, toHttpError } from "./api.js";
import { type Assets, loadAssets } from "./assets.js";
import {
  HttpError,
  checkHost,
  checkSameOrigin,
  cookieName,
  newToken,
  readCookie,
  readJsonBody,
  securityHeaders,
  sessionCookie,
  tokenMatches,
} from "./guards.js";

/** How often open pages get the state when nothing changes. */
const TICK_MS = 1000;
/** A change is pushed this soon after it happens (changes in a burst go together). */
const SOON_MS = 150;

/** What the dashboard serves, and where. */
export interface DashboardServerOptions {
  syncs: readonly FolderSync[];
  /** Where the accounts (relay sessions) and folder keys are, for the member and device actions. */
  home: Home;
  /** This device: tells "mine" from "theirs", and signs the member and device actions. */
  identity: DeviceIdentity;
  /** 0 (the default) picks a free port. */
  port?: number;
  /**
   * The running daemon's folders, when folders can join it: the page then follows new ones,
   * and a folder created or joined on the page is opened through `startFolder` and synced.
   */
  folders?: DaemonFolders;
  startFolder?: StartFolder;
}

const NOT_SIGNED_IN =
  "<!doctype html><meta charset=utf-8><title>Weft</title><p>This page needs the link that " +
  "<code>weft ui</code> printed (it holds a new key each time the agent starts). Run " +
  "<code>weft ui</code> again to see it.</p>";

/** The dashboard's HTTP server on 127.0.0.1: page, JSON API and a server-sent event stream of folder state. Start with {@link DashboardServer.start}; {@link close} when done. */
export class DashboardServer {
  private readonly events = new Set<ServerResponse>();
  private tick: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private port = 0;

  private constructor(
    private readonly server: Server,
    private readonly api: DashboardApi,
    private readonly assets: Assets,
    /** The access token: new for every start, only in the printed URL and the cookie. */
    readonly token: string,
  ) {}

  /** Starts serving. @throws AgentError USAGE when the port is taken */
  static async start(options: DashboardServerOptions): Promise<DashboardServer> {
    const assets = await loadAssets();
    const server = createServer();
    const ui = new DashboardServer(
      server,
      new DashboardApi(options.syncs, options.home, options.identity, options.startFolder),
      assets,
      newToken(),
    );
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      ui.handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "EADDRINUSE"
            ? new AgentError(
                "USAGE",
                `port ${options.port} is in use; pick another with --port, or leave --port out for a free one`,
              )
            : error,
        ),
      );
      server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
    });
    ui.port = (server.address() as AddressInfo).port;
    const follow = (s: FolderSync) => {
      const push = () => ui.pushSoon();
      ui.unsubscribe.push(
        s.events.on(push),
        s.replica.on("change", push),
        s.replica.on("status", push),
        s.replica.on("peer", push),
      );
      push();
    };
    for (const s of options.syncs) follow(s);
    if (options.folders) ui.unsubscribe.push(options.folders.onAdd(follow));
    return ui;
  }

  /** The page's origin, `http://127.0.0.1:PORT`. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The URL to open: the origin with the token, which the first visit swaps for a cookie. */
  get url(): string {
    return `${this.origin}/?token=${this.token}`;
  }

  /** Stops serving: ends the event streams and closes the port. */
  async close(): Promise<void> {
    clearInterval(this.tick);
    clearTimeout(this.soon);
    for (const stop of this.unsubscribe) stop();
    for (const res of this.events) res.end();
    this.events.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    securityHeaders(res, this.assets.importMapHash);
    try {
      const host = checkHost(req, this.port);
      const url = new URL(req.url ?? "/", `http://${host}`);
      if (url.pathname === "/" && url.searchParams.has("token")) return this.signIn(req, url, res);
      if (!tokenMatches(readCookie(req, cookieName(this.port)), this.token)) {
        if (url.pathname.startsWith("/api/")) throw new HttpError(401, "not signed in");
        res.writeHead(401, { "Content-Type": "text/html; charset=utf-8" }).end(NOT_SIGNED_IN);
        return;
      }
      if (url.pathname.startsWith("/api/")) return await this.handleApi(req, res, url, host);
      const asset = this.assets.files.get(url.pathname);
      if (!asset) throw new HttpError(404, "not found");
      if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed(res, "GET");
      res.writeHead(200, { "Content-Type": asset.type, "Content-Length": asset.body.length });
      res.end(req.method === "HEAD" ? undefined : asset.body);
    } catch (error) {
      const e = toHttpError(error);
      if (e.status === 413) res.setHeader("Connection", "close"); // the rest of the body is not read
      if (!res.headersSent)
        res.writeHead(e.status, { "Content-Type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ error: e.message }));
    }
  }

  /** A valid token becomes a cookie, and the token leaves the address bar (and history). */
  private signIn(req: IncomingMessage, url: URL, res: ServerResponse): void {
    if (req.method !== "GET") throw methodNotAllowed(res, "GET");
    if (!tokenMatches(url.searchParams.get("token") ?? undefined, this.token)) {
      res.writeHead(401, { "Content-Type": "text/html; charset=utf-8" }).end(NOT_SIGNED_IN);
      return;
    }
    res.writeHead(303, { Location: "/", "Set-Cookie": sessionCookie(this.port, this.token) });
    res.end();
  }

  private async handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    host: string,
  ): Promise<void> {
    let result: unknown;
    if (req.method === "GET" && url.pathname === "/api/events") return this.openEvents(res);
    if (req.method === "GET" && url.pathname === "/api/download")
      return this.api.download(url.searchParams, res);
    if (req.method === "GET") result = await this.api.get(url.pathname, url.searchParams);
    else if (req.method === "POST") {
      checkSameOrigin(req, host);
      const body = await readJsonBody(req);
      result = await this.api.post(url.pathname, body);
      this.pushSoon();
    } else throw methodNotAllowed(res, "GET, POST");
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(result));
  }

  private openEvents(res: ServerResponse): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      Connection: "keep-alive",
    });
    this.events.add(res);
    res.on("close", () => {
      this.events.delete(res);
      if (this.events.size === 0) {
        clearInterval(this.tick);
        this.tick = undefined;
      }
    });
    this.tick ??= setInterval(() => this.broadcast(), TICK_MS);
    this.broadcast([res]);
  }

  private pushSoon(): void {
    if (this.events.size === 0 || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.broadcast();
    }, SOON_MS);
  }

  /** Sends the state to `to` (every open page by default); computed once for all of them. */
  private broadcast(to: Iterable<ServerResponse> = this.events): void {
    let frame: string;
    try {
      frame = `event: state\ndata: ${JSON.stringify(this.api.state())}\n\n`;
    } catch (error) {
      frame = `event: problem\ndata: ${JSON.stringify({ error: toHttpError(error).message })}\n\n`;
    }
    for (const res of to) res.write(frame);
  }
}

function methodNotAllowed(res: ServerResponse, allow: string): HttpError {
  res.setHeader("Allow", allow);
  return new HttpError(405, "method not allowed");
}
