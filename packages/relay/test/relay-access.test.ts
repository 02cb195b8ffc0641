// The relay's access rules, as a matrix: every folder route × {no token, forged, expired, a
// non-member, viewer, editor, owner}; plus the chunk API passing core's BlobStore suite.
import { type FolderId, generateDeviceIdentity, newFolderId, ready } from "@weft/crypto";
import { HttpBlobStore } from "@weft/core";
import { runBlobStoreTests } from "@weft/core/conformance";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signAccessToken } from "../src/auth/index.js";
import { type RelayProcess, call, signUp, startRelayProcess } from "@weft/test-support";

const SECRET = "test-only-secret-0123456789abcdefghijklmnop";
let relay: RelayProcess;
const tokens: Record<string, string | undefined> = {};
let folderId: FolderId;
const CHUNK = "ab".repeat(32);

beforeAll(async () => {
  await ready();
  folderId = newFolderId();
  // Grace 0 and no quarantine: the BlobStore suite expects a delete to remove chunks it just put
  // (a quarantined chunk comes back when read; relay-blobs.test.ts tests that).
  relay = await startRelayProcess({
    WEFT_RELAY_JWT_SECRET: SECRET,
    WEFT_RELAY_GC_GRACE: "0",
    WEFT_RELAY_GC_QUARANTINE: "0",
  });
  for (const who of ["owner", "editor", "viewer", "other"])
    tokens[who] = await signUp(relay.url, who, generateDeviceIdentity());
  expect((await call(relay.url, "POST", "/v1/folders", { folderId }, tokens["owner"])).status).toBe(
    201,
  );
  for (const role of ["editor", "viewer"])
    expect(
      (
        await call(
          relay.url,
          "POST",
          `/v1/folders/${folderId}/members`,
          { user: role, role },
          tokens["owner"],
        )
      ).status,
    ).toBe(204);
  const secret = new TextEncoder().encode(SECRET);
  const payload = Buffer.from(tokens["owner"]!.split(".")[1]!, "base64url").toString();
  const accountId = (JSON.parse(payload) as { sub: string }).sub;
  tokens["expired"] = signAccessToken(
    secret,
    { sub: accountId },
    { now: Date.now() - 3 * 3600_000 },
  );
  tokens["forged"] = signAccessToken(
    new TextEncoder().encode("another-secret-0123456789abcdefghijkl"),
    { sub: accountId },
  );
  tokens["none"] = undefined;
}, 60_000);

afterAll(async () => {
  await relay.dispose();
});

type Who = "none" | "forged" | "expired" | "other" | "viewer" | "editor" | "owner";
const ORDER: Who[] = ["none", "forged", "expired", "other", "viewer", "editor", "owner"];

/** Each route, the least role it needs, and what success looks like. */
const ROUTES: {
  name: string;
  least: "viewer" | "editor" | "owner";
  ok: number[];
  run: (t?: string) => Promise<number>;
}[] = [
  {
    name: "GET members",
    least: "viewer",
    ok: [200],
    run: (t) => status("GET", `/v1/folders/${folderId}/members`, undefined, t),
  },
  {
    name: "POST members",
    least: "owner",
    ok: [204],
    run: (t) =>
      status("POST", `/v1/folders/${folderId}/members`, { user: "viewer", role: "viewer" }, t),
  },
  {
    name: "POST blobs/missing",
    least: "viewer",
    ok: [200],
    run: (t) => status("POST", `/v1/folders/${folderId}/blobs/missing`, { ids: [CHUNK] }, t),
  },
  {
    name: "GET blobs (size)",
    least: "viewer",
    ok: [200],
    run: (t) => status("GET", `/v1/folders/${folderId}/blobs`, undefined, t),
  },
  {
    name: "GET a blob",
    least: "viewer",
    ok: [200, 404],
    run: (t) => status("GET", `/v1/folders/${folderId}/blobs/${CHUNK}`, undefined, t),
  },
  { name: "PUT a blob", least: "editor", ok: [200, 201], run: (t) => putBlob(t) },
  {
    name: "POST blobs/delete",
    least: "owner",
    ok: [200],
    run: (t) => status("POST", `/v1/folders/${folderId}/blobs/delete`, { ids: [CHUNK] }, t),
  },
];

async function status(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<number> {
  return (await call(relay.url, method, path, body, token)).status;
}

async function putBlob(token?: string): Promise<number> {
  const res = await fetch(`${relay.url}/v1/folders/${folderId}/blobs/${CHUNK}`, {
    method: "PUT",
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: new Uint8Array([1, 2, 3]),
  });
  await res.arrayBuffer();
  return res.status;
}

describe("access matrix", () => {
  for (const r of ROUTES) {
    test(`${r.name}: 401 without a valid token, 403 below ${r.least}, success from ${r.least}`, async () => {
      const rank = ORDER.indexOf(r.least);
      for (const who of ORDER) {
        const got = await r.run(tokens[who]);
        const i = ORDER.indexOf(who);
        const expected = i <= 2 ? [401] : i < rank ? [403] : r.ok;
        expect(expected, `${r.name} as ${who} gave ${got}`).toContain(got);
      }
    });
  }

  test("/metrics counts requests by route and status, with no folder id or token in it", async () => {
    const res = await fetch(`${relay.url}/metrics`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toMatch(
      /weft_relay_http_requests_total\{route="\/v1\/folders\/:folderId\/members",status="403"\} \d+/,
    );
    expect(text).toContain("weft_relay_websocket_connections ");
    expect(text.includes(folderId)).toBe(false);
    for (const t of Object.values(tokens)) if (t) expect(text.includes(t)).toBe(false);
  });
});

runBlobStoreTests("HttpBlobStore against the relay process", async () => {
  const id = newFolderId();
  await call(relay.url, "POST", "/v1/folders", { folderId: id }, tokens["owner"]);
  const store = new HttpBlobStore({ baseUrl: relay.url, folderId: id, token: tokens["owner"]! });
  return { store, teardown: () => store.close() };
});
