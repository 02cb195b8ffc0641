/**
 * startRelay: the relay assembled. uWebSockets.js for HTTP and WebSocket (TLS when given a
 * certificate), SQLite for metadata, a directory for chunks, JWTs signed with a secret kept in
 * the data directory, pino JSON logs and a separate audit stream. Can be started several times
 * in one process and stopped cleanly.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  type Message,
  SUPPORTED_VERSIONS,
  decodeMessage,
  encodeMessage,
  errorMessageFor,
  frameLimits,
  ProtocolError,
} from "@weft/core";
import { ready } from "@weft/crypto";
import pino, { type Logger } from "pino";
import uWS from "uWebSockets.js";
import { PasswordHasher, TokenBucket, verifyAccessToken } from "./auth/index.js";
import type { RelayConfig } from "./config.js";
import { DEVICE_REMOVED } from "./server/access.js";
import { registerApi } from "./server/api.js";
import { json, route } from "./server/http.js";
import { LogService, type Principal, type Session } from "./server/log-service.js";
import { Metrics } from "./server/metrics.js";
import { FolderBlobs } from "./server/folder-blobs.js";
import { openSqliteMetaStore } from "./store/index.js";

/** A running relay. */
export interface Relay {
  /** `http://host:port` (or https). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, closes every connection and the stores. Safe to call twice. */
  close(): Promise<void>;
}

/** Options beyond the configuration, for embedding and tests. */
export interface StartOptions {
  /** Where JSON logs go (default stdout); `audit` events go to `auditLogger` (default: the same, tagged). */
  logger?: Logger;
  auditLogger?: Logger;
  /** Password hashing cost (tests pass small limits). */
  passwordLimits?: { opsLimit: number; memLimit: number };
}

const VERSION = "0.1.0";
/** Open WebSockets one client address may hold (a NAT of a few dozen devices fits). */
const MAX_SOCKETS_PER_ADDRESS = 256;

/** Starts a relay; resolves once it listens. */
export async function startRelay(config: RelayConfig, options: StartOptions = {}): Promise<Relay> {
  await ready();
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { service: "weft-relay" } });
  const audit = options.auditLogger ?? logger.child({ stream: "audit" });
  const dataDir = resolve(config.dataDir);
  await mkdir(join(dataDir, "chunks"), { recursive: true, mode: 0o700 });
  const jwtSecret = await loadSecret(dataDir, config.jwtSecret);
  const meta = openSqliteMetaStore(join(dataDir, "relay.db"));
  const blobs = new FolderBlobs(join(dataDir, "chunks"), {
    folderQuota: config.folderQuota,
    gcGraceSeconds: config.gcGraceSeconds,
  });
  const passwords = await PasswordHasher.start(
    options.passwordLimits ? { limits: options.passwordLimits } : {},
  );
  const dummyHash = await passwords.hash(randomBytes(24).toString("base64url"));

  const metrics = new Metrics();
  const app =
    config.tlsCert && config.tlsKey
      ? uWS.SSLApp({ cert_file_name: config.tlsCert, key_file_name: config.tlsKey })
      : uWS.App();
  const observe = (
    req: { id: string; method: string; route: string },
    status: number,
    ms: number,
    error?: unknown,
  ): void => {
    const entry = {
      req: req.id,
      method: req.method,
      route: req.route,
      status,
      ms: Math.round(ms * 10) / 10,
    };
    metrics.inc("weft_relay_http_requests_total", { route: req.route, status: String(status) });
    metrics.observe("weft_relay_http_request_seconds", { route: req.route }, ms / 1000);
    if (status === 429) metrics.inc("weft_relay_rate_limited_total");
    if (status >= 500)
      logger.error(
        { ...entry, err: error instanceof Error ? error.message : String(error) },
        "request failed",
      );
    else logger.debug(entry, "request");
    if (status === 429) audit.warn({ event: "rate_limited", route: req.route }, "rate limited");
  };
  // Token buckets: a burst of ten seconds' worth, then the steady rate. Chunk traffic of a
  // large sync is many small requests, so the per-address and per-account rates are high;
  // logins are slow on purpose (password guessing).
  const rate = config.rateLimit;
  const limits = {
    address: new TokenBucket({
      capacity: rate === 0 ? 1e12 : rate * 10,
      refillPerSecond: rate === 0 ? 1e12 : rate,
    }),
    account: new TokenBucket({
      capacity: rate === 0 ? 1e12 : rate * 20,
      refillPerSecond: rate === 0 ? 1e12 : rate * 2,
    }),
    login: new TokenBucket({ capacity: 10, refillPerSecond: 0.2 }),
  };
  registerApi(app, {
    meta,
    blobs,
    jwtSecret,
    passwords,
    dummyHash,
    limits,
    observe,
    audit: (event, fields) => audit.info({ event, ...fields }, event),
    ...(config.accessTtlSeconds === undefined ? {} : { accessTtlSeconds: config.accessTtlSeconds }),
    // The service is made below; these run only on requests, once it exists.
    sessionsEnded: (accountId, deviceId, reason) =>
      service.endSessionsOf(accountId, deviceId, reason),
    memberRemoved: (folderId, accountId) => service.memberRemoved(folderId, accountId),
    deviceRemoved: (_accountId, deviceId) => service.deviceRemoved(deviceId, DEVICE_REMOVED),
    rotationDue: (folderId) => service.rotationDue(folderId),
    epochChanged: (folderId) => service.epochChanged(folderId),
  });
  route(
    app,
    "get",
    "/metrics",
    0,
    () => ({
      status: 200,
      body: metrics.render(),
      headers: { "content-type": "text/plain; version=0.0.4" },
    }),
    observe,
  );
  route(
    app,
    "get",
    "/health",
    0,
    () => json(200, { status: "ok", relay: VERSION, protocol: SUPPORTED_VERSIONS }),
    observe,
  );

  const authenticate = (token: string): Principal => {
    const claims = verifyAccessToken(jwtSecret, token);
    if (!claims.dev)
      throw new ProtocolError(
        "unauthorized",
        "the token is not bound to a device; log in with one",
      );
    const device = meta.device(claims.dev as Principal["deviceId"]);
    if (!device || device.accountId !== claims.sub)
      throw new ProtocolError("unauthorized", "unknown device");
    if (device.removed !== undefined) throw new ProtocolError("forbidden", DEVICE_REMOVED);
    return { accountId: claims.sub, deviceId: device.deviceId, expires: claims.exp * 1000 };
  };
  const service = new LogService(meta, blobs, authenticate, {
    appended: () => metrics.inc("weft_relay_envelopes_appended_total"),
    signatureFailure: (who, folderId) =>
      audit.warn(
        { event: "signature_failure", account: who.accountId, folder: folderId },
        "signature failure",
      ),
  });

  // Ends sessions whose token ran out while they sat idle (sends and requests check it too).
  const sweeper = setInterval(() => service.sweep(), 1000);
  sweeper.unref();

  interface SocketData {
    session?: Session;
    gone: boolean;
    address: string;
  }
  const perAddress = new Map<string, number>();
  const sockets = new Set<uWS.WebSocket<SocketData>>();
  metrics.gauge("weft_relay_open_sockets", () => sockets.size);
  app.ws<SocketData>("/v1/ws", {
    maxPayloadLength: frameLimits.maxFrameBytes,
    maxBackpressure: 4 * frameLimits.maxFrameBytes,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const address = Buffer.from(res.getRemoteAddressAsText()).toString();
      if ((perAddress.get(address) ?? 0) >= MAX_SOCKETS_PER_ADDRESS) {
        metrics.inc("weft_relay_rate_limited_total");
        audit.warn(
          { event: "rate_limited", route: "/v1/ws" },
          "too many connections from one address",
        );
        res.cork(() => {
          res.writeStatus("429 Too Many Requests").writeHeader("retry-after", "10");
          res.end(
            JSON.stringify({ error: { code: "rate_limited", message: "too many connections" } }),
          );
        });
        return;
      }
      res.upgrade<SocketData>(
        { gone: false, address },
        req.getHeader("sec-websocket-key"),
        req.getHeader("sec-websocket-protocol"),
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open: (ws) => {
      sockets.add(ws);
      const address = ws.getUserData().address;
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      const data = ws.getUserData();
      data.session = {
        greeted: false,
        principal: undefined,
        folders: new Set(),
        send: (m: Message) => data.session!.sendFrame(encodeMessage(m)),
        sendFrame: (frame: Uint8Array) => {
          if (data.gone) return;
          metrics.inc("weft_relay_bytes_out_total", {}, frame.length);
          let dropped = false;
          ws.cork(() => {
            dropped = ws.send(frame, true) === 2;
          });
          // uWS drops a frame, silently, once a reader is maxBackpressure behind. A client
          // missing one log entry would wait for it forever; closed, it reconnects and
          // resubscribes from what it has applied.
          if (dropped) {
            metrics.inc("weft_relay_slow_consumer_closed_total");
            data.gone = true;
            ws.end(1013, "too far behind; reconnect and resubscribe");
          }
        },
        close: (code, reason) => {
          if (!data.gone) ws.end(code, reason);
        },
      };
    },
    message: (ws, bytes, isBinary) => {
      const session = ws.getUserData().session!;
      metrics.inc("weft_relay_bytes_in_total", {}, bytes.byteLength);
      let message: Message;
      try {
        if (!isBinary) throw new ProtocolError("bad_frame", "text frames are not accepted");
        message = decodeMessage(new Uint8Array(bytes.slice(0)));
      } catch (error) {
        session.send(errorMessageFor(error));
        session.close(1002, "undecodable frame");
        return;
      }
      service.handle(session, message);
    },
    close: (ws) => {
      const data = ws.getUserData();
      data.gone = true;
      sockets.delete(ws);
      const left = (perAddress.get(data.address) ?? 1) - 1;
      if (left > 0) perAddress.set(data.address, left);
      else perAddress.delete(data.address);
      if (data.session) service.closed(data.session);
    },
  });
  route(
    app,
    "any",
    "/*",
    0,
    () => {
      throw new ProtocolError("not_found", "no such route");
    },
    observe,
  );

  const listenSocket = await new Promise<uWS.us_listen_socket>((resolvePromise, reject) => {
    app.listen(config.host, config.port, (token) => {
      if (token === false)
        reject(new Error(`cannot listen on ${config.host}:${config.port} (in use?)`));
      else resolvePromise(token);
    });
  });
  const port = uWS.us_socket_local_port(listenSocket);
  const url = `${config.tlsCert ? "https" : "http"}://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ url, data: dataDir }, `weft relay listening on ${url}`);

  let closed = false;
  return {
    url,
    port,
    close: async () => {
      if (closed) return; // closing a uWS listen socket twice is a native double free
      closed = true;
      clearInterval(sweeper);
      uWS.us_listen_socket_close(listenSocket);
      for (const ws of [...sockets]) ws.end(1001, "relay shutting down");
      await passwords.close();
      await blobs.close();
      meta.close();
      logger.info("weft relay stopped");
    },
  };
}

/** The JWT secret: given, or read from DATA/jwt-secret, or made there on first start (0600). */
async function loadSecret(dataDir: string, given: string | undefined): Promise<Uint8Array> {
  if (given) return new TextEncoder().encode(given);
  const path = join(dataDir, "jwt-secret");
  try {
    const existing = (await readFile(path, "utf8")).trim();
    if (existing.length >= 43) return new TextEncoder().encode(existing);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const secret = randomBytes(32).toString("base64url");
  await writeFile(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
  await chmod(path, 0o600);
  return new TextEncoder().encode(secret);
}
