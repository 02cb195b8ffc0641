// The dashboard server's guards, without a browser: the token and its cookie, the Host check
// (DNS rebinding), Origin plus custom header on writes (CSRF, the member and device actions
// included), the body limit, the security headers, that no API answer carries a key, a relay
// token or the dashboard token, and that a relay out of reach is an error, not a broken page.
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fromBase64Url, ready, toHex, unwrapKeyForDevice } from "@weft/crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Home } from "../src/home/index.js";
import type { FolderSync } from "../src/sync/folder-sync.js";
import { openFolders } from "../src/sync/run.js";
import { DashboardServer } from "../src/ui/index.js";
import {
  type Device,
  type RawResponse,
  type RelayProcess,
  enroll,
  makeDevice,
  rawRequest,
  startRelayProcess,
} from "@weft/test-support";

let relay: RelayProcess;
let ana: Device & { dispose(): Promise<void> };
let syncs: FolderSync[] = [];
let server: DashboardServer;
let folderId: string;
let host: string;
let cookie: string;
/** Every secret the page must never see, in each encoding it could leak in. */
const secrets: string[] = [];

beforeAll(async () => {
  relay = await startRelayProcess();
  ana = await makeDevice("ana");
  await enroll(ana, relay.url);
  ({ folderId } = (await ana.ok(["folder", "create", ana.folder])) as { folderId: string });
  await writeFile(join(ana.folder, "notes.txt"), "first\n");
  await ana.ok(["sync", "--once"]);
  await writeFile(join(ana.folder, "notes.txt"), "second\n");
  await ana.ok(["sync", "--once"]);

  await ready();
  const home = new Home(ana.home);
  const identity = await home.device();
  syncs = await openFolders(home, identity, await home.folders(), false);
  server = await DashboardServer.start({ syncs, home, identity });
  host = new URL(server.origin).host;

  const keys = JSON.parse(
    await readFile(join(ana.home, "folders", folderId, "keys.json"), "utf8"),
  ) as { wrapped: string }[];
  for (const k of keys) {
    const key = unwrapKeyForDevice(
      fromBase64Url(k.wrapped),
      identity.boxPublicKey,
      identity.boxSecretKey,
    );
    secrets.push(k.wrapped, toHex(key), Buffer.from(key).toString("base64"));
    secrets.push(Buffer.from(key).toString("base64url"));
  }
  for (const secret of [identity.signSecretKey, identity.boxSecretKey])
    secrets.push(toHex(secret), Buffer.from(secret).toString("base64url"));
  const accounts = JSON.parse(await readFile(join(ana.home, "accounts.json"), "utf8")) as {
    refreshToken: string;
    accessToken?: string;
  }[];
  for (const a of accounts) secrets.push(a.refreshToken, ...(a.accessToken ? [a.accessToken] : []));
  secrets.push(server.token, ana.env["WEFT_PASSWORD"]!);

  const signIn = await rawRequest(`${server.origin}/?token=${server.token}`);
  cookie = (signIn.headers["set-cookie"] as string[])[0]!.split(";")[0]!;
}, 60_000);

afterAll(async () => {
  await server?.close();
  await Promise.allSettled(syncs.map((s) => s.close()));
  await ana?.dispose();
  await relay?.dispose();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  rawRequest(`${server.origin}${path}`, { headers: { host, cookie, ...headers } });

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  rawRequest(`${server.origin}${path}`, {
    method: "POST",
    headers: {
      host,
      cookie,
      origin: server.origin,
      "x-weft-ui": "1",
      "content-type": "application/json",
      ...headers,
    },
    body: JSON.stringify(body),
  });

describe("the dashboard's guards", () => {
  test("the printed URL's token becomes an HttpOnly, SameSite=Strict cookie; nothing else gets in", async () => {
    const noCookie = await rawRequest(`${server.origin}/`);
    expect(noCookie.status).toBe(401);
    expect(noCookie.body).toMatch(/weft ui/);
    const wrong = await rawRequest(`${server.origin}/?token=${"A".repeat(43)}`);
    expect(wrong.status).toBe(401);
    expect(wrong.headers["set-cookie"]).toBeUndefined();

    const right = await rawRequest(server.url);
    expect(right.status).toBe(303);
    expect(right.headers["location"]).toBe("/");
    const set = (right.headers["set-cookie"] as string[])[0]!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    expect(set).toMatch(/Path=\//);

    const page = await get("/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/text\/html/);
    expect(page.body).toContain('<script type="module" src="/app.js">');

    for (const path of ["/api/state", "/api/files?folder=x", "/app.js", "/vendor/preact.mjs"]) {
      expect((await get(path, { cookie: "" })).status).toBe(401);
      expect(
        (await get(path, { cookie: `weft_ui_${server.origin.split(":")[2]}=nope` })).status,
      ).toBe(401);
    }
    expect((await post("/api/restore", {}, { cookie: "" })).status).toBe(401);
  });

  test("a Host other than 127.0.0.1 or localhost on its own port is refused (DNS rebinding)", async () => {
    const port = new URL(server.origin).port;
    for (const other of [`evil.example:${port}`, "127.0.0.1:1", `127.0.0.1.nip.io:${port}`]) {
      const r = await get("/api/state", { host: other });
      expect(r.status, other).toBe(421);
      expect(r.body).not.toContain('"folders"');
    }
    expect((await get("/api/state", { host: `localhost:${port}` })).status).toBe(200);
    expect(
      (await rawRequest(server.url, { headers: { host: `evil.example:${port}` } })).status,
    ).toBe(421);
  });

  test("writes need the page's own Origin and the X-Weft-UI header (CSRF)", async () => {
    const body = { folder: folderId, path: "notes.txt", version: "x" };
    const cases: [string, Record<string, string>][] = [
      ["no Origin", { origin: "" }],
      ["a foreign Origin", { origin: "https://evil.example" }],
      ["a sibling port", { origin: "http://127.0.0.1:1" }],
      ["no custom header", { "x-weft-ui": "" }],
    ];
    for (const [what, headers] of cases) {
      const r = await post("/api/restore", body, headers);
      expect(r.status, what).toBe(403);
      expect(JSON.parse(r.body)).toHaveProperty("error");
    }
    // With both, the request reaches the API, which answers on its merits.
    const ok = await post("/api/restore", body);
    expect(ok.status).toBe(404);
    expect(errorOf(ok)).toMatch(/no earlier version x/);
    // GET cannot change anything: the actions are POST only.
    expect((await get(`/api/restore?folder=${folderId}`)).status).toBe(404);
    expect(
      (await rawRequest(`${server.origin}/api/state`, { method: "PUT", headers: { host, cookie } }))
        .status,
    ).toBe(405);
  });

  test("the member and device actions need the cookie, the page's own Origin and the header", async () => {
    const actions: [string, Record<string, unknown>][] = [
      ["/api/members/role", { folder: folderId, user: "ana", role: "viewer" }],
      ["/api/members/remove", { folder: folderId, user: "ana" }],
      ["/api/devices/name", { relay: relay.url, name: "forged name" }],
      ["/api/devices/remove", { relay: relay.url, device: "x" }],
    ];
    for (const [path, body] of actions) {
      expect((await post(path, body, { cookie: "" })).status, `${path} without cookie`).toBe(401);
      expect((await post(path, body, { origin: "https://evil.example" })).status, path).toBe(403);
      expect((await post(path, body, { "x-weft-ui": "" })).status, path).toBe(403);
    }
    // None of them got through: the relay still has this device unnamed.
    const listed = await get("/api/devices");
    expect(listed.status).toBe(200);
    const devices = () =>
      (JSON.parse(listed.body) as { accounts: { devices: { name: string | null }[] }[] })
        .accounts[0]!.devices;
    expect(devices().map((d) => d.name)).toEqual([null]);
    // The page itself, with all three, gets through.
    const named = await post("/api/devices/name", { relay: relay.url, name: "ana desk" });
    expect(named.status).toBe(200);
    const again = JSON.parse((await get("/api/devices")).body) as {
      accounts: { devices: { name: string | null; current: boolean }[] }[];
    };
    expect(again.accounts[0]!.devices).toEqual([
      expect.objectContaining({ name: "ana desk", current: true }),
    ]);
  });

  test("pause, invite, ignore rules, reapply, create and join need the cookie, the page's own Origin and the header", async () => {
    const forged = join(ana.folder, "..", "forged");
    const actions: [string, Record<string, unknown>][] = [
      ["/api/folders/create", { path: forged }],
      ["/api/folders/join", { invite: "weft1:forged", path: forged }],
      ["/api/pause", { folder: folderId, paused: true }],
      ["/api/members/invite", { folder: folderId, role: "editor" }],
      ["/api/ignore", { folder: folderId, text: "forged/\n", previous: "" }],
      ["/api/reapply", { folder: folderId, id: "000000000001", discard: true }],
    ];
    for (const [path, body] of actions) {
      expect((await post(path, body, { cookie: "" })).status, `${path} without cookie`).toBe(401);
      expect((await post(path, body, { origin: "https://evil.example" })).status, path).toBe(403);
      expect((await post(path, body, { "x-weft-ui": "" })).status, path).toBe(403);
    }
    // None of them got through: not paused, no .weftignore written.
    const state = () =>
      get("/api/state").then(
        (r) => (JSON.parse(r.body) as { folders: { status: { state: string } }[] }).folders[0]!,
      );
    expect((await state()).status.state).not.toBe("paused");
    await expect(readFile(join(ana.folder, ".weftignore"), "utf8")).rejects.toThrow(/ENOENT/);
    await expect(readFile(forged)).rejects.toThrow(/ENOENT/);
    // The page itself gets through: paused and resumed (kept under WEFT_HOME meanwhile).
    const paused = await post("/api/pause", { folder: folderId, paused: true });
    expect(paused.status).toBe(200);
    expect((await state()).status.state).toBe("paused");
    const pauseFile = join(ana.home, "folders", folderId, "paused.json");
    const pause = JSON.parse(await readFile(pauseFile, "utf8")) as { since: unknown };
    expect(typeof pause.since).toBe("number");
    expect((await post("/api/pause", { folder: folderId, paused: false })).status).toBe(200);
    expect((await state()).status.state).not.toBe("paused");
    await expect(readFile(pauseFile)).rejects.toThrow(/ENOENT/);
    // Ignore rules: read, saved to the folder's file, and a save against stale text refused.
    const shown = JSON.parse((await get(`/api/ignore?folder=${folderId}`)).body) as {
      text: string;
      defaults: string[];
    };
    expect(shown.text).toBe("");
    expect(shown.defaults).toContain(".DS_Store");
    const saved = await post("/api/ignore", { folder: folderId, text: "build/\n", previous: "" });
    expect(saved.status).toBe(200);
    expect(await readFile(join(ana.folder, ".weftignore"), "utf8")).toBe("build/\n");
    const stale = await post("/api/ignore", { folder: folderId, text: "x\n", previous: "" });
    expect(stale.status).toBe(409);
    expect(errorOf(stale)).toMatch(/changed since it was opened/);
    expect(await readFile(join(ana.folder, ".weftignore"), "utf8")).toBe("build/\n");
    // An invite for an editor: a weft1: string, made by the relay for this owner.
    const invite = await post("/api/members/invite", { folder: folderId, role: "editor" });
    expect(invite.status).toBe(200);
    expect((JSON.parse(invite.body) as { invite: string }).invite).toMatch(/^weft1:/);
    const badRole = await post("/api/members/invite", { folder: folderId, role: "owner" });
    expect(badRole.status).toBe(400);
    // Create and join check what they are given; a relative path would land in the agent's cwd.
    const relative = await post("/api/folders/create", { path: "shared" });
    expect(relative.status).toBe(400);
    expect(errorOf(relative)).toMatch(/full path/);
    const notInvite = await post("/api/folders/join", { invite: "hello", path: forged });
    expect(notInvite.status).toBe(400);
    expect(errorOf(notInvite)).toMatch(/not a weft invite/);
    // With no daemon behind this server, a created folder is recorded and synced at the next start.
    const made = await post("/api/folders/create", { path: forged });
    expect(made.status).toBe(200);
    expect(JSON.parse(made.body)).toMatchObject({ path: forged, role: "owner", syncing: false });
  });

  test("a relay out of reach is said so in plain words; the rest of the page works", async () => {
    // A second account, on a relay that is not there (a port just closed): the same road as a
    // relay that went down, without stopping the one the folder syncs with.
    const gone = await new Promise<string>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(`http://127.0.0.1:${port}`));
      });
    });
    await new Home(ana.home).saveAccount({
      relay: gone,
      user: "ana",
      accountId: "acct-gone",
      refreshToken: "refresh-gone",
    });
    const devices = JSON.parse((await get("/api/devices")).body) as {
      accounts: { relay: string; error?: string; devices: unknown[] }[];
    };
    expect(devices.accounts.map((a) => [a.relay, a.error ?? a.devices.length])).toEqual([
      [relay.url, 1],
      [gone, `can't reach the relay at ${gone}; try again when it answers`],
    ]);
    const name = await post("/api/devices/name", { relay: gone, name: "x" });
    expect(name.status).toBe(502);
    expect(errorOf(name)).toMatch(/can't reach the relay/);
    expect((await get("/api/state")).status).toBe(200);
    expect((await get(`/api/members?folder=${folderId}`)).status).toBe(200);
  });

  test("a body over 64 KiB is refused with 413; a non-JSON body with 415", async () => {
    const big = await rawRequest(`${server.origin}/api/resolve`, {
      method: "POST",
      headers: {
        host,
        cookie,
        origin: server.origin,
        "x-weft-ui": "1",
        "content-type": "application/json",
      },
      body: Buffer.alloc(70 * 1024, 0x20),
    });
    expect(big.status).toBe(413);
    expect(errorOf(big)).toMatch(/too large/);
    const form = await post("/api/resolve", {}, { "content-type": "text/plain" });
    expect(form.status).toBe(415);
  });

  test("every answer carries the security headers; the API is never cached", async () => {
    for (const path of ["/", "/app.js", "/api/state"]) {
      const r = await get(path);
      expect(r.headers["content-security-policy"]).toMatch(/default-src 'self'/);
      expect(r.headers["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
      expect(r.headers["content-security-policy"]).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(r.headers["x-frame-options"]).toBe("DENY");
      expect(r.headers["x-content-type-options"]).toBe("nosniff");
      expect(r.headers["referrer-policy"]).toBe("no-referrer");
      expect(r.headers["cache-control"]).toBe("no-store");
    }
    expect((await get("/vendor/preact.mjs")).headers["content-type"]).toMatch(/text\/javascript/);
    expect((await get("/style.css")).headers["content-type"]).toMatch(/text\/css/);
    expect((await get("/nothing-here")).status).toBe(404);
  });

  test("a file downloads whole, verified, as an attachment; a missing one is a 404; no cookie, no file", async () => {
    const r = await get(`/api/download?folder=${folderId}&path=notes.txt`);
    expect(r.status).toBe(200);
    expect(r.body).toBe("second\n");
    expect(r.headers["content-disposition"]).toBe("attachment; filename*=UTF-8''notes.txt");
    expect(r.headers["content-type"]).toBe("application/octet-stream");
    const missing = await get(`/api/download?folder=${folderId}&path=nope.txt`);
    expect(missing.status).toBe(404);
    expect(errorOf(missing)).toMatch(/no such file: nope\.txt/);
    expect(
      (await get(`/api/download?folder=${folderId}&path=notes.txt`, { cookie: "" })).status,
    ).toBe(401);
  });

  test("no API answer holds the folder key, a secret key, a relay token, the password or the dashboard token", async () => {
    expect(secrets.length).toBeGreaterThan(8);
    const answers: RawResponse[] = [
      await get("/api/state"),
      await get(`/api/files?folder=${folderId}&q=`),
      await get(`/api/history?folder=${folderId}&path=notes.txt`),
      await get(`/api/history?folder=${folderId}&path=missing.txt`),
      await post("/api/resolve", { folder: folderId, path: "notes.txt", keepBoth: true }),
      await get(`/api/members?folder=${folderId}`),
      await get("/api/devices"),
    ];
    expect(JSON.parse(answers[5]!.body)).toMatchObject({
      you: { user: "ana", role: "owner" },
      members: [{ user: "ana", role: "owner", devices: [{ current: true }] }],
    });
    const state = JSON.parse(answers[0]!.body) as { folders: { folderId: string }[] };
    expect(state.folders[0]!.folderId).toBe(folderId);
    expect(
      (JSON.parse(answers[2]!.body) as { versions: unknown[] }).versions.length,
    ).toBeGreaterThanOrEqual(1);
    answers.push(await firstEvent());
    for (const a of answers)
      for (const secret of secrets)
        expect(a.body.includes(secret), `leaks ${secret.slice(0, 6)}…`).toBe(false);
  });
});

/** The `error` of a JSON answer. */
function errorOf(r: RawResponse): string {
  return (JSON.parse(r.body) as { error: string }).error;
}

/** The first server-sent event of /api/events (then the stream is closed). */
async function firstEvent(): Promise<RawResponse> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request(`${server.origin}/api/events`, { headers: { host, cookie } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
        if (body.includes("\n\n")) {
          expect(res.headers["content-type"]).toMatch(/text\/event-stream/);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        }
      });
    });
    req.on("error", reject);
    req.end();
  });
}
