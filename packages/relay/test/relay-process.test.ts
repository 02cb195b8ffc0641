// The relay as an operator runs it: a real process on 127.0.0.1 (port 0), two accounts, two
// Replicas syncing a file and a Yjs document through it over WebSocket and HTTP; then the data
// directory holds no plaintext name or content, and SIGTERM stops it cleanly.
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  FolderKeyring,
  type DeviceIdentity,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import {
  HttpBlobStore,
  MemoryBlobStore,
  MemoryStateStore,
  Replica,
  createWebSocketTransport,
} from "@weft/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { WebSocket } from "ws";
import {
  type RelayProcess,
  call as callRelay,
  signUp,
  startRelayProcess,
} from "./helpers/relay-process.js";

let relay: RelayProcess;
let url: string;

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
  url = relay.url;
}, 60_000);

afterAll(async () => {
  await relay.dispose();
});

const call = (method: string, path: string, body?: unknown, token?: string) =>
  callRelay(url, method, path, body, token);
const account = (user: string, device: DeviceIdentity): Promise<string> =>
  signUp(url, user, device);

describe("weft relay (real process)", () => {
  test("health answers without a token; unknown routes are 404 JSON", async () => {
    const health = await call("GET", "/health");
    expect(health.status).toBe(200);
    expect(health.json["status"]).toBe("ok");
    const missing = await call("GET", "/nope");
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ error: { code: "not_found" } });
  });

  test("two accounts sync a file and a Yjs document through it; its disk holds only ciphertext", async () => {
    const alice = generateDeviceIdentity();
    const bob = generateDeviceIdentity();
    const aliceToken = await account("alice", alice);
    const bobToken = await account("bob", bob);
    const folderId = newFolderId();
    expect((await call("POST", "/v1/folders", { folderId }, aliceToken)).status).toBe(201);
    // Bob is no member yet: refused.
    expect((await call("GET", `/v1/folders/${folderId}/blobs`, undefined, bobToken)).status).toBe(
      403,
    );
    expect(
      (
        await call(
          "POST",
          `/v1/folders/${folderId}/members`,
          { user: "bob", role: "editor" },
          bobToken,
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await call(
          "POST",
          `/v1/folders/${folderId}/members`,
          { user: "bob", role: "editor" },
          aliceToken,
        )
      ).status,
    ).toBe(204);

    const keyring = new FolderKeyring(folderId);
    keyring.add(0, generateFolderKey()); // shared out of band here; invites come with the agent
    const open = (identity: DeviceIdentity, token: string) =>
      Replica.open({
        identity,
        folderId,
        keyring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
        connect: () =>
          createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket, token }),
        token,
        remoteBlobs: new HttpBlobStore({ baseUrl: url, folderId, token }),
      });
    const a = await open(alice, aliceToken);
    const b = await open(bob, bobToken);
    try {
      a.start();
      b.start();
      const secret = "QUARTERLY-SECRET-PLAN ".repeat(100);
      await a.writeFile("plans/SECRET-NAME.txt", new TextEncoder().encode(secret));
      (await a.doc("minutes")).getText("t").insert(0, "MINUTES-MARKER");
      for (let i = 0; i < 3; i++) await Promise.all([a.syncOnce(), b.syncOnce()]);
      expect(new TextDecoder().decode(await b.readFile("plans/SECRET-NAME.txt"))).toBe(secret);
      expect((await b.doc("minutes")).getText("t").toJSON()).toBe("MINUTES-MARKER");
      expect(b.peers()).toEqual([expect.objectContaining({ deviceId: a.deviceId, online: true })]);
    } finally {
      await a.close();
      await b.close();
    }
    // Nothing the relay wrote, nor its logs, holds a name or content in the clear.
    const needles = ["SECRET-NAME", "QUARTERLY-SECRET", "MINUTES-MARKER", "plans"].map((s) =>
      Buffer.from(s),
    );
    for (const file of await walk(join(relay.dir, "data"))) {
      const bytes = await readFile(file);
      for (const n of needles) expect(bytes.indexOf(n), `${n.toString()} in ${file}`).toBe(-1);
    }
    for (const n of needles) expect(relay.logs().includes(n.toString())).toBe(false);
    expect(relay.logs().includes(aliceToken)).toBe(false);
    const secretFile = await stat(join(relay.dir, "data", "jwt-secret"));
    expect(secretFile.mode & 0o777).toBe(0o600);
  }, 60_000);

  test("bad input gets clear errors: no token, a forged token, malformed JSON, an oversized body", async () => {
    expect((await call("GET", "/v1/folders")).status).toBe(401);
    expect(
      (await call("GET", "/v1/folders", undefined, "eyJhbGciOiJIUzI1NiJ9.e30.forged")).status,
    ).toBe(401);
    const res = await fetch(`${url}/v1/auth/login`, { method: "POST", body: "{not json" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("bad_frame");
    const big = await fetch(`${url}/v1/auth/login`, { method: "POST", body: "x".repeat(200_000) });
    expect(big.status).toBe(413);
    expect(
      (await call("POST", "/v1/auth/register", { user: "alice", password: "another-password" }))
        .status,
    ).toBe(409);
  });

  test("SIGTERM stops it with exit code 0", async () => {
    expect(await relay.stop()).toBe(0);
  });
});

async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out;
}
