// Sharing a folder through the real relay process: invites (create, redeem once, revoke), folder
// keys wrapped for member devices, member removal owing a new key epoch that only an owner's
// signed announcement starts; and the logs never hold a wrapped key, an invite id or a token.
import { randomBytes } from "node:crypto";
import {
  type DeviceIdentity,
  generateDeviceIdentity,
  newFolderId,
  ready,
  toBase64Url,
} from "@weft/crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type RelayProcess,
  announceEpoch,
  call as callRelay,
  signUp,
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
/** Registers `user` and logs in, with a device unless `device` is undefined. */
const account = (user: string, device?: DeviceIdentity): Promise<string> =>
  signUp(url, user, device);

const announce = (
  signer: DeviceIdentity,
  token: string,
  folderId: string,
  epoch: number,
  devices?: DeviceIdentity[],
) => announceEpoch(url, signer, token, folderId, epoch, devices);

const chunkPut = (folderId: string, token: string) =>
  fetch(`${url}/v1/folders/${folderId}/blobs/${randomBytes(32).toString("hex")}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}` },
    body: randomBytes(100),
  });

describe("sharing a folder through the relay (real process)", () => {
  const wrapped = randomBytes(72).toString("base64url"); // a folder key sealed to a secret, say
  const deviceKey = randomBytes(80).toString("base64url");
  const secrets: string[] = [wrapped, deviceKey];
  let bobDevice: DeviceIdentity;
  let aliceDevice: DeviceIdentity;
  let folderId: string;
  let alice: string;
  let bob: string;
  let carol: string;
  let inviteId: string;

  test("an owner's invite makes another account an editor, once", async () => {
    bobDevice = generateDeviceIdentity();
    folderId = newFolderId();
    aliceDevice = generateDeviceIdentity();
    alice = await account("alice", aliceDevice);
    bob = await account("bob", bobDevice);
    carol = await account("carol", generateDeviceIdentity());
    secrets.push(alice, bob, carol);
    expect((await call("POST", "/v1/folders", { folderId }, alice)).status).toBe(201);
    const invites = `/v1/folders/${folderId}/invites`;

    const created = await call(
      "POST",
      invites,
      { role: "editor", wrappedKey: wrapped, epoch: 0 },
      alice,
    );
    expect(created.status).toBe(201);
    inviteId = created.json["inviteId"] as string;
    expect(inviteId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    secrets.push(inviteId);
    expect((await chunkPut(folderId, bob)).status).toBe(403); // not a member yet

    // Redeeming needs no body.
    const redeemed = await fetch(`${url}/v1/invites/${inviteId}/redeem`, {
      method: "POST",
      headers: { authorization: `Bearer ${bob}` },
    });
    expect(redeemed.status).toBe(200);
    expect(await redeemed.json()).toEqual({
      folderId,
      role: "editor",
      epoch: 0,
      wrappedKey: wrapped,
    });
    expect((await chunkPut(folderId, bob)).status).toBe(201);
    const folder = await call("GET", `/v1/folders/${folderId}`, undefined, bob);
    expect(folder).toEqual({
      status: 200,
      json: { folderId, epoch: 0, headSeq: 0, role: "editor", rotationDue: false, meta: null },
    });

    // Once only, whoever tries again.
    expect((await call("POST", `/v1/invites/${inviteId}/redeem`, {}, carol)).status).toBe(409);
    expect((await call("POST", `/v1/invites/${inviteId}/redeem`, {}, bob)).status).toBe(409);
    expect((await call("POST", `/v1/invites/${inviteId}/redeem`, {})).status).toBe(401);
  });

  test("revoked, unknown and malformed invites are all 404; only an owner manages invites", async () => {
    const invites = `/v1/folders/${folderId}/invites`;
    const body = { role: "viewer", wrappedKey: wrapped, epoch: 0, ttlSeconds: 60 };
    const created = await call("POST", invites, body, alice);
    expect(created.status).toBe(201);
    const id = created.json["inviteId"] as string;
    secrets.push(id);
    expect((await call("DELETE", `${invites}/${id}`, undefined, bob)).status).toBe(403);
    expect((await call("DELETE", `${invites}/${id}`, undefined, alice)).status).toBe(204);
    const revoked = await call("POST", `/v1/invites/${id}/redeem`, {}, carol);
    expect(revoked.json).toEqual({ error: { code: "not_found", message: "no such invite" } });
    for (const unknown of [toBase64Url(randomBytes(16)), "short", "x".repeat(40)])
      expect((await call("POST", `/v1/invites/${unknown}/redeem`, {}, carol)).status).toBe(404);
    expect(
      (await call("DELETE", `${invites}/${toBase64Url(randomBytes(16))}`, undefined, alice)).status,
    ).toBe(404);

    // An editor cannot invite, nor can a viewer; bad bodies are 400.
    expect((await call("POST", invites, body, bob)).status).toBe(403);
    const viewer = await call("POST", invites, body, alice);
    secrets.push(viewer.json["inviteId"] as string);
    const joined = await call(
      "POST",
      `/v1/invites/${viewer.json["inviteId"] as string}/redeem`,
      {},
      carol,
    );
    expect(joined.json["role"]).toBe("viewer");
    expect((await call("POST", invites, body, carol)).status).toBe(403);
    expect((await chunkPut(folderId, carol)).status).toBe(403);
    for (const bad of [
      { ...body, role: "owner" },
      { ...body, wrappedKey: toBase64Url(randomBytes(1025)) },
      { ...body, wrappedKey: "not base64url!" },
      { ...body, epoch: -1 },
      { ...body, ttlSeconds: 59 },
      { ...body, ttlSeconds: 30 * 24 * 3600 + 1 },
    ])
      expect((await call("POST", invites, bad, alice)).status).toBe(400);
  });

  test("a key wrapped for a member's device comes back to that device byte for byte", async () => {
    const keys = `/v1/folders/${folderId}/keys`;
    expect((await call("GET", keys, undefined, bob)).json).toEqual({ keys: [] });
    const put = { epoch: 0, wrappedKey: deviceKey };
    expect((await call("PUT", `${keys}/${bobDevice.deviceId}`, put, alice)).status).toBe(204);
    expect((await call("GET", keys, undefined, bob)).json).toEqual({ keys: [put] });
    expect((await call("PUT", `${keys}/${bobDevice.deviceId}`, put, carol)).status).toBe(403);
    // A device of an account that is no member: 404; no device in the token: 400.
    const dave = generateDeviceIdentity();
    secrets.push(await account("dave", dave));
    expect((await call("PUT", `${keys}/${dave.deviceId}`, put, alice)).status).toBe(404);
    expect((await call("PUT", `${keys}/not-a-device`, put, alice)).status).toBe(400);
    const deviceless = await account("erin");
    secrets.push(deviceless);
    expect((await call("GET", keys, undefined, deviceless)).status).toBe(403);
    const members = `/v1/folders/${folderId}/members`;
    expect((await call("POST", members, { user: "erin", role: "viewer" }, alice)).status).toBe(204);
    expect((await call("GET", keys, undefined, deviceless)).status).toBe(400);
  });

  test("removing a member shuts them out and owes a key epoch that only an owner's announcement starts", async () => {
    const members = `/v1/folders/${folderId}/members`;
    const invites = `/v1/folders/${folderId}/invites`;
    const early = await call(
      "POST",
      invites,
      { role: "viewer", wrappedKey: wrapped, epoch: 0 },
      alice,
    );
    expect(early.status).toBe(201);
    secrets.push(early.json["inviteId"] as string);
    expect((await call("DELETE", `${members}/carol`, undefined, bob)).status).toBe(403);
    expect((await call("DELETE", `${members}/alice`, undefined, alice)).status).toBe(409);
    expect((await call("DELETE", `${members}/dave`, undefined, alice)).status).toBe(404);
    expect(await call("DELETE", `${members}/bob`, undefined, alice)).toEqual({
      status: 200,
      json: { epoch: 0, rotationDue: true },
    });
    expect((await chunkPut(folderId, bob)).status).toBe(403);
    expect((await call("GET", `/v1/folders/${folderId}/blobs`, undefined, bob)).status).toBe(403);
    expect((await call("GET", `/v1/folders/${folderId}/keys`, undefined, bob)).status).toBe(403);
    expect((await call("GET", `/v1/folders/${folderId}`, undefined, bob)).status).toBe(403);
    expect((await call("GET", `/v1/folders/${folderId}`, undefined, alice)).json).toMatchObject({
      epoch: 0,
      role: "owner",
      rotationDue: true,
    });
    // While the key is owed no invite is made or redeemed: it would carry the key bob holds.
    const frank = await account("frank", generateDeviceIdentity());
    secrets.push(frank);
    const redeemEarly = () =>
      call("POST", `/v1/invites/${early.json["inviteId"] as string}/redeem`, {}, frank);
    expect((await redeemEarly()).status).toBe(409);
    expect(
      (await call("POST", invites, { role: "viewer", wrappedKey: wrapped, epoch: 0 }, alice))
        .status,
    ).toBe(409);
    // Bob, an editor before, and carol, a viewer, cannot start it; alice's device can, once.
    expect((await announce(aliceDevice, carol, folderId, 1)).status).toBe(403);
    expect((await announce(aliceDevice, alice, folderId, 2)).status).toBe(409);
    expect(await announce(aliceDevice, alice, folderId, 1)).toEqual({
      status: 201,
      json: { epoch: 1 },
    });
    expect((await announce(aliceDevice, alice, folderId, 1)).status).toBe(409);
    expect((await call("GET", `/v1/folders/${folderId}`, undefined, alice)).json).toMatchObject({
      epoch: 1,
      rotationDue: false,
    });
    expect((await call("DELETE", `${members}/carol`, undefined, alice)).json).toEqual({
      epoch: 1,
      rotationDue: true,
    });
    expect((await announce(aliceDevice, alice, folderId, 2)).status).toBe(201);
    // Invites made under an earlier key epoch no longer admit anyone; new ones must name the current epoch.
    expect((await redeemEarly()).status).toBe(409);
    expect(
      (await call("POST", invites, { role: "viewer", wrappedKey: wrapped, epoch: 1 }, alice))
        .status,
    ).toBe(409);
    const fresh = await call(
      "POST",
      invites,
      { role: "viewer", wrappedKey: wrapped, epoch: 2 },
      alice,
    );
    expect(fresh.status).toBe(201);
    secrets.push(fresh.json["inviteId"] as string);
  });

  test("the audit stream records each step but no wrapped key, invite id or token", async () => {
    const deadline = Date.now() + 5_000;
    while (!relay.logs().includes('"event":"epoch.started"') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    for (const event of [
      "invite.created",
      "invite.redeemed",
      "invite.revoked",
      "member.removed",
      "epoch.started",
    ])
      expect(relay.logs()).toContain(`"event":"${event}"`);
    expect(secrets.length).toBeGreaterThan(8);
    for (const secret of secrets)
      expect(relay.logs().includes(secret), secret.slice(0, 8)).toBe(false);
  });
});
