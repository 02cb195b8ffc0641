/**
 * startRelay: the relay assembled. uWebSockets.js for HTTP and WebSocket (TLS when given a
 * certificate), SQLite for metadata, a directory (or an S3 bucket) for chunks, JWTs signed with
 * a secret kept in the data directory, pino JSON logs and a separate audit stream. Can be
 * started several times in one process and stopped cleanly.
 */
import { totalmem } from "node:os";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SUPPORTED_VERSIONS, ProtocolError } from "@weft/core";
import { type Principal, ProtocolServer } from "@weft/core/server";
import { ready } from "@weft/crypto";
import pino, { type Logger } from "pino";
import uWS from "uWebSockets.js";
import {
  DEFAULT_LOGIN_LIMITS,
  LoginGate,
  PasswordHasher,
  RevokedFamilies,
  TokenBucket,
} from "./auth/index.js";
import { type ControlEvent, type RelayBus, describeBus } from "./bus/bus.js";
import type { RelayConfig } from "./config.js";
import {
  ACCESS_TTL_SECONDS,
  ByteBudget,
  defaultBufferLimits,
  DEFAULT_SOCKET_LIMITS,
  DEVICE_REMOVED,
  FolderBlobs,
  Quotas,
  RelayMetrics,
  json,
  registerApi,
  registerSocketServer,
  route,
  verifiedClaims,
} from "./server/index.js";
import { openSqliteMetaStore } from "./store/index.js";

/** A running relay. */
export interface Relay {
  /** `http://host:port` (or https). */
  readonly url: string;
  readonly port: number;
  /** `http://host:port/metrics` when metrics have their own port (`metricsPort`). */
  readonly metricsUrl?: string;
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

/** Starts a relay; resolves once it listens. */
export async function startRelay(config: RelayConfig, options: StartOptions = {}): Promise<Relay> {
  await ready();
  const logger =
    options.logger ?? pino({ level: config.logLevel, base: { service: "weft-relay" } });
  const audit = options.auditLogger ?? logger.child({ stream: "audit" });
  const dataDir = resolve(config.dataDir);
  await mkdir(join(dataDir, "chunks"), { recursive: true, mode: 0o700 });
  const jwtPreviousSecrets = (config.jwtPreviousSecrets ?? []).map((s) =>
    new TextEncoder().encode(s),
  );
  // Chunks in an S3 bucket when configured (the AWS SDK loads only then), else in DIR/chunks.
  const chunkSource = config.blobs
    ? await (
        await import("./store/s3/s3-chunk-stores.js")
      ).s3ChunkStores({
        bucket: config.blobs.bucket,
        ...(config.blobs.endpoint !== undefined ? { endpoint: config.blobs.endpoint } : {}),
      })
    : join(dataDir, "chunks");
  // Metadata in PostgreSQL when configured (pg loads only then; the JWT secret is kept there,
  // shared by every relay on the database), else in DIR/relay.db beside DIR/jwt-secret.
  const { meta, jwtSecret } = config.database
    ? await (
        await import("./store/pg/relay-store.js")
      ).openPgRelayStore(config.database, config.jwtSecret, (error) =>
        logger.warn({ err: error.message }, "a pooled PostgreSQL connection failed"),
      )
    : {
        meta: openSqliteMetaStore(join(dataDir, "relay.db")),
        jwtSecret: await loadSecret(dataDir, config.jwtSecret),
      };
  const blobs = new FolderBlobs(chunkSource, {
    folderQuota: config.folderQuota,
    gcGraceSeconds: config.gcGraceSeconds,
    gcQuarantineSeconds: config.gcQuarantineSeconds,
  });
  const quotas = new Quotas(meta, blobs, {
    accountQuota: config.accountQuota,
    folderLogEntries: config.folderLogEntries,
    folderLogBytes: config.folderLogBytes,
  });
  const loginLimits = {
    ...DEFAULT_LOGIN_LIMITS,
    // --rate-limit 0 turns the per-address limits off, this one too.
    ...(config.rateLimit === 0 ? { addressBurst: 1e9, addressPerSecond: 1e9 } : {}),
    ...config.loginLimits,
  };
  const passwords = await PasswordHasher.start({
    threads: loginLimits.concurrency,
    ...(options.passwordLimits ? { limits: options.passwordLimits } : {}),
  });
  const dummyHash = await passwords.hash(randomBytes(24).toString("base64url"));

  const budget = new ByteBudget({
    ...defaultBufferLimits(totalmem()),
    // --rate-limit 0 turns the per-address limits off, this one too.
    ...(config.rateLimit === 0 ? { perAddressBytes: 0 } : {}),
    ...config.bufferLimits,
  });
  const metrics = new RelayMetrics({
    openSockets: () => sockets.open,
    maxBufferedBytes: () => sockets.maxBufferedBytes(),
    heldBytes: () => budget.held,
    reservedBytes: () => budget.reservedBytes,
    chunks: () => blobs.usage(),
    meta: () => meta.stats(),
    dataDir,
    version: VERSION,
  });
  const app =
    config.tlsCert && config.tlsKey
      ? uWS.SSLApp({ cert_file_name: config.tlsCert, key_file_name: config.tlsKey })
      : uWS.App();
  const observe = (
    req: { id: string; method: string; route: string; body: Uint8Array },
    status: number,
    ms: number,
    error: unknown,
    sentBytes: number,
  ): void => {
    const entry = {
      req: req.id,
      method: req.method,
      route: req.route,
      status,
      ms: Math.round(ms * 10) / 10,
    };
    metrics.httpRequests.inc({ route: req.route, status: String(status) });
    metrics.httpDuration.observe({ route: req.route }, ms / 1000);
    metrics.receivedBytes.inc({ transport: "http" }, req.body.byteLength);
    metrics.sentBytes.inc({ transport: "http" }, sentBytes);
    // 503 is load shed (the byte budget, a shutdown), not a fault of the relay.
    if (status === 429 || status === 503) metrics.rateLimited.inc();
    else if (status >= 500) metrics.errors.inc({ kind: "http_5xx" });
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
  // Sign-ins revoked within an access token's life (plus a minute for a refresh that raced the
  // revocation): their tokens are refused at once. Filled by this relay's logouts, the bus's
  // control events, and the store (on start, and whenever the bus may have dropped events).
  const revoked = new RevokedFamilies(
    ((config.accessTtlSeconds ?? ACCESS_TTL_SECONDS) + 60) * 1000,
  );
  const loadRevoked = async (): Promise<void> => {
    for (const { family, revokedAt } of await meta.revokedFamiliesSince(revoked.horizon))
      revoked.add(family, revokedAt);
  };
  registerApi(app, {
    meta,
    blobs,
    jwtSecret,
    jwtPreviousSecrets,
    revoked,
    logins: new LoginGate(passwords, loginLimits),
    dummyHash,
    limits,
    observe,
    budget,
    audit: (event, fields) => audit.info({ event, ...fields }, event),
    ...(config.accessTtlSeconds === undefined ? {} : { accessTtlSeconds: config.accessTtlSeconds }),
    // The service is made below; these run only on requests, once it exists. Each acts on this
    // relay's connections and, through the bus, on every other relay's.
    sessionsEnded: (accountId, deviceId, reason, family) =>
      control({ kind: "sessionsEnded", accountId, deviceId, reason, family }),
    memberRemoved: (folderId, accountId) => control({ kind: "memberRemoved", folderId, accountId }),
    accountFolders: config.accountFolders,
    quotas,
    deviceRemoved: (_accountId, deviceId) =>
      control({ kind: "deviceRemoved", deviceId, reason: DEVICE_REMOVED }),
    rotationDue: (folderId) => control({ kind: "rotationDue", folderId }),
    epochChanged: (folderId) => control({ kind: "epochChanged", folderId }),
  });
  const metricsApp = config.metricsPort === undefined ? app : uWS.App();
  const metricsToken =
    config.metricsToken === undefined
      ? undefined
      : createHash("sha256").update(config.metricsToken).digest();
  route(
    metricsApp,
    "get",
    "/metrics",
    0,
    async (req) => {
      if (metricsToken) {
        const given = /^Bearer (.+)$/i.exec(req.headers.authorization)?.[1] ?? "";
        // Compared as digests: equal lengths for timingSafeEqual, and no early exit.
        if (!timingSafeEqual(createHash("sha256").update(given).digest(), metricsToken))
          return json(
            401,
            { code: "unauthorized", message: "/metrics needs the metrics token (Bearer)" },
            { "www-authenticate": 'Bearer realm="weft-relay metrics"' },
          );
      }
      const { contentType, body } = await metrics.render();
      return { status: 200, body, headers: { "content-type": contentType } };
    },
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

  const authenticate = async (token: string): Promise<Principal> => {
    const claims = verifiedClaims({ jwtSecret, jwtPreviousSecrets, revoked }, token);
    if (!claims.dev)
      throw new ProtocolError(
        "unauthorized",
        "the token is not bound to a device; log in with one",
      );
    const device = await meta.device(claims.dev as Principal["deviceId"]);
    if (!device || device.accountId !== claims.sub)
      throw new ProtocolError("unauthorized", "unknown device");
    if (device.removed !== undefined) throw new ProtocolError("forbidden", DEVICE_REMOVED);
    return { accountId: claims.sub, deviceId: device.deviceId, expires: claims.exp * 1000 };
  };
  const socketLimits = { ...DEFAULT_SOCKET_LIMITS, ...config.socketLimits };
  const service: ProtocolServer = new ProtocolServer({
    store: meta,
    authenticate,
    missingChunks: async (folderId, chunkIds) => (await blobs.of(folderId)).has(chunkIds),
    checkWrite: (folderId, kind, bytes) => quotas.checkWrite(folderId, kind, bytes),
    server: { name: "weft-relay", version: "0.1.0" },
    events: {
      appended: (folderId, seq, envelope) => {
        metrics.envelopesAppended.inc();
        bus?.publishEntry(folderId, seq, envelope);
      },
      watch: (folderId): Promise<void> | undefined => bus?.watch(folderId),
      unwatch: (folderId) => bus?.unwatch(folderId),
      broadcast: (folderId, from, frame) => bus?.publishBroadcast(folderId, from, frame),
      signatureFailure: (who, folderId) => {
        metrics.errors.inc({ kind: "signature" });
        audit.warn(
          { event: "signature_failure", account: who.accountId, folder: folderId },
          "signature failure",
        );
      },
      message: (type) => metrics.messages.inc({ type }),
      badFrame: () => {
        metrics.messages.inc({ type: "bad_frame" });
        metrics.errors.inc({ kind: "bad_frame" });
      },
    },
    silentDeviceMs: config.pruneSilentSeconds * 1000,
    messagesPerSecond: socketLimits.messagesPerSecond,
  });

  // The bus between relays sharing the database, when configured (nats loads only then).
  const bus: RelayBus | undefined = config.bus
    ? await (
        await import("./bus/nats-bus.js")
      )
        .connectNatsBus(
          config.bus,
          `weft-relay ${process.pid}`,
          {
            entry: (folderId, seq, envelope) => service.deliver(folderId, seq, envelope),
            missed: (folderId) => void service.catchUp(folderId),
            broadcast: (folderId, relay, from, frame) =>
              service.relayBroadcast(folderId, relay, from, frame),
            presence: (folderId) => service.localPresence(folderId),
            relayGone: (relay) => service.relayGone(relay),
            control: (event) => applyControl(service, revoked, event),
            resync: (back) => {
              void service.catchUp();
              // A member or device removed through another relay meanwhile: its sockets here end.
              if (back) void service.revalidate(DEVICE_REMOVED);
              loadRevoked().catch((error: unknown) =>
                logger.warn({ err: (error as Error).message }, "cannot read revoked sign-ins"),
              );
            },
          },
          logger,
        )
        .catch(async (error: unknown) => {
          await Promise.all([passwords.close(), blobs.close(), meta.close()]);
          throw error;
        })
    : undefined;
  const control = (event: ControlEvent): void => {
    applyControl(service, revoked, event);
    bus?.publishControl(event);
  };
  // After the bus listens, so that a revocation through another relay meanwhile is not missed:
  // it reaches this relay one way or the other (or both: adding a family twice is harmless).
  try {
    await loadRevoked();
  } catch (error) {
    await bus?.close();
    await Promise.all([passwords.close(), blobs.close(), meta.close()]);
    throw error;
  }

  // Bound once: a labelled inc hashes its labels, and these count every frame.
  const wsIn = metrics.receivedBytes.labels({ transport: "websocket" });
  const wsOut = metrics.sentBytes.labels({ transport: "websocket" });
  const sockets = registerSocketServer(
    app,
    service,
    authenticate,
    socketLimits,
    {
      opened: () => metrics.connections.inc(),
      bytesIn: (n) => wsIn.inc(n),
      bytesOut: (n) => wsOut.inc(n),
      refused: (reason) => {
        metrics.rateLimited.inc();
        audit.warn({ event: "rate_limited", route: "/v1/ws" }, reason);
      },
      slowConsumerClosed: () => metrics.slowConsumersClosed.inc(),
    },
    budget,
  );

  // Ends sessions whose token ran out while they sat idle (sends and requests check it too).
  // Also closes sockets that did not authenticate in time.
  const sweeper = setInterval(() => {
    service.sweep();
    sockets.sweep();
    revoked.prune();
  }, 1000);
  sweeper.unref();
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

  const listenSocket = await listen(app, config.host, config.port);
  const port = uWS.us_socket_local_port(listenSocket);
  const hostInUrl = config.host.includes(":") ? `[${config.host}]` : config.host;
  const url = `${config.tlsCert ? "https" : "http"}://${hostInUrl}:${port}`;
  let metricsSocket: uWS.us_listen_socket | undefined;
  let metricsUrl: string | undefined;
  if (metricsApp !== app) {
    route(
      metricsApp,
      "any",
      "/*",
      0,
      () => {
        throw new ProtocolError("not_found", "only /metrics is served on this port");
      },
      observe,
    );
    try {
      metricsSocket = await listen(metricsApp, config.host, config.metricsPort!);
    } catch (error) {
      clearInterval(sweeper);
      uWS.us_listen_socket_close(listenSocket);
      await bus?.close();
      await passwords.close();
      await blobs.close();
      await meta.close();
      throw error;
    }
    metricsUrl = `http://${hostInUrl}:${uWS.us_socket_local_port(metricsSocket)}/metrics`;
  }
  logger.info(
    {
      url,
      data: dataDir,
      ...(config.blobs ? { chunks: `s3://${config.blobs.bucket}` } : {}),
      ...(config.bus ? { bus: describeBus(config.bus) } : {}),
      ...(metricsUrl ? { metrics: metricsUrl } : {}),
    },
    `weft relay listening on ${url}`,
  );

  let closed = false;
  return {
    url,
    port,
    ...(metricsUrl ? { metricsUrl } : {}),
    close: async () => {
      if (closed) return; // closing a uWS listen socket twice is a native double free
      closed = true;
      clearInterval(sweeper);
      uWS.us_listen_socket_close(listenSocket);
      if (metricsSocket) uWS.us_listen_socket_close(metricsSocket);
      sockets.closeAll();
      await bus?.close();
      await passwords.close();
      await blobs.close();
      await meta.close();
      logger.info("weft relay stopped");
    },
  };
}

/** Acts on a control event (from this relay or, through the bus, another) for this relay's connections. */
function applyControl(
  service: ProtocolServer,
  revoked: RevokedFamilies,
  event: ControlEvent,
): void {
  switch (event.kind) {
    case "sessionsEnded":
      // First the family, then the sessions: a client told its session ended that reconnects
      // at once with the same access token must find it refused.
      if (event.family !== undefined) revoked.add(event.family);
      return service.endSessionsOf(event.accountId, event.deviceId, event.reason);
    case "memberRemoved":
      return service.memberRemoved(event.folderId, event.accountId);
    case "deviceRemoved":
      return service.deviceRemoved(event.deviceId, event.reason);
    case "rotationDue":
      return void service.rotationDue(event.folderId);
    case "epochChanged":
      return service.epochChanged(event.folderId);
  }
}

/** Listens on `host:port` (0: a free port). */
function listen(app: uWS.TemplatedApp, host: string, port: number): Promise<uWS.us_listen_socket> {
  return new Promise((resolvePromise, reject) => {
    app.listen(host, port, (token) => {
      if (token === false) reject(new Error(`cannot listen on ${host}:${port} (in use?)`));
      else resolvePromise(token);
    });
  });
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
