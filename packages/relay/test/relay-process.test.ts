// The relay as an operator runs it: a real process on 127.0.0.1 (port 0), two accounts, two
// Replicas syncing a file and a Yjs document through it over WebSocket and HTTP; then the data
// directory holds no plaintext name or content, and SIGTERM stops it cleanly.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  FolderKeyring,
  type DeviceIdentity,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  toBase64Url,
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

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
let dir: string;
let child: ChildProcess;
let url: string;
let logs = "";

beforeAll(async () => {
  await ready();
  dir = await mkdtemp(join(tmpdir(), "weft-relay-"));
  child = spawn(process.execPath, [cli, "--port", "0", "--data", join(dir, "data")], {
    env: { ...process.env, WEFT_RELAY_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.on("data", (d: Buffer) => (logs += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`relay exited with ${code}: ${logs}`)));
    lines.on("line", (line) => {
      logs += `${line}\n`;
      const parsed = JSON.parse(line) as { url?: string };
      if (parsed.url) resolve(parsed.url);
    });
  });
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) {
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
  }
  await rm(dir, { recursive: true, force: true });
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function account(user: string, device: DeviceIdentity): Promise<string> {
  expect(
    (await call("POST", "/v1/auth/register", { user, password: `${user}-correct-horse` })).status,
  ).toBe(201);
  const login = await call("POST", "/v1/auth/login", {
    user,
    password: `${user}-correct-horse`,
    device: {
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  expect(login.status).toBe(200);
  return login.json["accessToken"] as string;
}

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
          createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket }),
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
    for (const file of await walk(join(dir, "data"))) {
      const bytes = await readFile(file);
      for (const n of needles) expect(bytes.indexOf(n), `${n.toString()} in ${file}`).toBe(-1);
    }
    for (const n of needles) expect(logs.includes(n.toString())).toBe(false);
    expect(logs.includes(aliceToken)).toBe(false);
    const secretFile = await stat(join(dir, "data", "jwt-secret"));
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
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
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
