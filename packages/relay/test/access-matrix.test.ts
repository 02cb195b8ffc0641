// Who may do what, as one table: every HTTP route and every WebSocket message type × every
// identity (owner, editor, the editor's second device, viewer, a removed member, the editor's
// removed device, an account that is no member, no token, an expired token, the owner's token
// after its logout, a token signed with another secret), against
// one relay process (on SQLite, then on PostgreSQL). The answers expected are written out below; adding an identity is one
// line in IDENTITIES, adding a route or a message one entry in HTTP or WS.
import {
  type DeviceIdentity,
  type FolderId,
  encodeEnvelope,
  generateDeviceIdentity,
  newFolderId,
  randomBytes,
  ready,
  sealEnvelope,
  toBase64Url,
} from "@weft/crypto";
import {
  type Message,
  SUPPORTED_VERSIONS,
  type Transport,
  createWebSocketTransport,
  encodeChunkBatch,
} from "@weft/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import { signAccessToken } from "../src/auth/index.js";
import {
  type RelayProcess,
  type TestDatabase,
  announceEpoch,
  call,
  createTestDatabase,
  signUp,
  startRelayProcess,
} from "@weft/test-support";

const SECRET = "matrix-test-secret-0123456789abcdefghijklmn";
/** The secret before a rotation: still accepted, never used to sign. */
const OLD_SECRET = "matrix-old-secret-0123456789abcdefghijklmno";

/** An identity: a token (or none) and, when it has one, the device it is bound to. */
interface Identity {
  token: string | undefined;
  device: DeviceIdentity | undefined;
  /**
   * The role it holds in the folder; none, a token that is refused (401), or a device removed
   * from its account (its genuine token is forbidden everywhere, 403).
   */
  role: "owner" | "editor" | "viewer" | "none" | "refused" | "removedDevice";
}

// ---- the identities ----
const IDENTITIES = [
  "owner",
  "ownerOldSecret",
  "editor",
  "editorDevice2",
  "viewer",
  "removed",
  "removedDevice",
  "other",
  "noToken",
  "expired",
  "loggedOut",
  "forged",
] as const;
type Who = (typeof IDENTITIES)[number];
const id = {} as Record<Who, Identity>;

let relay: RelayProcess;
let folderId: FolderId;
/** Another folder of the owner's, whose invites every account can redeem. */
let inviteFolder: FolderId;
const users: Record<string, string> = {};
let deviceSeq = 1;

/** What an answer must be: an HTTP status, or for WebSocket the reply type or error code. */
type Expect = number | string;
/** The default rule: refused tokens get `refused`; members below `least` and others `denied`. */
interface Rule {
  least: "viewer" | "editor" | "owner" | "account";
  ok: Expect;
  refused: Expect;
  denied: Expect;
  /** Answers that differ from the rule, by identity. */
  except?: Partial<Record<Who, Expect>>;
}

const RANK = { viewer: 0, editor: 1, owner: 2 } as const;
function expected(rule: Rule, who: Who): Expect {
  if (rule.except?.[who] !== undefined) return rule.except[who];
  const { role } = id[who];
  if (role === "refused") return rule.refused;
  if (role === "removedDevice") return rule.denied;
  if (rule.least === "account") return rule.ok;
  if (role === "none") return rule.denied;
  return RANK[role] >= RANK[rule.least] ? rule.ok : rule.denied;
}

const http = (least: Rule["least"], ok: number, except?: Rule["except"]): Rule => ({
  least,
  ok,
  refused: 401,
  denied: 403,
  ...(except ? { except } : {}),
});

const CHUNK = "cd".repeat(32);

async function status(method: string, path: string, who: Who, body?: unknown): Promise<number> {
  return (await call(relay.url, method, path, body, id[who].token)).status;
}
async function binary(method: string, path: string, who: Who, body: Uint8Array): Promise<number> {
  const token = id[who].token;
  const res = await fetch(`${relay.url}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body,
  });
  await res.arrayBuffer();
  return res.status;
}
async function epoch(): Promise<number> {
  const got = await call(relay.url, "GET", `/v1/folders/${folderId}`, undefined, id.owner.token);
  return got.json["epoch"] as number;
}
/** Completes the key rotation a removal owes: the owner's device announces the next epoch. */
async function rotate(): Promise<void> {
  const owner = id.owner.device!;
  const next = (await epoch()) + 1;
  const got = await announceEpoch(relay.url, owner, id.owner.token!, folderId, next, [owner]);
  expect(got.status).toBe(201);
}
async function invite(folder: FolderId): Promise<string> {
  const got = await call(relay.url, "GET", `/v1/folders/${folder}`, undefined, id.owner.token).then(
    ({ json }) =>
      call(
        relay.url,
        "POST",
        `/v1/folders/${folder}/invites`,
        { role: "viewer", epoch: json["epoch"], wrappedKey: toBase64Url(randomBytes(80)) },
        id.owner.token,
      ),
  );
  return got.json["inviteId"] as string;
}
const f = () => `/v1/folders/${folderId}`;

// ---- the HTTP routes ----
const HTTP: { name: string; rule: Rule; run: (who: Who) => Promise<number> }[] = [
  {
    name: "POST /v1/devices",
    rule: http("account", 201),
    run: (who) => {
      const d = generateDeviceIdentity();
      const keys = {
        signPublicKey: toBase64Url(d.signPublicKey),
        boxPublicKey: toBase64Url(d.boxPublicKey),
      };
      return status("POST", "/v1/devices", who, keys);
    },
  },
  {
    name: "GET /v1/devices/:id",
    rule: http("account", 200),
    run: (who) => status("GET", `/v1/devices/${id.owner.device!.deviceId}`, who),
  },
  {
    name: "GET /v1/folders",
    rule: http("account", 200),
    run: (w) => status("GET", "/v1/folders", w),
  },
  {
    name: "POST /v1/folders",
    rule: http("account", 201),
    run: (who) => status("POST", "/v1/folders", who, { folderId: newFolderId() }),
  },
  {
    // The same answer whether the caller is a member of that folder or not.
    name: "POST /v1/folders (an id that is taken)",
    rule: http("account", 409),
    run: (who) => status("POST", "/v1/folders", who, { folderId }),
  },
  { name: "GET folder", rule: http("viewer", 200), run: (w) => status("GET", f(), w) },
  {
    name: "GET members",
    rule: http("viewer", 200),
    run: (w) => status("GET", `${f()}/members`, w),
  },
  {
    name: "POST members",
    rule: http("owner", 204),
    run: (w) => status("POST", `${f()}/members`, w, { user: users["viewer"], role: "viewer" }),
  },
  {
    name: "DELETE members/:user",
    rule: http("owner", 200),
    run: async (who) => {
      // A member added for this cell, so each cell has someone to remove.
      const victim = users["victim"]!;
      await call(
        relay.url,
        "POST",
        `${f()}/members`,
        { user: victim, role: "viewer" },
        id.owner.token,
      );
      const answer = await status("DELETE", `${f()}/members/${victim}`, who);
      // A removal owes a key rotation, and invites wait for it: the owner's device makes it, as
      // its agent would, so the cells after this one see a folder with a key for its epoch.
      if (answer === 200) await rotate();
      return answer;
    },
  },
  {
    name: "POST invites",
    rule: http("owner", 201),
    run: async (who) =>
      status("POST", `${f()}/invites`, who, {
        role: "viewer",
        epoch: await epoch(),
        wrappedKey: toBase64Url(randomBytes(80)),
      }),
  },
  {
    name: "DELETE invites/:id",
    rule: http("owner", 204),
    run: async (who) => status("DELETE", `${f()}/invites/${await invite(folderId)}`, who),
  },
  {
    // Any account may redeem an invite it holds: that is what an invite is for.
    name: "POST /v1/invites/:id/redeem",
    rule: http("account", 200),
    run: async (who) => status("POST", `/v1/invites/${await invite(inviteFolder)}/redeem`, who, {}),
  },
  {
    name: "PUT keys/:ownDevice",
    // Any member stores its own device's row (a viewer's key is wrapped to itself too); the
    // owner's device got its row with the epoch's announcement, and rows are never overwritten.
    rule: http("viewer", 204, { owner: 409 }),
    run: async (who) =>
      status("PUT", `${f()}/keys/${(id[who].device ?? id.owner.device)!.deviceId}`, who, {
        epoch: await epoch(),
        wrappedKey: toBase64Url(randomBytes(80)),
      }),
  },
  {
    // Only an owner stores a key for another device: anyone else could plant one.
    name: "PUT keys/:viewersDevice",
    rule: http("owner", 204, { editor: 403, editorDevice2: 403 }),
    run: async (who) => {
      // A new device of the viewer's for each cell: a stored key is never replaced.
      const d = generateDeviceIdentity();
      const keys = {
        signPublicKey: toBase64Url(d.signPublicKey),
        boxPublicKey: toBase64Url(d.boxPublicKey),
      };
      await call(relay.url, "POST", "/v1/devices", keys, id.viewer.token);
      return status("PUT", `${f()}/keys/${d.deviceId}`, who, {
        epoch: await epoch(),
        wrappedKey: toBase64Url(randomBytes(80)),
      });
    },
  },
  { name: "GET keys", rule: http("viewer", 200), run: (w) => status("GET", `${f()}/keys`, w) },
  {
    name: "POST blobs/missing",
    rule: http("viewer", 200),
    run: (w) => status("POST", `${f()}/blobs/missing`, w, { ids: [CHUNK] }),
  },
  {
    name: "POST blobs/fetch",
    rule: http("viewer", 200),
    run: (w) => status("POST", `${f()}/blobs/fetch`, w, { ids: [CHUNK] }),
  },
  {
    name: "POST blobs/batch",
    rule: http("editor", 200),
    run: (w) =>
      binary(
        "POST",
        `${f()}/blobs/batch`,
        w,
        encodeChunkBatch([{ id: CHUNK as never, bytes: randomBytes(50) }]),
      ),
  },
  {
    name: "POST blobs/delete",
    rule: http("owner", 200),
    run: (w) => status("POST", `${f()}/blobs/delete`, w, { ids: [CHUNK] }),
  },
  {
    name: "GET blobs/ids",
    rule: http("viewer", 200),
    run: (w) => status("GET", `${f()}/blobs/ids`, w),
  },
  { name: "GET blobs", rule: http("viewer", 200), run: (w) => status("GET", `${f()}/blobs`, w) },
  {
    name: "PUT blobs/:id",
    rule: http("editor", 201),
    // A fresh chunk id each time, so success is always "stored".
    run: (w) => binary("PUT", `${f()}/blobs/${toHex32()}`, w, randomBytes(40)),
  },
  {
    name: "GET blobs/:id/upload",
    rule: http("editor", 200),
    run: (w) => status("GET", `${f()}/blobs/${CHUNK}/upload`, w),
  },
  {
    name: "GET blobs/:id",
    rule: http("viewer", 404), // the chunk is absent: a member learns so, others learn nothing
    run: (w) => status("GET", `${f()}/blobs/${"ef".repeat(32)}`, w),
  },
];

function toHex32(): string {
  return Buffer.from(randomBytes(32)).toString("hex");
}

// ---- the WebSocket messages ----
/** The first answer to the message: the reply's type, or the error's code. */
type WsRun = (who: Who) => Message | Promise<Message>;
const ws = (least: Rule["least"], ok: string, except?: Rule["except"]): Rule => ({
  least,
  ok,
  refused: "unauthorized",
  denied: "forbidden",
  ...(except ? { except } : {}),
});

async function envelopeOf(device: DeviceIdentity): Promise<Uint8Array> {
  const current = await epoch();
  return encodeEnvelope(
    sealEnvelope(
      { folderId, deviceId: device.deviceId, deviceSeq: deviceSeq++, epoch: current },
      randomBytes(32),
      device.signSecretKey,
      randomBytes(20),
    ),
  );
}
const me = (who: Who) => (id[who].device ?? id.owner.device)!;

const WS: { name: string; rule: Rule; message: WsRun }[] = [
  {
    name: "ping",
    rule: ws("account", "ok"),
    message: () => ({ type: "ping", requestId: 7 }),
  },
  {
    name: "subscribe",
    rule: ws("viewer", "subscribed"),
    message: () => ({ type: "subscribe", requestId: 7, folderId, afterSeq: 0 }),
  },
  {
    name: "unsubscribe",
    rule: ws("viewer", "ok"),
    message: () => ({ type: "unsubscribe", requestId: 7, folderId }),
  },
  {
    name: "append (own device)",
    rule: ws("editor", "appended"),
    message: async (who) => ({
      type: "append",
      requestId: 7,
      folderId,
      envelope: await envelopeOf(me(who)),
    }),
  },
  {
    name: "append (another device's envelope)",
    rule: ws("editor", "forbidden"),
    message: async (who) => ({
      type: "append",
      requestId: 7,
      folderId,
      envelope: await envelopeOf((who === "owner" ? id.viewer : id.owner).device!),
    }),
  },
  {
    name: "ack",
    rule: ws("viewer", "ok"),
    message: () => ({ type: "ack", folderId, seq: 1 }),
  },
  {
    name: "snapshotPut",
    rule: ws("editor", "ok"),
    message: async () => ({
      type: "snapshotPut",
      requestId: 7,
      folderId,
      epoch: await epoch(),
      coversSeq: 0,
      ciphertext: randomBytes(64),
    }),
  },
  {
    name: "snapshotGet",
    rule: ws("viewer", "snapshot"),
    message: () => ({ type: "snapshotGet", requestId: 7, folderId }),
  },
  {
    name: "haveCheck",
    rule: ws("viewer", "haveResult"),
    message: () => ({ type: "haveCheck", requestId: 7, folderId, chunkIds: [CHUNK as never] }),
  },
  {
    name: "presence (own device)",
    rule: ws("viewer", "ok"),
    message: (who) => ({
      type: "presence",
      folderId,
      deviceId: me(who).deviceId,
      status: "online",
      ackedSeq: 0,
    }),
  },
  {
    name: "presence (in another device's name)",
    rule: ws("viewer", "forbidden", { viewer: "ok" }), // the viewer's own name, for the viewer
    message: () => ({
      type: "presence",
      folderId,
      deviceId: id.viewer.device!.deviceId,
      status: "online",
      ackedSeq: 0,
    }),
  },
  {
    name: "ephemeral (own device)",
    rule: ws("viewer", "ok"),
    message: (who) => ({
      type: "ephemeral",
      folderId,
      deviceId: me(who).deviceId,
      payload: randomBytes(8),
    }),
  },
  {
    // A connection authenticated as one device may refresh its token, not become another.
    name: "auth again as another device",
    // With no first auth, this one is the first: it succeeds.
    rule: ws("account", "forbidden", { noToken: "ok" }),
    message: (who) => ({
      type: "auth",
      requestId: 7,
      token: who === "owner" ? id.editor.token! : id.owner.token!,
    }),
  },
];

/**
 * Opens a connection as `who` (hello, then auth unless it has no token), sends `message`, and
 * answers what the relay made of it: the reply's type, the error's code, or "ok" when a message
 * that has no reply (ack, presence, ephemeral) was followed by an answered ping and no error.
 */
async function wsAnswer(who: Who, message: Message): Promise<string> {
  const transport: Transport = createWebSocketTransport(
    `${relay.url.replace("http", "ws")}/v1/ws`,
    { WebSocket },
  );
  try {
    const seen: Message[] = [];
    let wake: () => void = () => undefined;
    transport.on("message", (m) => {
      seen.push(m);
      wake();
    });
    const closed = new Promise<void>((resolve) => transport.on("close", () => resolve()));
    await transport.connect();
    transport.send({
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "m", version: "1" },
    });
    const token = id[who].token;
    if (token !== undefined) transport.send({ type: "auth", requestId: 1, token });
    transport.send(message);
    // A message with a request id is answered; one without is followed by a ping, whose answer
    // (with no error before it) shows the message was taken.
    const replies = "requestId" in message;
    if (!replies) transport.send({ type: "ping", requestId: 99 });
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    for (;;) {
      const answer = seen.find(
        (m) =>
          m.type === "error" ||
          ("requestId" in m && m.requestId === 7) ||
          (!replies && m.type === "ok" && m.requestId === 99),
      );
      if (answer) return answer.type === "error" ? answer.code : answer.type;
      if (isClosed) return "closed without an answer";
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), closed]);
    }
  } finally {
    transport.close();
  }
}

/** The relay's database for the PostgreSQL run. */
let database: TestDatabase | undefined;

// The same table against the relay on its embedded SQLite and on PostgreSQL (`--database`).
describe.each(["SQLite", "PostgreSQL"])("on %s", (backend) => {
  beforeAll(async () => {
    await ready();
    database = backend === "PostgreSQL" ? await createTestDatabase() : undefined;
    relay = await startRelayProcess({
      ...(database ? { WEFT_RELAY_DATABASE: database.url } : {}),
      WEFT_RELAY_JWT_SECRET: SECRET,
      WEFT_RELAY_JWT_PREVIOUS_SECRETS: OLD_SECRET,
      WEFT_RELAY_GC_GRACE: "0",
    });
    const prefix = `m${Date.now().toString(36)}`;
    const account = async (name: string, device = generateDeviceIdentity()) => {
      users[name] = `${prefix}-${name}`;
      return { token: await signUp(relay.url, users[name], device), device };
    };
    type Account = Awaited<ReturnType<typeof account>>;
    const [owner, editor, viewer, removed, other] = (await Promise.all(
      ["owner", "editor", "viewer", "removed", "other"].map((n) => account(n)),
    )) as [Account, Account, Account, Account, Account];
    await account("victim");
    folderId = newFolderId();
    inviteFolder = newFolderId();
    for (const folder of [folderId, inviteFolder])
      expect(
        (await call(relay.url, "POST", "/v1/folders", { folderId: folder }, owner.token)).status,
      ).toBe(201);
    for (const [name, role] of [
      ["editor", "editor"],
      ["viewer", "viewer"],
      ["removed", "editor"],
    ] as const) {
      const added = await call(
        relay.url,
        "POST",
        `/v1/folders/${folderId}/members`,
        { user: users[name], role },
        owner.token,
      );
      expect(added.status).toBe(204);
    }
    const gone = await call(
      relay.url,
      "DELETE",
      `/v1/folders/${folderId}/members/${users["removed"]}`,
      undefined,
      owner.token,
    );
    expect(gone.status).toBe(200);
    // The editor's second device: a login of the same account with other keys.
    const device2 = generateDeviceIdentity();
    const login = await call(relay.url, "POST", "/v1/auth/login", {
      user: users["editor"],
      password: `${users["editor"]}-correct-horse`,
      device: {
        signPublicKey: toBase64Url(device2.signPublicKey),
        boxPublicKey: toBase64Url(device2.boxPublicKey),
      },
    });
    expect(login.status).toBe(200);
    // The editor's lost laptop: signed in, then removed from the account by another device.
    const lost = generateDeviceIdentity();
    const lostLogin = await call(relay.url, "POST", "/v1/auth/login", {
      user: users["editor"],
      password: `${users["editor"]}-correct-horse`,
      device: {
        signPublicKey: toBase64Url(lost.signPublicKey),
        boxPublicKey: toBase64Url(lost.boxPublicKey),
      },
    });
    expect(lostLogin.status).toBe(200);
    const removal = await call(
      relay.url,
      "DELETE",
      `/v1/devices/${lost.deviceId}`,
      undefined,
      editor.token,
    );
    expect(removal.status).toBe(200);
    const ownerId = JSON.parse(Buffer.from(owner.token.split(".")[1]!, "base64url").toString()) as {
      sub: string;
      dev: string;
    };
    const ownerDevice2 = generateDeviceIdentity();
    const registered = await call(
      relay.url,
      "POST",
      "/v1/devices",
      {
        signPublicKey: toBase64Url(ownerDevice2.signPublicKey),
        boxPublicKey: toBase64Url(ownerDevice2.boxPublicKey),
      },
      owner.token,
    );
    expect(registered.status).toBe(201);
    // The owner signs in on its device a second time and signs out: that access token is
    // genuine and unexpired, but its sign-in ended.
    const ownerLogin = await call(relay.url, "POST", "/v1/auth/login", {
      user: users["owner"],
      password: `${users["owner"]}-correct-horse`,
      device: {
        signPublicKey: toBase64Url(owner.device.signPublicKey),
        boxPublicKey: toBase64Url(owner.device.boxPublicKey),
      },
    });
    expect(ownerLogin.status).toBe(200);
    const logout = { refreshToken: ownerLogin.json["refreshToken"] };
    expect((await call(relay.url, "POST", "/v1/auth/logout", logout)).status).toBe(204);
    const secret = new TextEncoder().encode(SECRET);
    Object.assign(id, {
      owner: { ...owner, role: "owner" },
      // The owner's second device, its token signed before a secret rotation (and without the
      // family claim, as before the relay issued one): an owner still.
      ownerOldSecret: {
        token: signAccessToken(new TextEncoder().encode(OLD_SECRET), {
          sub: ownerId.sub,
          dev: ownerDevice2.deviceId,
        }),
        device: ownerDevice2,
        role: "owner",
      },
      editor: { ...editor, role: "editor" },
      editorDevice2: {
        token: login.json["accessToken"] as string,
        device: device2,
        role: "editor",
      },
      viewer: { ...viewer, role: "viewer" },
      removed: { ...removed, role: "none" },
      removedDevice: {
        token: lostLogin.json["accessToken"] as string,
        device: lost,
        role: "removedDevice",
      },
      other: { ...other, role: "none" },
      noToken: { token: undefined, device: undefined, role: "refused" },
      // Genuine in every way but its time: signed with the relay's secret three hours ago.
      expired: {
        token: signAccessToken(
          secret,
          { sub: ownerId.sub, dev: ownerId.dev },
          { now: Date.now() - 3 * 3600_000 },
        ),
        device: owner.device,
        role: "refused",
      },
      loggedOut: {
        token: ownerLogin.json["accessToken"] as string,
        device: owner.device,
        role: "refused",
      },
      forged: {
        token: signAccessToken(new TextEncoder().encode("another-secret-0123456789abcdefghijkl"), {
          sub: ownerId.sub,
          dev: ownerId.dev,
        }),
        device: owner.device,
        role: "refused",
      },
    } satisfies Record<Who, Identity>);
    // The removal above owes a key rotation (invites wait for it): the owner's device makes it.
    await rotate();
  }, 120_000);

  afterAll(async () => {
    await relay?.dispose();
    await database?.drop();
  });

  test("every route and message × every identity gets exactly the expected answer", async () => {
    const wrong: string[] = [];
    let cells = 0;
    for (const route of HTTP)
      for (const who of IDENTITIES) {
        const want = expected(route.rule, who);
        const got = await route.run(who);
        cells++;
        if (got !== want) wrong.push(`HTTP ${route.name} as ${who}: ${got}, expected ${want}`);
      }
    for (const m of WS)
      for (const who of IDENTITIES) {
        const want = expected(m.rule, who);
        const got = await wsAnswer(who, await m.message(who));
        cells++;
        if (got !== want) wrong.push(`WS ${m.name} as ${who}: ${got}, expected ${want}`);
      }
    console.log(
      `access matrix: ${cells} cells (${HTTP.length} HTTP routes + ${WS.length} WebSocket messages × ${IDENTITIES.length} identities), ${wrong.length} wrong`,
    );
    expect(wrong).toEqual([]);
  }, 120_000);
});
