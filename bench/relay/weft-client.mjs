// The relay as bench:relay's clients see it: JSON calls, minted tokens, WebSocket clients doing
// PROTOCOL.md §4's handshake, and the accounts, devices and folders a run needs.
import { createHmac, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { generateDeviceIdentity, newFolderId, toBase64Url } from "@weft/crypto";
import { SUPPORTED_VERSIONS, decodeMessage, encodeMessage } from "@weft/core";
import { WebSocket } from "ws";

const { fetch } = globalThis;
/** Devices per account: the relay holds at most 64 authenticated connections per account. */
export const PER_ACCOUNT = 60;

/** Runs `fn(i)` for i in [0, n) with at most `width` calls in flight. */
export async function pool(n, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** Resolves once `test()` is true (polled), or throws after `ms` with `what`. */
export async function until(test, ms, what) {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The `p`-quantile of an ascending list (NaN when empty). */
export const percentile = (sorted, p) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** One JSON call to the relay; the parsed body and the status. */
export async function call(url, method, path, body, token) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/** The body of `promise`'s response, or an error naming `what` unless its status is `status`. */
export async function expectStatus(what, status, promise) {
  const res = await promise;
  if (res.status !== status)
    throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.json)} (wanted ${status})`);
  return res.json;
}

/**
 * Access tokens as the relay's login issues them (HS256 over {sub, iat, exp, typ, dev}, 15
 * minutes), signed with the secret this bench gave the relay (WEFT_RELAY_JWT_SECRET). A password
 * login costs an Argon2id hash (~0.2 s here), so 10,000 device logins would take half an hour;
 * minting is checked against a real login token in `setUpAccounts`, and the relay still
 * verifies every token and looks up its device on `auth`.
 */
export function tokenMinter(secret) {
  const b64 = (s) => Buffer.from(s).toString("base64url");
  const header = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  return (sub, dev) => {
    const iat = Math.floor(Date.now() / 1000);
    // `fam`: the sign-in the token belongs to (one of its own here, never revoked).
    const fam = randomBytes(16).toString("base64url");
    const claims = { sub, iat, exp: iat + 900, typ: "access", ...(dev ? { dev } : {}), fam };
    const input = `${header}.${b64(JSON.stringify(claims))}`;
    return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
  };
}

let HELLO = encodeMessage({
  type: "hello",
  versions: SUPPORTED_VERSIONS,
  client: { name: "weft-bench", version: "0.1.0" },
});

/**
 * The highest protocol version the bench's clients announce (default: this build's), to
 * measure what older clients cost the same relay (e.g. 4: presence one frame per device).
 */
export function announceUpTo(max) {
  HELLO = encodeMessage({
    type: "hello",
    versions: { min: SUPPORTED_VERSIONS.min, max },
    client: { name: "weft-bench", version: "0.1.0" },
  });
}

/** Whether connects send `auth` after `welcome` (see {@link sendAuthFrame}). */
let AUTH_FRAME = false;

/**
 * Makes the clients send `auth` with the token their upgrade carried, as core's Replica does
 * today (PROTOCOL.md §4); by default they skip it, as the relay allows a socket authenticated
 * at its upgrade (the relay answers that `auth` without checking the token again, but it is one
 * more round trip and a ~400-byte frame each way of a connect).
 */
export function sendAuthFrame(on) {
  AUTH_FRAME = on;
}

/**
 * A relay client: hello, auth (see {@link sendAuthFrame}) and (with a folder) subscribe, as
 * PROTOCOL.md §4 has it; resolves
 * once subscribed (or authenticated). Frames after that go to `client.onFrame(bytes)`, which
 * the fan-out swaps; the default only counts them (presence of other devices).
 */
export function weftConnect(wsUrl, localAddress, token, folderId, afterSeq) {
  return new Promise((resolve, reject) => {
    // The token rides the upgrade (subprotocol weft.bearer.<token>), as the product's clients
    // send it: a socket without one is held to small frames and counted as unauthenticated.
    const ws = new WebSocket(wsUrl, ["weft", `weft.bearer.${token}`], {
      localAddress,
      perMessageDeflate: false,
    });
    const client = { ws, frames: 0, onFrame: () => client.frames++ };
    let stage = 0;
    const fail = (error) => {
      if (stage === 3) return;
      stage = 3;
      ws.terminate();
      reject(error);
    };
    ws.on("error", fail);
    ws.on("close", (code) =>
      fail(new Error(`relay closed the socket (${code}) during the handshake`)),
    );
    ws.on("open", () => ws.send(HELLO));
    ws.on("message", (data) => {
      if (stage === 3) return client.onFrame(data);
      let m;
      try {
        m = decodeMessage(data);
      } catch (error) {
        return fail(error);
      }
      if (m.type === "error") return fail(new Error(`relay: ${m.code}: ${m.message}`));
      const authenticated = stage === 1 && m.type === "ok";
      if (stage === 0 && m.type === "welcome") {
        stage = 1;
        if (AUTH_FRAME) ws.send(encodeMessage({ type: "auth", requestId: 1, token }));
      }
      if (authenticated || (stage === 1 && !AUTH_FRAME)) {
        stage = 2;
        if (folderId === undefined) {
          stage = 3;
          resolve(client);
        } else ws.send(encodeMessage({ type: "subscribe", requestId: 2, folderId, afterSeq }));
      } else if (stage === 2 && m.type === "subscribed") {
        stage = 3;
        resolve(client);
      }
    });
  });
}

/** Closes every client and waits until each socket has closed. */
export async function closeAll(clients) {
  await Promise.all(
    clients.map(
      (c) =>
        new Promise((resolve) => {
          if (!c) return resolve();
          const ws = c.ws;
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once("close", resolve);
          ws.close();
        }),
    ),
  );
}

/** The relay's own count of open sockets (its /metrics gauge). */
export async function relayOpenSockets(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^weft_relay_websocket_connections (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/**
 * Prepares, through the relay at `url`, ⌈devices / 60⌉ accounts (an Argon2id hash each) with
 * 60 devices and one folder each, a publisher device that logs in for real (its token checks
 * the minted ones), and the fan-out folder: account 0's, with the accounts of the first
 * `subscribers` devices as editors. Each device keeps its signing key, so it can append.
 */
export async function setUpAccounts(url, mint, { devices, subscribers, log }) {
  const accountCount = Math.ceil(devices / PER_ACCOUNT);
  log(
    `${url}: registering ${accountCount} accounts (an Argon2id hash each), ${devices} devices, ${accountCount} folders`,
  );
  // Accounts are registered a few at a time and each one's devices and folder right after, so
  // the relay's Argon2id worker and its database writes overlap.
  const accounts = new Array(accountCount);
  const identities = new Array(devices);
  await pool(accountCount, 3, async (a) => {
    const user = `bench-${a}`;
    const { accountId } = await expectStatus(
      `register ${user}`,
      201,
      call(url, "POST", "/v1/auth/register", { user, password: `${user}-password` }),
    );
    const account = { user, accountId, token: mint(accountId), folderId: newFolderId() };
    accounts[a] = account;
    await expectStatus(
      "create folder",
      201,
      call(url, "POST", "/v1/folders", { folderId: account.folderId }, account.token),
    );
    const first = a * PER_ACCOUNT;
    await pool(Math.min(PER_ACCOUNT, devices - first), 6, async (j) => {
      const id = generateDeviceIdentity();
      await expectStatus(
        "add device",
        201,
        call(
          url,
          "POST",
          "/v1/devices",
          {
            signPublicKey: toBase64Url(id.signPublicKey),
            boxPublicKey: toBase64Url(id.boxPublicKey),
          },
          account.token,
        ),
      );
      identities[first + j] = { deviceId: id.deviceId, signSecretKey: id.signSecretKey, account };
    });
  });

  // The publisher logs in for real, with its device: its token is the relay's own, and the
  // minted ones must look the same.
  const publisher = generateDeviceIdentity();
  const login = await expectStatus(
    "login",
    200,
    call(url, "POST", "/v1/auth/login", {
      user: accounts[0].user,
      password: `${accounts[0].user}-password`,
      device: {
        signPublicKey: toBase64Url(publisher.signPublicKey),
        boxPublicKey: toBase64Url(publisher.boxPublicKey),
      },
    }),
  );
  const realClaims = JSON.parse(Buffer.from(login.accessToken.split(".")[1], "base64url"));
  const mintedClaims = JSON.parse(
    Buffer.from(mint(accounts[0].accountId, publisher.deviceId).split(".")[1], "base64url"),
  );
  if (
    login.accessToken.split(".")[0] !== mint("x").split(".")[0] ||
    Object.keys(realClaims).sort().join() !== Object.keys(mintedClaims).sort().join() ||
    realClaims.dev !== publisher.deviceId
  )
    throw new Error(`minted tokens do not look like the relay's: ${JSON.stringify(realClaims)}`);
  const fanFolder = newFolderId();
  await expectStatus(
    "create folder",
    201,
    call(url, "POST", "/v1/folders", { folderId: fanFolder }, login.accessToken),
  );
  for (let a = 1; a < Math.ceil(subscribers / PER_ACCOUNT); a++)
    await expectStatus(
      "add member",
      204,
      call(
        url,
        "POST",
        `/v1/folders/${fanFolder}/members`,
        { user: accounts[a].user, role: "editor" },
        login.accessToken,
      ),
    );
  return { identities, accounts, fanFolder, publisher, refreshToken: login.refreshToken };
}

/** A fresh access token for the publisher (they last 15 minutes), by the real refresh flow. */
export async function refreshPublisher(ctx) {
  const res = await expectStatus(
    "refresh",
    200,
    call(ctx.url, "POST", "/v1/auth/refresh", { refreshToken: ctx.refreshToken }),
  );
  ctx.refreshToken = res.refreshToken;
  return res.accessToken;
}

/** Loopback source addresses 127.0.0.2… for `clients` sockets, `perAddress` each (the relay allows 256). */
export const loopbackAddresses = (clients, perAddress = 200) =>
  Array.from(
    { length: Math.min(250, Math.max(2, Math.ceil(clients / perAddress))) },
    (_, i) => `127.0.0.${i + 2}`,
  );
