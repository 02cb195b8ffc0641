// Folder keys only where they belong, against the real relay process: an editor cannot plant a
// key for the owner's device (at the newest possible epoch, or over the real row at epoch 0); a
// key row is only ever stored once, only at the folder's current epoch, by an owner or by the
// device itself; and a client adopts no key for an epoch the folder has not reached.
import {
  type DeviceIdentity,
  MAX_EPOCH,
  generateDeviceIdentity,
  generateFolderKey,
  ready,
  toBase64Url,
  wrapKeyForDevice,
} from "@weft/crypto";
import { type ProtocolError, RelayAccount, WeftError } from "@weft/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RelayProcess, startRelayProcess } from "@weft/test-support";

let relay: RelayProcess;

beforeAll(async () => {
  await ready();
  relay = await startRelayProcess();
}, 60_000);
afterAll(async () => {
  await relay.dispose();
});

let users = 0;
/** A new account and a device logged in to it (through `fetch` when given). */
async function signUp(
  identity: DeviceIdentity = generateDeviceIdentity(),
  fetchFn?: typeof fetch,
): Promise<RelayAccount> {
  const user = `keys-${++users}`;
  const password = `${user}-pass-phrase-long-enough`;
  await RelayAccount.register({ relay: relay.url, user, password });
  return RelayAccount.login({
    relay: relay.url,
    user,
    password,
    identity,
    ...(fetchFn ? { fetch: fetchFn } : {}),
  });
}

/** The relay's wire code for `promise`, which must reject with a ProtocolError. */
async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(WeftError);
  return (outcome as ProtocolError).wireCode;
}

/** A fresh key sealed to `identity`'s box key, as the body of a PUT keys call. */
const sealed = (identity: DeviceIdentity, epoch: number) => ({
  epoch,
  wrappedKey: toBase64Url(wrapKeyForDevice(generateFolderKey(), identity.boxPublicKey)),
});

/** An owner with a folder and an editor who joined by invite. */
async function sharedFolder() {
  const ownerDevice = generateDeviceIdentity();
  const editorDevice = generateDeviceIdentity();
  const owner = await signUp(ownerDevice);
  const editor = await signUp(editorDevice);
  const { folderId, keyring } = await owner.createFolder();
  const invite = await owner.createInvite(keyring, { role: "editor", ttlSeconds: 600 });
  // Redeeming stores the key for the editor's own device: that write must still be allowed.
  expect(await editor.redeemInvite(invite)).toMatchObject({ role: "editor", keyStored: true });
  return { owner, ownerDevice, editor, editorDevice, folderId, key: keyring.folderKey(0) };
}

describe("folder key rows", () => {
  test("an editor cannot plant a key for the owner's device, at the top epoch or over epoch 0", async () => {
    const { owner, ownerDevice, editor, folderId, key } = await sharedFolder();
    const ownerRow = `/v1/folders/${folderId}/keys/${ownerDevice.deviceId}`;
    expect(await refusal(editor.request("PUT", ownerRow, sealed(ownerDevice, MAX_EPOCH)))).toBe(
      "forbidden",
    );
    expect(await refusal(editor.request("PUT", ownerRow, sealed(ownerDevice, 0)))).toBe(
      "forbidden",
    );
    // The owner still holds exactly the key it made, and writes with it.
    const held = await owner.folderKeys(folderId);
    expect(held.epochs).toEqual([0]);
    expect(held.folderKey(0)).toEqual(key);
  });

  test("a row is stored once, at the current epoch, by an owner or the device itself", async () => {
    const { owner, ownerDevice, editor, editorDevice, folderId, key } = await sharedFolder();
    const keys = `/v1/folders/${folderId}/keys`;
    const ownerRow = `${keys}/${ownerDevice.deviceId}`;
    const editorRow = `${keys}/${editorDevice.deviceId}`;
    // Never over an existing row, not even the owner's own or by the owner.
    expect(await refusal(owner.request("PUT", ownerRow, sealed(ownerDevice, 0)))).toBe("conflict");
    expect(await refusal(owner.request("PUT", editorRow, sealed(editorDevice, 0)))).toBe(
      "conflict",
    );
    expect(await refusal(editor.request("PUT", editorRow, sealed(editorDevice, 0)))).toBe(
      "conflict",
    );
    // Never at an epoch the folder has not reached, whoever asks.
    for (const epoch of [1, MAX_EPOCH]) {
      expect(await refusal(editor.request("PUT", editorRow, sealed(editorDevice, epoch)))).toBe(
        "conflict",
      );
      expect(await refusal(owner.request("PUT", editorRow, sealed(editorDevice, epoch)))).toBe(
        "conflict",
      );
    }
    expect((await editor.folderKeys(folderId)).folderKey(0)).toEqual(key);
    expect((await owner.folderKeys(folderId)).folderKey(0)).toEqual(key);

    // A removal owes the next epoch; an owner's device makes it, announced and wrapped to every
    // remaining member device, and the editor adopts it through the announcement.
    const third = await signUp();
    const ownerKeys = await owner.folderKeys(folderId);
    const invite = await owner.createInvite(ownerKeys, { role: "viewer" });
    await third.redeemInvite(invite);
    const { members } = await owner.members(folderId);
    const viewer = members.find((m) => m.role === "viewer")!.user;
    expect(await owner.request("DELETE", `/v1/folders/${folderId}/members/${viewer}`)).toEqual({
      epoch: 0,
      rotationDue: true,
    });
    expect(await owner.completeRotation(ownerKeys)).toMatchObject({ epoch: 1, rotated: true });
    const next = ownerKeys.folderKey(1);
    expect((await editor.folderKeys(folderId)).folderKey(1)).toEqual(next);
    // Rows for the new epoch came with its announcement: not even an owner adds one over them.
    expect(await refusal(owner.request("PUT", editorRow, sealed(editorDevice, 1)))).toBe(
      "conflict",
    );
    // An editor still cannot store a key for the owner at the new epoch.
    expect(await refusal(editor.request("PUT", ownerRow, sealed(ownerDevice, 1)))).toBe(
      "forbidden",
    );
  });

  test("a client adopts no key for an epoch above the folder's current one", async () => {
    const ownerDevice = generateDeviceIdentity();
    const planted = sealed(ownerDevice, MAX_EPOCH);
    // A relay (or an old database) that hands out a row above the folder's epoch.
    const lying: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const url = input instanceof Request ? input.url : input.toString();
      if (!url.endsWith("/keys") || (init?.method ?? "GET") !== "GET") return res;
      const json = (await res.json()) as { keys: unknown[] };
      return Response.json({ keys: [...json.keys, planted] });
    };
    const owner = await signUp(ownerDevice, lying);
    const { folderId, keyring } = await owner.createFolder();
    const held = await owner.folderKeys(folderId);
    expect(held.epochs).toEqual([0]);
    expect(held.latestEpoch).toBe(0);
    expect(held.folderKey(0)).toEqual(keyring.folderKey(0));
  });
});
