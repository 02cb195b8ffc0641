// The relay as an operator runs it: a real process on 127.0.0.1 (port 0), two accounts, two
// Replicas syncing a file and a Yjs document through it over WebSocket and HTTP; then the data
// directory holds no plaintext name or content, nor a file's exact size (chunks are padded),
// and SIGTERM stops it cleanly.
import { readFile, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  FolderKeyring,
  type DeviceIdentity,
  chunkIdFromSha256,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  randomBytes,
  ready,
  sha256,
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
  waitFor,
  startRelayProcess,
} from "@weft/test-support";

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
    const photo = Buffer.from(randomBytes(100_001));
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
      await a.writeFile("photo.jpg", photo);
      (await a.doc("minutes")).getText("t").insert(0, "MINUTES-MARKER");
      await a.syncOnce();
      // b hears of a's changes as pushes, a moment after a's syncOnce returns (as in the test
      // below): wait for them before reading.
      const paths = () => new Set(b.list().map((e) => e.path));
      await waitFor(
        () => paths().has("plans/SECRET-NAME.txt") && paths().has("photo.jpg"),
        20_000,
        "a's two files at b",
      );
      const minutes = await b.doc("minutes");
      await waitFor(() => minutes.getText("t").toJSON() !== "", 20_000, "a's minutes at b");
      await b.syncOnce();
      expect(new TextDecoder().decode(await b.readFile("plans/SECRET-NAME.txt"))).toBe(secret);
      expect((await b.doc("minutes")).getText("t").toJSON()).toBe("MINUTES-MARKER");
      expect(Buffer.from(await b.readFile("photo.jpg")).equals(photo)).toBe(true);
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
    // The photo (one chunk, incompressible) is stored padded: 100,001 bytes + 50 of header and
    // tag is 100,051, whose Padmé length is 100,352 (E = 16, S = 5, a step of 2^11). Unpadded,
    // the relay would have read its exact size off the file.
    const photoChunk = chunkIdFromSha256(keyring.subkeys(0).chunkId, sha256(photo));
    const stored = (await walk(join(relay.dir, "data"))).filter((f) => basename(f) === photoChunk);
    expect(stored).toHaveLength(1);
    expect((await stat(stored[0]!)).size).toBe(100_352);
    const secretFile = await stat(join(relay.dir, "data", "jwt-secret"));
    expect(secretFile.mode & 0o777).toBe(0o600);
  }, 60_000);

  test("a device's own appends are not pushed back to it (protocol 3); syncOnce applies what the other got stored before it began", async () => {
    const alice = generateDeviceIdentity();
    const bob = generateDeviceIdentity();
    const aliceToken = await account("alice3", alice);
    const bobToken = await account("bob3", bob);
    const folderId = newFolderId();
    expect((await call("POST", "/v1/folders", { folderId }, aliceToken)).status).toBe(201);
    expect(
      (
        await call(
          "POST",
          `/v1/folders/${folderId}/members`,
          { user: "bob3", role: "editor" },
          aliceToken,
        )
      ).status,
    ).toBe(204);
    const keyring = new FolderKeyring(folderId);
    keyring.add(0, generateFolderKey());
    /** Seqs of the envelopes the relay pushed to each device. */
    const pushed = new Map<string, number[]>();
    const open = (name: string, identity: DeviceIdentity, token: string) =>
      Replica.open({
        identity,
        folderId,
        keyring,
        state: new MemoryStateStore(),
        blobs: new MemoryBlobStore(),
        connect: () => {
          const t = createWebSocketTransport(`${url.replace("http", "ws")}/v1/ws`, { WebSocket });
          t.on("message", (m) => {
            if (m.type === "envelopes")
              pushed.set(name, [...(pushed.get(name) ?? []), ...m.items.map((i) => i.seq)]);
          });
          return t;
        },
        token,
        remoteBlobs: new HttpBlobStore({ baseUrl: url, folderId, token }),
      });
    const a = await open("a", alice, aliceToken);
    const b = await open("b", bob, bobToken);
    try {
      a.start();
      b.start();
      await Promise.all([a.syncOnce(), b.syncOnce()]);
      // Turn by turn: one writes and syncs, then the other's syncOnce must apply it. The relay
      // pushes the entry a moment after the writer hears `appended`; syncOnce applies the head
      // as of its call all the same (one round trip on an open connection brings the push in).
      const names: string[] = [];
      for (let i = 0; i < 12; i++) {
        const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
        const name = `${i % 2 === 0 ? "a" : "b"}-${i}.txt`;
        names.push(name);
        await writer.writeFile(name, new TextEncoder().encode(`turn ${i}`));
        await writer.syncOnce();
        await reader.syncOnce();
        expect(
          reader.list().map((e) => e.path),
          `after turn ${i}`,
        ).toEqual([...names].sort());
      }
      expect(new TextDecoder().decode(await a.readFile("b-11.txt"))).toBe("turn 11");
      // Each device was pushed only the other's envelopes: none of its own came back.
      const [pa, pb] = [pushed.get("a") ?? [], pushed.get("b") ?? []];
      expect(pa.length).toBeGreaterThan(0);
      expect(pb.length).toBeGreaterThan(0);
      expect(pa.filter((seq) => pb.includes(seq))).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
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
