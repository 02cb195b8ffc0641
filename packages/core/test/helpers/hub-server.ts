/**
 * A TEST bridge, NOT the relay: puts a MemoryHub behind real sockets (uWebSockets.js) so the
 * client side (WebSocket transport, HttpBlobStore) can be tested over the network. It speaks
 * the WebSocket protocol by decoding frames and handing them to `hub.connect()` transports, and
 * serves the HTTP blob API of PROTOCOL.md ("HTTP: blobs") from `hub.blobs`. It has no folder
 * membership checks, no rate limits and one shared chunk store for every folder.
 */
import { STATUS_CODES } from "node:http";
import type { ChunkId, DeviceId } from "@weft/crypto";
import { isChunkId, isFolderId } from "@weft/crypto";
import uWS from "uWebSockets.js";
import {
  BLOB_ROUTES,
  type BlobDeleteAnswer,
  HTTP_BLOB_ID_LIST_BYTES,
  HTTP_BLOB_MAX_BYTES,
  HTTP_BLOB_MAX_IDS,
} from "../../src/client/index.js";
import type {
  BatchChunk,
  Message,
  ProtocolErrorCode,
  Transport,
} from "../../src/protocol/index.js";
import {
  MAX_CHUNK_BATCH_BYTES,
  PROTOCOL_ERROR_HTTP_STATUS,
  decodeChunkBatch,
  encodeChunkBatch,
  ProtocolError,
  decodeMessage,
  encodeMessage,
  errorMessageFor,
  frameLimits,
} from "../../src/protocol/index.js";
import type { MemoryHub } from "../../src/testing/index.js";

/** A running bridge. */
export interface HubServer {
  /** `http://127.0.0.1:PORT`: the base URL of the HTTP blob API. */
  readonly url: string;
  /** `ws://127.0.0.1:PORT/v1/ws`: the protocol's WebSocket endpoint. */
  readonly wsUrl: string;
  /** Cuts every open WebSocket abruptly (no close frame), as a network failure would. */
  dropConnections(): void;
  /** Sends `frame` as it is to every open WebSocket: binary bytes, or a text message. */
  sendRaw(frame: Uint8Array | string): void;
  /** Stops listening and closes every WebSocket. */
  close(): Promise<void>;
}

interface Socket {
  hub?: Transport;
  /** Set by uWS's close handler: the socket must not be touched afterwards. */
  gone: boolean;
}

const JSON_BODY_LIMIT = HTTP_BLOB_ID_LIST_BYTES;

/** Starts a bridge for `hub` on 127.0.0.1, on a free port. */
export function startHubServer(
  hub: MemoryHub,
  options: { tokens?: Map<string, DeviceId> } = {},
): Promise<HubServer> {
  const sockets = new Set<uWS.WebSocket<Socket>>();
  const authorized = (header: string): boolean => {
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    return options.tokens ? options.tokens.has(token) : token.startsWith("memory-hub.");
  };
  const send = (ws: uWS.WebSocket<Socket>, data: Uint8Array | string): void => {
    if (!ws.getUserData().gone) ws.cork(() => ws.send(data, typeof data !== "string"));
  };

  const app = uWS.App();
  app.ws<Socket>("/v1/ws", {
    maxPayloadLength: frameLimits.maxFrameBytes,
    // Room for a few of the largest frames: uWS drops a send once this much is queued.
    maxBackpressure: 4 * frameLimits.maxFrameBytes,
    idleTimeout: 0,
    upgrade: (res, req, context) => {
      res.upgrade<Socket>(
        { gone: false },
        req.getHeader("sec-websocket-key"),
        req.getHeader("sec-websocket-protocol"),
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open: (ws) => {
      sockets.add(ws);
      const hubEnd = hub.connect();
      ws.getUserData().hub = hubEnd;
      hubEnd.on("message", (m: Message) => send(ws, encodeMessage(m)));
      hubEnd.on("close", ({ reason }) => {
        if (!ws.getUserData().gone) ws.end(1000, reason.slice(0, 120));
      });
    },
    message: (ws, data, isBinary) => {
      const hubEnd = ws.getUserData().hub;
      let message: Message;
      try {
        if (!isBinary) throw new ProtocolError("bad_frame", "text frames are not accepted");
        // Decoding copies every field, so nothing keeps `data`, which uWS reuses afterwards.
        message = decodeMessage(new Uint8Array(data));
      } catch (error) {
        send(ws, encodeMessage(errorMessageFor(error)));
        ws.end(1002, "undecodable frame");
        return;
      }
      try {
        hubEnd?.send(message);
      } catch {
        ws.end(1001, "hub connection closed");
      }
    },
    close: (ws) => {
      const data = ws.getUserData();
      data.gone = true;
      sockets.delete(ws);
      data.hub?.close("socket closed");
    },
  });

  app.post(BLOB_ROUTES.missing, (res, req) =>
    handle(res, req, JSON_BODY_LIMIT, async (body) => {
      return json(200, { missing: await hub.blobs.has(idList(body)) });
    }),
  );
  // As the relay answers, with no grace period: every asked id present is deleted.
  app.post(BLOB_ROUTES.delete, (res, req) =>
    handle(res, req, JSON_BODY_LIMIT, async (body) => {
      const ids = [...new Set(idList(body))];
      const missing = new Set(await hub.blobs.has(ids));
      const deleted = ids.filter((id) => !missing.has(id));
      await hub.blobs.delete(deleted);
      return json(200, { deleted, kept: [] } satisfies BlobDeleteAnswer);
    }),
  );
  app.post(BLOB_ROUTES.batch, (res, req) =>
    handle(res, req, MAX_CHUNK_BATCH_BYTES, async (body) => {
      const chunks = decodeChunkBatch(body);
      const missing = new Set(await hub.blobs.has(chunks.map((c) => c.id)));
      for (const { id, bytes } of chunks) await hub.blobs.put(id, bytes);
      return json(200, { stored: missing.size, existing: chunks.length - missing.size });
    }),
  );
  app.post(BLOB_ROUTES.fetch, (res, req) =>
    handle(res, req, JSON_BODY_LIMIT, async (body) => {
      const chunks: BatchChunk[] = [];
      for (const id of idList(body)) {
        const bytes = await hub.blobs.get(id);
        if (bytes) chunks.push({ id, bytes });
      }
      return { status: 200, body: encodeChunkBatch(chunks) };
    }),
  );
  app.put(BLOB_ROUTES.chunk, (res, req) => {
    const id = chunkIdOf(req);
    handle(res, req, HTTP_BLOB_MAX_BYTES, async (body) => {
      const had = (await hub.blobs.has([checked(id)])).length === 0;
      await hub.blobs.put(checked(id), body);
      return { status: had ? 200 : 201 };
    });
  });
  app.get(BLOB_ROUTES.chunk, (res, req) => {
    const id = chunkIdOf(req);
    const range = req.getHeader("range");
    handle(res, req, "no body", async () => {
      const chunk = await hub.blobs.get(checked(id));
      if (chunk === undefined) throw new ProtocolError("not_found", "no such chunk");
      if (range === "") return { status: 200, body: chunk };
      const match = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!match) throw new ProtocolError("bad_frame", "only a single bytes=start-end range");
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]) + 1, chunk.length);
      if (start > Number(match[2])) throw new ProtocolError("bad_frame", "range ends first");
      if (start >= chunk.length)
        return { status: 416, headers: { "content-range": `bytes */${chunk.length}` } };
      const contentRange = `bytes ${start}-${end - 1}/${chunk.length}`;
      return {
        status: 206,
        body: chunk.subarray(start, end),
        headers: { "content-range": contentRange },
      };
    });
  });
  app.get(BLOB_ROUTES.base, (res, req) =>
    handle(res, req, "no body", async () => json(200, await hub.blobs.size())),
  );
  app.any("/*", (res, req) =>
    handle(res, req, "no route", () =>
      Promise.reject(new ProtocolError("not_found", "no such route")),
    ),
  );

  /**
   * Runs one HTTP request: reads what it needs of `req` at once (uWS frees it when the handler
   * returns), checks the token and the folder, reads the body up to `limit` bytes, then
   * answers with what `work` returns, or the JSON error for what it throws.
   */
  function handle(
    res: uWS.HttpResponse,
    req: uWS.HttpRequest,
    limit: number | "no body" | "no route",
    work: (body: Uint8Array) => Promise<Reply>,
  ): void {
    const auth = req.getHeader("authorization");
    const folderId = limit === "no route" ? undefined : req.getParameter(0);
    let done = false;
    // uWS requires onAborted before any async work; after it, `res` must not be touched.
    res.onAborted(() => (done = true));
    const reply = (r: Reply): void => {
      if (done) return;
      done = true;
      res.cork(() => {
        res.writeStatus(`${r.status} ${STATUS_CODES[r.status] ?? ""}`);
        for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
        // Close the connection when answering early, so the unread rest of a body is dropped.
        res.end(r.body ?? "", r.status === 413);
      });
    };
    const fail = (error: unknown): void => {
      const code: ProtocolErrorCode = error instanceof ProtocolError ? error.wireCode : "internal";
      const { message } = errorMessageFor(error); // `internal` errors say no more than that
      reply(json(PROTOCOL_ERROR_HTTP_STATUS[code], { code, message }));
    };
    if (!authorized(auth)) return fail(new ProtocolError("unauthorized", "no valid token"));
    if (folderId !== undefined && !isFolderId(folderId))
      return fail(new ProtocolError("bad_frame", "malformed folder id"));
    if (typeof limit !== "number") {
      work(new Uint8Array(0)).then(reply, fail);
      return;
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) return fail(new ProtocolError("too_large", `body over ${limit} bytes`));
      parts.push(new Uint8Array(chunk.slice(0))); // uWS neuters `chunk` when this returns
      if (!isLast) return;
      work(concat(parts, size)).then(reply, fail);
    });
  }

  return new Promise((resolve, reject) => {
    app.listen("127.0.0.1", 0, (listenSocket) => {
      if (listenSocket === false) return reject(new Error("the hub server could not listen"));
      const port = uWS.us_socket_local_port(listenSocket);
      let closed = false;
      resolve({
        url: `http://127.0.0.1:${port}`,
        wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
        dropConnections: () => {
          for (const ws of [...sockets]) ws.close(); // runs the close handler synchronously
        },
        sendRaw: (frame) => {
          for (const ws of sockets) send(ws, frame);
        },
        close: () => {
          // Closing a uWS listen socket twice is a native double free: it kills the process.
          if (closed) return Promise.resolve();
          closed = true;
          uWS.us_listen_socket_close(listenSocket);
          for (const ws of [...sockets]) ws.end(1001, "server closing");
          return Promise.resolve();
        },
      });
    });
  });
}

interface Reply {
  status: number;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
}

function json(status: number, value: unknown): Reply {
  const body = status >= 400 ? { error: value } : value;
  return { status, body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}

function chunkIdOf(req: uWS.HttpRequest): string {
  return req.getParameter(1) ?? "";
}

function checked(id: string): ChunkId {
  if (!isChunkId(id)) throw new ProtocolError("bad_frame", "malformed chunk id");
  return id;
}

/** A plain Uint8Array: a Buffer's `slice()` is a view, so a store copying with it would not copy. */
function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function idList(body: Uint8Array): ChunkId[] {
  let ids: unknown;
  try {
    ids = (JSON.parse(new TextDecoder().decode(body)) as { ids?: unknown } | null)?.ids;
  } catch {
    throw new ProtocolError("bad_frame", "the body is not JSON");
  }
  if (!Array.isArray(ids)) throw new ProtocolError("bad_frame", "ids must be an array");
  if (ids.length > HTTP_BLOB_MAX_IDS)
    throw new ProtocolError("too_large", `over ${HTTP_BLOB_MAX_IDS} ids`);
  return ids.map((id) => checked(String(id)));
}
