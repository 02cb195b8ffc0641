// WebSocket sessions end with what authorized them, against the real relay process: a socket
// whose access token expired is ended (`unauthorized`) and gets nothing more; a removed member's
// socket is closed at once ("you were removed from this folder") and misses later presence;
// logging out ends the device's sockets and refuses its access token (API and `auth`); and a
// Replica re-authenticates before its token runs out, so it keeps syncing across many token
// lifetimes without dropping its connection.
import {
  type DeviceIdentity,
  generateDeviceIdentity,
  newFolderId,
  ready,
  toBase64Url,
} from "@weft/crypto";
import {
  MemoryBlobStore,
  MemoryStateStore,
  type Message,
  RelayAccount,
  Replica,
  SUPPORTED_VERSIONS,
  type Transport,
  createWebSocketTransport,
} from "@weft/core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { type RelayProcess, call, logIn, signUp, startRelayProcess } from "@weft/test-support";
import { SIGN_IN_ENDED } from "../src/server/index.js";

/** Seconds an access token lives on the short-lived relay. */
const TTL = 3;
let shortLived: RelayProcess;
let relay: RelayProcess;
const open: { close(): void | Promise<void> }[] = [];

beforeAll(async () => {
  await ready();
  [shortLived, relay] = await Promise.all([
    startRelayProcess({ WEFT_RELAY_ACCESS_TTL: String(TTL) }),
    startRelayProcess(),
  ]);
}, 60_000);
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});
afterAll(async () => {
  await Promise.all([shortLived.dispose(), relay.dispose()]);
});

/** A raw protocol client: every message it got, and a promise of its close. */
interface RawClient {
  transport: Transport;
  messages: Message[];
  closed: Promise<string>;
  /** Resolves with the first message (from now on or already got) that `match` accepts. */
  next(match: (m: Message) => boolean): Promise<Message>;
}

async function rawClient(url: string, token: string, folderId: string): Promise<RawClient> {
  const transport = createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket });
  open.push(transport);
  const messages: Message[] = [];
  const waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  transport.on("message", (m) => {
    messages.push(m);
    for (const w of [...waiters])
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
  });
  const closed = new Promise<string>((resolve) =>
    transport.on("close", (info) => resolve(info.reason)),
  );
  const next = (match: (m: Message) => boolean) =>
    new Promise<Message>((resolve) => {
      const got = messages.find(match);
      if (got) resolve(got);
      else waiters.push({ match, resolve });
    });
  await transport.connect();
  transport.send({
    type: "hello",
    versions: SUPPORTED_VERSIONS,
    client: { name: "t", version: "1" },
  });
  transport.send({ type: "auth", requestId: 1, token });
  transport.send({ type: "subscribe", requestId: 2, folderId: folderId as never, afterSeq: 0 });
  await next((m) => m.type === "subscribed" || m.type === "error");
  expect(messages.slice(0, 3).map((m) => m.type)).toEqual(["welcome", "ok", "subscribed"]);
  return { transport, messages, closed, next };
}

/** `promise`, or a failure naming `what` after `ms` (a generous bound for a loaded machine). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

const isError = (m: Message) => m.type === "error";

/** The relay's answer to `auth` with `token` on a new connection: `ok` or an error. */
async function authAnswer(url: string, token: string): Promise<Message> {
  const transport = createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket });
  open.push(transport);
  const answer = new Promise<Message>((resolve) =>
    transport.on("message", (m) => {
      if (m.type === "ok" || m.type === "error") resolve(m);
    }),
  );
  await transport.connect();
  transport.send({
    type: "hello",
    versions: SUPPORTED_VERSIONS,
    client: { name: "t", version: "1" },
  });
  transport.send({ type: "auth", requestId: 1, token });
  return within(answer, 10_000, "the answer to auth");
}

/** An owner's folder with the given others as editors; the tokens of each, by name. */
async function folderWith(url: string, names: string[], prefix: string) {
  const folderId = newFolderId();
  const devices: Record<string, DeviceIdentity> = {};
  const tokens: Record<string, string> = {};
  // The owner signs up last, so that its token is fresh for the calls below: on the relay whose
  // tokens live 3 s, a loaded machine's password hashes for the others could outlast it.
  const owner = names[0]!;
  for (const name of [...names.slice(1), owner]) {
    devices[name] = generateDeviceIdentity();
    tokens[name] = await signUp(url, `${prefix}-${name}`, devices[name]);
  }
  expect((await call(url, "POST", "/v1/folders", { folderId }, tokens[owner])).status).toBe(201);
  for (const name of names.slice(1)) {
    const member = { user: `${prefix}-${name}`, role: "editor" };
    const added = await call(url, "POST", `/v1/folders/${folderId}/members`, member, tokens[owner]);
    expect(added.status).toBe(204);
  }
  return { folderId, devices, tokens };
}

/** The presence a message carries: a `presence` frame's, or a `presenceList`'s items (protocol 5). */
const presenceIn = (m: Message): { deviceId: string; status: string }[] =>
  m.type === "presence" ? [m] : m.type === "presenceList" ? m.items : [];

describe("sessions end with their authorization", () => {
  test("a socket whose access token expired is ended as unauthorized and gets nothing more", async () => {
    const { folderId, devices } = await folderWith(shortLived.url, ["ann", "ben"], "exp");
    // A token from a login now, not from the sign-up: the session must start before it expires.
    const token = await logIn(shortLived.url, "exp-ben", devices["ben"]);
    const ben = await rawClient(shortLived.url, token, folderId);
    const ended = await within(ben.next(isError), (TTL + 10) * 1000, "the expired session to end");
    expect(ended).toMatchObject({ code: "unauthorized" });
    expect((ended as { message: string }).message).toMatch(/access token expired/);
    await within(ben.closed, 10_000, "the socket to close");
    expect(ben.messages.at(-1)).toBe(ended);
  });

  test("a removed member's socket is closed at once and misses later presence", async () => {
    const names = ["amy", "bo", "cy", "di"];
    const { folderId, devices, tokens } = await folderWith(relay.url, names, "rm");
    const amy = await rawClient(relay.url, tokens["amy"]!, folderId);
    const bo = await rawClient(relay.url, tokens["bo"]!, folderId);
    const cy = await rawClient(relay.url, tokens["cy"]!, folderId);
    const di = await rawClient(relay.url, tokens["di"]!, folderId);
    const removed = await call(
      relay.url,
      "DELETE",
      `/v1/folders/${folderId}/members/rm-bo`,
      undefined,
      tokens["amy"],
    );
    expect(removed).toEqual({ status: 200, json: { epoch: 0, rotationDue: true } });
    const refusal = await within(bo.next(isError), 10_000, "the removed member's refusal");
    expect(refusal).toMatchObject({
      code: "forbidden",
      message: "you were removed from this folder",
    });
    await within(bo.closed, 10_000, "the removed member's socket to close");
    // The owner's session is told the key must change (its device reconnects and makes it).
    expect(await within(amy.next(isError), 10_000, "the owner to be told")).toMatchObject({
      code: "unavailable",
      message: "the folder's key must change; connect again",
    });
    // Cy's presence now reaches Di, and not Bo.
    const presence = {
      type: "presence" as const,
      folderId: folderId as never,
      deviceId: devices["cy"]!.deviceId,
      status: "away" as const,
      ackedSeq: 0,
    };
    cy.transport.send(presence);
    await within(
      di.next((m) =>
        presenceIn(m).some((p) => p.deviceId === devices["cy"]!.deviceId && p.status === "away"),
      ),
      10_000,
      "Di to see Cy's presence",
    );
    expect(bo.messages.at(-1)).toBe(refusal);
    expect(bo.messages.some((m) => presenceIn(m).some((p) => p.status === "away"))).toBe(false);
  });

  test("logging out ends the device's open sockets", async () => {
    const device = generateDeviceIdentity();
    const { folderId } = await folderWith(relay.url, ["lou"], "out");
    // A second login of the owner, by hand, to hold its refresh token.
    const login = await call(relay.url, "POST", "/v1/auth/login", {
      user: "out-lou",
      password: "out-lou-correct-horse",
      device: {
        signPublicKey: toBase64Url(device.signPublicKey),
        boxPublicKey: toBase64Url(device.boxPublicKey),
      },
    });
    expect(login.status).toBe(200);
    const lou = await rawClient(relay.url, login.json["accessToken"] as string, folderId);
    const out = await call(relay.url, "POST", "/v1/auth/logout", {
      refreshToken: login.json["refreshToken"],
    });
    expect(out.status).toBe(204);
    const ended = await within(lou.next(isError), 10_000, "the signed-out session to end");
    expect(ended).toMatchObject({ code: "unauthorized", message: "the session ended: signed out" });
    await within(lou.closed, 10_000, "the socket to close");
    // The access token, minutes from its expiry, is refused from the logout on: on the API and
    // for a new WebSocket session alike.
    const token = login.json["accessToken"] as string;
    expect(await call(relay.url, "GET", "/v1/folders", undefined, token)).toEqual({
      status: 401,
      json: { error: { code: "unauthorized", message: SIGN_IN_ENDED } },
    });
    expect(await authAnswer(relay.url, token)).toMatchObject({
      type: "error",
      code: "unauthorized",
      message: SIGN_IN_ENDED,
    });
  });
});

describe("a replica across token lifetimes", () => {
  test("re-authenticates before its token expires and keeps syncing without reconnecting", async () => {
    const signIn = async (user: string) => {
      const password = `${user}-pass-phrase-long-enough`;
      await RelayAccount.register({ relay: shortLived.url, user, password });
      return RelayAccount.login({
        relay: shortLived.url,
        user,
        password,
        identity: generateDeviceIdentity(),
      });
    };
    const ana = await signIn("span-ana");
    const ben = await signIn("span-ben");
    const { folderId, keyring } = await ana.createFolder();
    const joined = await ben.redeemInvite(await ana.createInvite(keyring, { role: "editor" }));
    const tokensSeen = new Set<string>();
    const offline: string[] = [];
    const openReplica = async (account: RelayAccount, ring = keyring) => {
      const options = account.replicaOptions(folderId, { WebSocket });
      const replica = await Replica.open({
        identity: account.identity,
        folderId,
        keyring: ring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
        ...options,
        token: async () => {
          const token = await options.token();
          if (account === ben) tokensSeen.add(token);
          return token;
        },
      });
      open.push({ close: () => replica.close() });
      replica.on("status", ({ status }) => {
        if (status === "offline") offline.push(account.accountId);
      });
      return replica;
    };
    const a = await openReplica(ana);
    const b = await openReplica(ben, joined.keyring);
    await a.syncOnce();
    await b.syncOnce();
    a.start();
    b.start();
    const offlineBefore = offline.length;
    // Ben's replica authenticated again with fresh tokens, past the first one's whole lifetime.
    const since = Date.now();
    await within(
      new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (tokensSeen.size >= 4 && Date.now() - since > (TTL + 1) * 1000) {
            clearInterval(check);
            resolve();
          }
        }, 100);
      }),
      30_000,
      "several token lifetimes with fresh auths",
    );
    const arrived = new Promise<void>((resolve) =>
      b.on("change", ({ origin }) => {
        if (origin === "remote") resolve();
      }),
    );
    await a.writeFile(
      "late.txt",
      new TextEncoder().encode("written after the first token expired"),
    );
    await a.syncOnce();
    await within(arrived, 20_000, "the write to reach Ben's replica");
    await b.syncOnce();
    expect(new TextDecoder().decode(await b.readFile("late.txt"))).toBe(
      "written after the first token expired",
    );
    expect(offline.slice(offlineBefore)).toEqual([]);
  }, 60_000);
});
