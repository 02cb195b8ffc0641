// Members, devices and key epochs at the relay (issue 15): a database from before (schema 1)
// is migrated with its invite ids hashed (unused invites keep working) and folders past epoch 0
// owing a rotation; the store's member devices, announcements and device removal; and against
// the real process, a removed device is cut off at once (its socket, its token, signing in
// again) while its account stays, and an announcement is checked before it is stored.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
  toBase64Url,
  wrapKeyForDevice,
} from "@weft/crypto";
import {
  type Message,
  SUPPORTED_VERSIONS,
  createWebSocketTransport,
  encodeEpochRecord,
  makeEpochRecord,
} from "@weft/core";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MIGRATIONS, openSqliteMetaStore } from "../src/store/index.js";
import {
  type RelayProcess,
  announceEpoch,
  call,
  signUp,
  startRelayProcess,
} from "@weft/test-support";

let relay: RelayProcess;

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
}, 60_000);
afterAll(async () => {
  await relay.dispose();
});

const dev = (letter: string): DeviceId => ("ABCD-".repeat(7) + "EFG" + letter) as DeviceId;
const FA = "a".repeat(26) as FolderId;

describe("the store", () => {
  test("a schema 1 database: invite ids are hashed and still redeem; epochs past 0 owe a rotation", async () => {
    const dir = await mkdtemp(join(tmpdir(), "weft-migrate-"));
    try {
      const path = join(dir, "relay.db");
      const old = new Database(path);
      old.exec(MIGRATIONS[0]!);
      old.pragma("user_version = 1");
      old.prepare("INSERT INTO accounts VALUES ('acc', 'ana', 'hash', 1)").run();
      old.prepare("INSERT INTO folders (folder_id, epoch, created) VALUES (?, 1, 1)").run(FA);
      old
        .prepare(
          "INSERT INTO invites (id, folder_id, role, created_by, expires, wrapped_key, epoch) " +
            "VALUES ('the-raw-invite-id-abc1', ?, 'editor', 'acc', 9e15, x'01', 1)",
        )
        .run(FA);
      old.close();
      const store = openSqliteMetaStore(path);
      try {
        expect(await store.invite("the-raw-invite-id-abc1")).toMatchObject({
          id: "the-raw-invite-id-abc1",
          folderId: FA,
          usedBy: null,
        });
        expect(await store.folder(FA)).toMatchObject({ epoch: 1, rotationDue: true });
      } finally {
        await store.close();
      }
      const file = await readFile(path);
      expect(file.includes(Buffer.from("the-raw-invite-id-abc1"))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("member devices, announcements, device removal", async () => {
    const dir = await mkdtemp(join(tmpdir(), "weft-members-"));
    const store = openSqliteMetaStore(join(dir, "relay.db"), { now: () => 5 });
    try {
      const a = (await store.createAccount("ana", "h")).id;
      const b = (await store.createAccount("bob", "h")).id;
      const key = new Uint8Array(32).fill(1);
      for (const [acc, d] of [
        [a, "A"],
        [b, "B"],
        [b, "C"],
      ] as const)
        await store.addDevice(acc, dev(d), key, key);
      await store.createFolder(FA, a);
      await store.setMember(FA, b, "editor");
      await store.putWrappedKey(FA, dev("A"), 0, Uint8Array.of(1));
      await store.putWrappedKey(FA, dev("B"), 0, Uint8Array.of(2));
      // C has no key row: it is not a member device of the folder.
      expect(
        (await store.memberDevices(FA)).map((m) => [m.user, m.devices.map((d) => d.deviceId)]),
      ).toEqual([
        ["ana", [dev("A")]],
        ["bob", [dev("B")]],
      ]);
      const keys = new Map([
        [dev("A"), Uint8Array.of(3)],
        [dev("B"), Uint8Array.of(4)],
      ]);
      await expect(store.publishEpoch(FA, 2, dev("A"), "r", keys)).rejects.toThrow(/next epoch/);
      await store.publishEpoch(FA, 1, dev("A"), "record-1", keys);
      expect(await store.folder(FA)).toEqual({ folderId: FA, epoch: 1, created: 5, headSeq: 0 });
      expect(await store.epochAnnouncements(FA, 0)).toEqual([
        { epoch: 1, signer: dev("A"), record: "record-1", created: 5 },
      ]);
      expect((await store.wrappedKeys(FA, dev("B"))).map((k) => k.epoch)).toEqual([0, 1]);
      // Removing bob's device B: the folder owes a rotation, B holds nothing back, B is gone.
      await store.setDeviceName(dev("B"), "bob phone");
      expect((await store.device(dev("B")))?.name).toBe("bob phone");
      expect(await store.removeDevice(dev("B"), 9)).toEqual([FA]);
      expect(await store.removeDevice(dev("B"), 10)).toEqual([]);
      expect(await store.device(dev("B"))).toMatchObject({ removed: 9 });
      expect((await store.folder(FA))?.rotationDue).toBe(true);
      expect(await store.memberDeviceKey(FA, dev("B"))).toBeUndefined();
      expect((await store.memberDevices(FA))[1]!.devices).toEqual([]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Registers `user` with `device` and logs in; returns the access and refresh tokens. */
async function login(user: string, device: DeviceIdentity) {
  await signUp(relay.url, user, device);
  const res = await call(relay.url, "POST", "/v1/auth/login", {
    user,
    password: `${user}-correct-horse`,
    device: {
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  return {
    access: res.json["accessToken"] as string,
    refresh: res.json["refreshToken"] as string,
  };
}

/** A second device of `user`, logged in. */
async function secondDevice(user: string, device: DeviceIdentity) {
  const res = await call(relay.url, "POST", "/v1/auth/login", {
    user,
    password: `${user}-correct-horse`,
    device: {
      signPublicKey: toBase64Url(device.signPublicKey),
      boxPublicKey: toBase64Url(device.boxPublicKey),
    },
  });
  return {
    status: res.status,
    json: res.json,
    access: res.json["accessToken"] as string,
    refresh: res.json["refreshToken"] as string,
  };
}

describe("against the relay process", () => {
  test("a removed device is cut off at once; its account and other devices stay", async () => {
    const desk = generateDeviceIdentity();
    const laptop = generateDeviceIdentity();
    const { access: deskToken } = await login("cutoff", desk);
    const lap = await secondDevice("cutoff", laptop);
    const folderId = newFolderId();
    expect((await call(relay.url, "POST", "/v1/folders", { folderId }, deskToken)).status).toBe(
      201,
    );
    for (const [d, token] of [
      [desk, deskToken],
      [laptop, lap.access],
    ] as const) {
      const row = {
        epoch: 0,
        wrappedKey: toBase64Url(wrapKeyForDevice(generateFolderKey(), d.boxPublicKey)),
      };
      expect(
        (await call(relay.url, "PUT", `/v1/folders/${folderId}/keys/${d.deviceId}`, row, token))
          .status,
      ).toBe(204);
    }
    // The laptop's socket, subscribed.
    const transport = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, {
      WebSocket,
    });
    const messages: Message[] = [];
    transport.on("message", (m) => messages.push(m));
    const closed = new Promise<void>((resolve) => transport.on("close", () => resolve()));
    await transport.connect();
    transport.send({
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "test", version: "1" },
    });
    transport.send({ type: "auth", requestId: 1, token: lap.access });
    transport.send({ type: "subscribe", requestId: 2, folderId, afterSeq: 0 });
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(check()).toBe(true);
    };
    await until(() => messages.some((m) => m.type === "subscribed"));

    // The desk names itself and removes the laptop; the laptop cannot remove the desk after.
    const named = await call(
      relay.url,
      "PUT",
      `/v1/devices/${desk.deviceId}`,
      { name: "desk" },
      deskToken,
    );
    expect(named).toEqual({ status: 200, json: { deviceId: desk.deviceId, name: "desk" } });
    const self = await call(
      relay.url,
      "DELETE",
      `/v1/devices/${desk.deviceId}`,
      undefined,
      deskToken,
    );
    expect(self.status).toBe(409);
    const removed = await call(
      relay.url,
      "DELETE",
      `/v1/devices/${laptop.deviceId}`,
      undefined,
      deskToken,
    );
    expect(removed).toEqual({
      status: 200,
      json: { deviceId: laptop.deviceId, folders: [{ folderId, role: "owner" }] },
    });
    await until(() => messages.some((m) => m.type === "error"));
    const refusal = messages.find((m) => m.type === "error") as { code: string; message: string };
    expect(refusal.code).toBe("forbidden");
    expect(refusal.message).toMatch(/^this device was removed from its account/);
    await closed;
    // Its still-unexpired access token, its refresh token, signing in again: all refused.
    const gone = await call(relay.url, "GET", `/v1/folders/${folderId}`, undefined, lap.access);
    expect(gone.status).toBe(403);
    // A new WebSocket session with it: `auth` is refused the same way.
    const retry = createWebSocketTransport(`${relay.url.replace("http", "ws")}/v1/ws`, {
      WebSocket,
    });
    const answers: Message[] = [];
    retry.on("message", (m) => answers.push(m));
    await retry.connect();
    retry.send({
      type: "hello",
      versions: SUPPORTED_VERSIONS,
      client: { name: "t", version: "1" },
    });
    retry.send({ type: "auth", requestId: 1, token: lap.access });
    await until(() => answers.some((m) => m.type === "error" || m.type === "ok"));
    retry.close();
    expect(answers.at(-1)).toMatchObject({ type: "error", code: "forbidden" });
    expect(
      (await call(relay.url, "POST", "/v1/auth/refresh", { refreshToken: lap.refresh })).status,
    ).toBe(403);
    expect((await secondDevice("cutoff", laptop)).status).toBe(403);
    expect(
      (await call(relay.url, "DELETE", `/v1/devices/${desk.deviceId}`, undefined, lap.access))
        .status,
    ).toBe(403);
    // The account and the desk go on; the folder owes a rotation and lists the desk only.
    const list = await call(relay.url, "GET", "/v1/devices", undefined, deskToken);
    expect(
      (list.json["devices"] as { name: string | null; removed: number | null }[]).map((d) => [
        d.name,
        d.removed !== null,
      ]),
    ).toEqual([
      ["desk", false],
      [null, true],
    ]);
    const members = await call(
      relay.url,
      "GET",
      `/v1/folders/${folderId}/members`,
      undefined,
      deskToken,
    );
    expect(members.json).toMatchObject({ epoch: 0, rotationDue: true });
    expect(
      (members.json["members"] as { devices: { deviceId: string; name: string }[] }[])[0]!.devices,
    ).toEqual([expect.objectContaining({ deviceId: desk.deviceId, name: "desk", keyEpoch: 0 })]);
    // An announcement that wraps the new key for the removed laptop is refused; without it, stored.
    expect(
      (await announceEpoch(relay.url, desk, deskToken, folderId, 1, [desk, laptop])).status,
    ).toBe(404);
    expect((await announceEpoch(relay.url, desk, deskToken, folderId, 1)).status).toBe(201);
  });

  test("an announcement must be the sender's own, signed, and name exactly its keys", async () => {
    const owner = generateDeviceIdentity();
    const { access } = await login("announcer", owner);
    const folderId = newFolderId();
    await call(relay.url, "POST", "/v1/folders", { folderId }, access);
    const other = generateDeviceIdentity();
    const key = generateFolderKey();
    const make = (signer: DeviceIdentity, devices: DeviceId[]) =>
      encodeEpochRecord(
        makeEpochRecord({
          folderId,
          epoch: 1,
          key,
          previousEpoch: 0,
          previousKey: generateFolderKey(),
          devices,
          signer,
        }),
      );
    const wrapped = toBase64Url(wrapKeyForDevice(key, owner.boxPublicKey));
    const put = (body: unknown) =>
      call(relay.url, "PUT", `/v1/folders/${folderId}/epochs/1`, body, access);
    // Signed by another device than the sender.
    expect(
      (await put({ record: make(other, [other.deviceId]), keys: { [other.deviceId]: wrapped } }))
        .status,
    ).toBe(400);
    // Keys that do not match the record's devices.
    const own = make(owner, [owner.deviceId]);
    expect((await put({ record: own, keys: {} })).status).toBe(400);
    expect(
      (await put({ record: own, keys: { [owner.deviceId]: wrapped, [other.deviceId]: wrapped } }))
        .status,
    ).toBe(400);
    // A tampered record.
    const tampered = JSON.parse(Buffer.from(own, "base64url").toString()) as Record<
      string,
      unknown
    >;
    tampered["created"] = 1;
    expect(
      (
        await put({
          record: Buffer.from(JSON.stringify(tampered)).toString("base64url"),
          keys: { [owner.deviceId]: wrapped },
        })
      ).status,
    ).toBe(400);
    expect((await put({ record: own, keys: { [owner.deviceId]: wrapped } })).status).toBe(201);
    // The same again (a retry whose answer was lost) is fine; another record for it is not.
    expect((await put({ record: own, keys: { [owner.deviceId]: wrapped } })).status).toBe(200);
    expect(
      (await put({ record: make(owner, [owner.deviceId]), keys: { [owner.deviceId]: wrapped } }))
        .status,
    ).toBe(409);
    const epochs = await call(
      relay.url,
      "GET",
      `/v1/folders/${folderId}/epochs`,
      undefined,
      access,
    );
    expect(epochs.json).toEqual({ epochs: [{ epoch: 1, record: own }] });
  });
});
