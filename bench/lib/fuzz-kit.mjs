// Fuzzing a relay process: seeded, mutated and random WebSocket frames and HTTP requests, each
// case answered, refused or closed, never a crash, a hang or a 500. Used by bench/fuzz.mjs (10⁶
// cases) and by the relay's fuzz test in `npm test` (a few thousand).
//
// API
//   seedCorpus({ folderId, device, token }) → { ws: Uint8Array[], http: Request[] }
//       valid frames of every message type and a valid request of every route: what mutation
//       starts from, so that cases get past the decoder and the token into the handlers.
//   fuzzRelay({ url, token, folderId, device, seed, wsCases, httpCases, concurrency,
//               hangMs?, progress?, deadline? }) → Report (progress: every 5,000 cases)
//       deadline: performance.now() after which no case starts (the report counts those run).
//       runs the cases, `concurrency` WebSocket connections and as many HTTP requests at a time.
//       Report: { wsCases, httpCases, ws: {answered, closed}, http: {status → count},
//                 hangs, internal: [samples], resets, seconds }
import {
  encodeEnvelope,
  randomBytes as cryptoRandomBytes,
  sealEnvelope,
  toBase64Url,
} from "@weft/crypto";
import { SUPPORTED_VERSIONS, decodeMessage, encodeChunkBatch, encodeMessage } from "@weft/core";
import { clearTimeout, setTimeout } from "node:timers";
import { TextEncoder } from "node:util";
import { openRawSocket } from "./raw-ws.mjs";

/** A small fast PRNG (mulberry32): the same seed gives the same cases. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const bytes = (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  };
  const pick = (list) => list[int(list.length)];
  return { next, int, bytes, pick };
}

/** Valid frames and requests to mutate (see the API at the top). */
export function seedCorpus({ folderId, device, token }) {
  const chunkId = "ab".repeat(32);
  let deviceSeq = 1;
  const envelope = () =>
    encodeEnvelope(
      sealEnvelope(
        { folderId, deviceId: device.deviceId, deviceSeq: deviceSeq++, epoch: 0 },
        cryptoRandomBytes(32),
        device.signSecretKey,
        cryptoRandomBytes(40),
      ),
    );
  const messages = [
    { type: "hello", versions: SUPPORTED_VERSIONS, client: { name: "fuzz", version: "1" } },
    { type: "auth", requestId: 1, token },
    { type: "ping", requestId: 2 },
    { type: "subscribe", requestId: 3, folderId, afterSeq: 0 },
    { type: "unsubscribe", requestId: 4, folderId },
    { type: "append", requestId: 5, folderId, envelope: envelope() },
    { type: "append", requestId: 5, folderId, envelope: envelope() },
    { type: "ack", folderId, seq: 1 },
    {
      type: "snapshotPut",
      requestId: 6,
      folderId,
      epoch: 0,
      coversSeq: 0,
      ciphertext: cryptoRandomBytes(100),
    },
    { type: "snapshotGet", requestId: 7, folderId },
    { type: "haveCheck", requestId: 8, folderId, chunkIds: [chunkId] },
    { type: "presence", folderId, deviceId: device.deviceId, status: "away", ackedSeq: 0 },
    { type: "ephemeral", folderId, deviceId: device.deviceId, payload: cryptoRandomBytes(16) },
    { type: "error", code: "bad_frame", message: "x" },
    { type: "ok", requestId: 1 },
  ];
  const f = `/v1/folders/${folderId}`;
  const json = (method, path, body) => ({ method, path, body: JSON.stringify(body), json: true });
  const keys = {
    signPublicKey: toBase64Url(device.signPublicKey),
    boxPublicKey: toBase64Url(device.boxPublicKey),
  };
  const http = [
    json("POST", "/v1/auth/register", { user: "fuzz-user", password: "fuzz-password" }),
    json("POST", "/v1/auth/login", { user: "fuzz-user", password: "wrong-password", device: keys }),
    json("POST", "/v1/auth/refresh", { refreshToken: "A".repeat(43) }),
    json("POST", "/v1/auth/logout", { refreshToken: "A".repeat(43) }),
    json("POST", "/v1/devices", keys),
    { method: "GET", path: `/v1/devices/${device.deviceId}` },
    { method: "GET", path: "/v1/folders" },
    json("POST", "/v1/folders", { folderId }),
    { method: "GET", path: f },
    { method: "GET", path: `${f}/members` },
    json("POST", `${f}/members`, { user: "nobody", role: "viewer" }),
    { method: "DELETE", path: `${f}/members/nobody` },
    json("POST", `${f}/invites`, { role: "viewer", epoch: 0, wrappedKey: "AAAA", ttlSeconds: 60 }),
    { method: "DELETE", path: `${f}/invites/${"A".repeat(22)}` },
    json("POST", `/v1/invites/${"A".repeat(22)}/redeem`, {}),
    json("PUT", `${f}/keys/${device.deviceId}`, { epoch: 0, wrappedKey: "AAAA" }),
    { method: "GET", path: `${f}/keys` },
    json("POST", `${f}/blobs/missing`, { ids: [chunkId] }),
    json("POST", `${f}/blobs/fetch`, { ids: [chunkId] }),
    json("POST", `${f}/blobs/delete`, { ids: ["cd".repeat(32)] }),
    {
      method: "POST",
      path: `${f}/blobs/batch`,
      body: encodeChunkBatch([{ id: chunkId, bytes: cryptoRandomBytes(64) }]),
    },
    { method: "GET", path: `${f}/blobs/ids?limit=10` },
    { method: "GET", path: `${f}/blobs` },
    { method: "PUT", path: `${f}/blobs/${chunkId}`, body: cryptoRandomBytes(64) },
    {
      method: "PUT",
      path: `${f}/blobs/${"ef".repeat(32)}`,
      body: cryptoRandomBytes(10),
      headers: { "content-range": "bytes 0-9/20" },
    },
    { method: "GET", path: `${f}/blobs/${chunkId}/upload` },
    { method: "GET", path: `${f}/blobs/${chunkId}`, headers: { range: "bytes=0-9" } },
    { method: "GET", path: "/health" },
  ];
  return { ws: messages.map((m) => encodeMessage(m)), http };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x3f, 0x40, 0x20];

/** One mutation (or a few) of `bytes`, or random bytes; never longer than `max`. */
export function mutate(r, bytes, pool, max = 70_000) {
  let out = bytes.slice();
  const rounds = 1 + r.int(r.next() < 0.7 ? 2 : 8);
  for (let k = 0; k < rounds; k++) {
    const at = out.length === 0 ? 0 : r.int(out.length);
    switch (r.int(9)) {
      case 0: // flip a bit
        if (out.length) out[at] ^= 1 << r.int(8);
        break;
      case 1: // an interesting byte
        if (out.length) out[at] = r.pick(INTERESTING);
        break;
      case 2: {
        // insert random bytes
        const ins = r.bytes(1 + r.int(r.next() < 0.9 ? 8 : 2000));
        out = concat(out.subarray(0, at), ins, out.subarray(at));
        break;
      }
      case 3: // delete a range
        out = concat(out.subarray(0, at), out.subarray(at + 1 + r.int(16)));
        break;
      case 4: // truncate
        out = out.subarray(0, at);
        break;
      case 5: {
        // duplicate a range
        const part = out.subarray(at, at + 1 + r.int(64));
        out = concat(out.subarray(0, at), part, part, out.subarray(at));
        break;
      }
      case 6: {
        // splice with another seed
        const other = pool.length > 0 ? r.pick(pool) : out;
        out = concat(out.subarray(0, at), other.subarray(r.int(other.length + 1)));
        break;
      }
      case 7: // a run of one byte (huge varints, long strings)
        out = concat(
          out.subarray(0, at),
          new Uint8Array(1 + r.int(12)).fill(r.pick(INTERESTING)),
          out.subarray(at),
        );
        break;
      default: // random bytes altogether
        out = r.bytes(r.int(r.next() < 0.95 ? 64 : 4096));
    }
  }
  return out.length > max ? out.subarray(0, max) : out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const text = new TextEncoder();

/** JSON that is valid but hostile: deep, huge, of the wrong types. */
function nastyJson(r) {
  const depth = 1 + r.int(40_000);
  switch (r.int(8)) {
    case 0:
      return "[".repeat(depth) + "]".repeat(r.next() < 0.5 ? depth : 0);
    case 1:
      return '{"a":'.repeat(depth) + "1" + "}".repeat(r.next() < 0.5 ? depth : 0);
    case 2:
      return `{"ids":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    case 3:
      return JSON.stringify({
        __proto__: { admin: true },
        constructor: { prototype: 1 },
        user: "x",
      });
    case 4:
      return `{"user":${r.pick(["1e309", "-0", "null", "[]", "{}", "true", '"\\u0000"', '"\\ud800"'])},"password":${r.pick(["1", "null", '"' + "x".repeat(2000) + '"'])}}`;
    case 5:
      return JSON.stringify({
        ids: Array.from({ length: 1 + r.int(3000) }, () => "ab".repeat(32)),
      });
    case 6:
      return JSON.stringify({
        folderId: "x".repeat(r.int(300)),
        epoch: r.pick([-1, 1.5, 2 ** 53, 4294967296]),
        role: r.pick(["owner", "admin", "", 0]),
        wrappedKey: "A".repeat(r.int(3000)),
        ttlSeconds: r.pick([0, 59, 1e9, "60"]),
      });
    default:
      return '{"a":"' + "\\".repeat(r.int(5000)) + '"}';
  }
}

const PATH_JUNK = [
  "",
  "%00",
  "%2e%2e",
  "..",
  "/",
  "//",
  "%ff",
  "x".repeat(300),
  "ab".repeat(32),
  "?a=b&after=zz&limit=0",
  "?limit=99999",
  "#x",
  ";",
  "%",
];

/** A mutated HTTP case from a seed request. */
function httpCase(r, seed, pool, token) {
  const req = { method: seed.method, path: seed.path, headers: { ...(seed.headers ?? {}) } };
  let body =
    seed.body === undefined
      ? undefined
      : typeof seed.body === "string"
        ? text.encode(seed.body)
        : seed.body;
  const roll = r.next();
  if (roll < 0.25 && seed.json) body = text.encode(nastyJson(r));
  else if (roll < 0.75) body = mutate(r, body ?? new Uint8Array(0), pool, 70_000);
  if (r.next() < 0.15) {
    const parts = req.path.split("/");
    parts[1 + r.int(parts.length - 1)] = r.pick(PATH_JUNK);
    req.path = parts.join("/").replace(/^([^/])/, "/$1");
    if (!req.path.startsWith("/")) req.path = `/${req.path}`;
  }
  if (r.next() < 0.05) req.method = r.pick(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
  const auth = r.next();
  if (auth < 0.7) req.headers.authorization = `Bearer ${token}`;
  else if (auth < 0.85)
    req.headers.authorization = `Bearer ${Buffer.from(mutate(r, text.encode(token), [], 9000))
      .toString("latin1")
      .replace(/[^\x21-\x7e]/g, "A")}`;
  if (r.next() < 0.05)
    req.headers["content-range"] = r.pick([
      "bytes 0-0/0",
      "bytes 5-1/2",
      "bytes 0-9/99999999999999",
      "junk",
      `bytes 0-${(body?.length ?? 1) - 1}/${(body?.length ?? 1) * 2}`,
    ]);
  if (r.next() < 0.05)
    req.headers.range = r.pick([
      "bytes=0-",
      "bytes=9-1",
      "bytes=0-99999999999",
      "items=1-2",
      "bytes=1-2,3-4",
    ]);
  if (body !== undefined && (req.method === "GET" || req.method === "DELETE")) body = undefined;
  return { ...req, body };
}

/** Runs the cases (see the API at the top). */
export async function fuzzRelay({
  url,
  token,
  folderId,
  device,
  seed = 1,
  wsCases,
  httpCases,
  concurrency = 16,
  hangMs = 15_000,
  progress,
  deadline,
}) {
  // Past `deadline` (performance.now() milliseconds) no case starts: a long run stops in time.
  const pastDeadline = () => deadline !== undefined && performance.now() > deadline;
  const corpus = seedCorpus({ folderId, device, token });
  const report = {
    seed,
    wsCases: 0,
    httpCases: 0,
    ws: { answered: 0, closed: 0 },
    http: {},
    hangs: [],
    internal: [],
    resets: 0,
    refusedUpgrades: 0,
    unauthorizedUpgrades: 0,
    seconds: 0,
  };
  const started = performance.now();
  const wsUrl = `${url.replace(/^http/, "ws")}/v1/ws`;

  // A socket not authenticated at its upgrade counts against the relay's pre-auth limit per
  // address (16) until its `auth` is answered: at most PRE_AUTH_SOCKETS of them at a time here.
  const preAuth = semaphore(PRE_AUTH_SOCKETS);
  const wsWorker = async (w, count) => {
    const r = prng(seed * 1000 + w);
    let conn;
    for (let i = 0; i < count && !pastDeadline(); i++) {
      if (!conn || conn.closed) {
        // Authenticated at the upgrade (full frame limit), or in band after `hello` (16 KiB
        // frames until `auth` succeeds, and a deadline).
        const atUpgrade = r.next() < 0.7;
        conn = await connect(wsUrl, atUpgrade ? token : undefined, preAuth);
        report.refusedUpgrades += conn.refusals;
        report.unauthorizedUpgrades += conn.unauthorized;
      }
      const preHello = r.next() < 0.1;
      if (!preHello && !conn.greeted) {
        conn.send(corpus.ws[0]);
        if (r.next() < 0.9) conn.send(corpus.ws[1]);
        conn.greeted = true;
      }
      const frame = r.next() < 0.97 ? mutate(r, r.pick(corpus.ws), corpus.ws) : r.bytes(r.int(200));
      const outcome = await conn.exchange(frame, r.next() < 0.02, hangMs);
      report.wsCases++;
      if (outcome === "hang")
        report.hangs.push({ kind: "ws", frame: toBase64Url(frame.subarray(0, 200)) });
      else report.ws[outcome]++;
      if (conn.internal) {
        report.internal.push({
          kind: "ws",
          message: conn.internal,
          frame: toBase64Url(frame.subarray(0, 200)),
        });
        conn.internal = undefined;
      }
      if (outcome === "hang") conn.destroy();
      if (progress && (report.wsCases + report.httpCases) % 5_000 === 0) progress(report);
    }
    conn?.destroy();
  };

  const httpWorker = async (w, count) => {
    const r = prng(seed * 7919 + w);
    for (let i = 0; i < count && !pastDeadline(); i++) {
      const c = httpCase(
        r,
        r.pick(corpus.http),
        corpus.http.map((h) =>
          typeof h.body === "string" ? text.encode(h.body) : (h.body ?? new Uint8Array(0)),
        ),
        token,
      );
      const abort = new globalThis.AbortController();
      const timer = setTimeout(() => abort.abort(), hangMs);
      try {
        const res = await globalThis.fetch(`${url}${c.path}`, {
          method: c.method,
          headers: c.headers,
          body: c.body,
          signal: abort.signal,
        });
        const body = await res.text();
        report.http[res.status] = (report.http[res.status] ?? 0) + 1;
        if (res.status >= 500 && res.status !== 503)
          report.internal.push({
            kind: "http",
            method: c.method,
            path: c.path.slice(0, 120),
            status: res.status,
            answer: body.slice(0, 200),
            body: c.body ? toBase64Url(c.body.subarray(0, 120)) : null,
          });
      } catch {
        if (abort.signal.aborted)
          report.hangs.push({
            kind: "http",
            method: c.method,
            path: c.path.slice(0, 120),
            headers: { ...c.headers, authorization: c.headers.authorization ? "…" : undefined },
            bodyBytes: c.body?.length ?? 0,
            body: c.body ? toBase64Url(c.body.subarray(0, 200)) : null,
          });
        else report.resets++; // the relay closes the connection after a 413, say
      } finally {
        clearTimeout(timer);
      }
      report.httpCases++;
      if (progress && (report.wsCases + report.httpCases) % 5_000 === 0) progress(report);
    }
  };

  const share = (total, n, i) => Math.floor(total / n) + (i < total % n ? 1 : 0);
  await Promise.all([
    ...Array.from({ length: concurrency }, (_, i) => wsWorker(i, share(wsCases, concurrency, i))),
    ...Array.from({ length: concurrency }, (_, i) =>
      httpWorker(i, share(httpCases, concurrency, i)),
    ),
  ]);
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/**
 * A WebSocket to the relay with one case in flight at a time: `exchange(frame)` sends the frame
 * (as text now and then) and a ping behind it, and resolves "answered" once the ping's answer
 * comes back (the relay handled the frame and went on), "closed" when the relay closed the
 * connection instead, or "hang" when neither happened within `hangMs`. An `internal` error from
 * the relay is kept in `internal`: it is a bug, whatever the frame. `token`: authenticate at
 * the upgrade; otherwise the socket holds a slot of `preAuth` until it closes. An upgrade
 * refused (429: the relay still counts a socket this side saw close) is retried, counted in
 * `refusals`.
 */
async function connect(wsUrl, token, preAuth) {
  let release = token ? () => undefined : await preAuth.acquire();
  let refusals = 0;
  let unauthorized = 0;
  let ws;
  for (;;) {
    ws = await openRawSocket(wsUrl, token ? { protocol: `weft, weft.bearer.${token}` } : {});
    if (!("refused" in ws)) break;
    if (ws.refused === 401 && token) {
      // The token no longer works (expired, say): authenticate in band from now on, and say so
      // (every case after this tests less than it should).
      unauthorized++;
      token = undefined;
      release = await preAuth.acquire();
      continue;
    }
    refusals++;
    await new Promise((resolve) => setTimeout(resolve, 20 * Math.min(refusals, 50)));
  }
  const conn = {
    closed: false,
    greeted: false,
    internal: undefined,
    waiting: undefined,
    refusals,
    unauthorized,
  };
  ws.onMessage((data) => {
    let m;
    try {
      m = decodeMessage(data);
    } catch (error) {
      conn.internal ??= `the relay sent an undecodable frame: ${error.message}`;
      return;
    }
    // "internal" only ever comes from a bug in the relay, whatever the frame was.
    if (m.type === "error" && m.code === "internal") conn.internal ??= m.message;
    // The ping's answer, ok or error (before auth): the relay handled the case and went on.
    if (m.requestId === PING_ID) conn.waiting?.("answered");
  });
  ws.onClose(() => {
    conn.closed = true;
    release();
    conn.waiting?.("closed");
  });
  conn.send = (frame) => ws.send(frame);
  conn.destroy = () => ws.destroy();
  conn.exchange = (frame, asText, hangMs) =>
    new Promise((done) => {
      const timer = setTimeout(() => finish("hang"), hangMs);
      const finish = (outcome) => {
        clearTimeout(timer);
        conn.waiting = undefined;
        done(outcome);
      };
      conn.waiting = finish;
      if (conn.closed) return finish("closed");
      // As text: the bytes read as Latin-1, sent as UTF-8 (what a browser's send(string) does).
      if (asText)
        ws.send(Buffer.from(Buffer.from(frame).toString("latin1"), "utf8"), { text: true });
      else ws.send(frame);
      ws.send(PING);
    });
  return conn;
}

/** At most `n` holders at a time; acquire() resolves with the release function. */
function semaphore(n) {
  let free = n;
  const waiting = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  return {
    acquire: () =>
      new Promise((resolve) => {
        const grant = () => {
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            release();
          });
        };
        if (free > 0) {
          free--;
          grant();
        } else waiting.push(grant);
      }),
  };
}

const PRE_AUTH_SOCKETS = 8;
const PING_ID = 4_000_000;
const PING = encodeMessage({ type: "ping", requestId: PING_ID });
