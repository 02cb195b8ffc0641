// A folder's owner-signed metadata (issue 20) against the real relay process: the relay keeps the
// record the creating device signed and hands it to members; a joining device takes the mode
// from it and refuses a record the relay altered (a bit flipped in any field), one a member who
// is no owner signed (though it opens under the folder's key), and, once it has checked one, a
// record hidden or replaced; a member invited after a key rotation walks back to epoch 0's key to
// open it. The relay itself stores a record only from the creating device.
import {
  type DeviceIdentity,
  FolderKeyring,
  generateDeviceIdentity,
  newFolderId,
  ready,
} from "@weft/crypto";
import {
  type ProtocolError,
  RelayAccount,
  WeftError,
  decodeFolderMeta,
  encodeFolderMeta,
  makeFolderMeta,
} from "@weft/core";
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
async function signUp(
  identity: DeviceIdentity = generateDeviceIdentity(),
  fetchFn?: typeof fetch,
): Promise<RelayAccount> {
  const user = `meta-${++users}`;
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

/**
 * A relay that serves `serve(record)` in place of the folder's metadata record (a store whose
 * bytes someone changed); `serve` undefined serves it as stored.
 */
function hostileRelay(): {
  fetch: typeof fetch;
  serve?: (record: string | null) => string | null;
} {
  const hostile: { fetch: typeof fetch; serve?: (record: string | null) => string | null } = {
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      const url = input instanceof Request ? input.url : input.toString();
      const serve = hostile.serve;
      if (!serve || (init?.method ?? "GET") !== "GET" || !/\/v1\/folders\/[a-z2-7]{26}$/.test(url))
        return res;
      const json = (await res.json()) as { meta: string | null };
      return Response.json({ ...json, meta: serve(json.meta) });
    },
  };
  return hostile;
}

/** An owner's strong folder and an editor who joined it (through `hostile`) with a plain invite. */
async function strongFolder() {
  const ownerDevice = generateDeviceIdentity();
  const owner = await signUp(ownerDevice);
  const created = await owner.createFolder(undefined, { consistency: "strong" });
  const invite = await owner.createInvite(created.keyring, { role: "editor" });
  const hostile = hostileRelay();
  const editorDevice = generateDeviceIdentity();
  const editor = await signUp(editorDevice, hostile.fetch);
  const { keyring } = await editor.redeemInvite(invite);
  return { owner, ownerDevice, created, editor, editorDevice, keyring, hostile };
}

/** The WeftError code `promise` rejects with, and its message. */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(WeftError);
  const e = outcome as ProtocolError;
  return { code: e.wireCode ?? e.code, message: e.message };
}

/** `bytes` with one bit flipped at `at`. */
function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at]! ^= 0x01;
  return out;
}

describe("folder metadata", () => {
  test("a joining device takes the mode the owner signed, not the invite's", async () => {
    const { ownerDevice, created, editor, keyring } = await strongFolder();
    const verified = await editor.folderMetadata(keyring);
    expect(verified?.metadata).toMatchObject({
      folderId: created.folderId,
      consistency: "strong",
      creator: ownerDevice.deviceId,
    });
    expect(verified?.record).toBe(created.meta);
  });

  test("a record the relay altered is refused, whichever field the flipped bit is in", async () => {
    const { created, editor, editorDevice, keyring, hostile } = await strongFolder();
    const good = decodeFolderMeta(created.meta);
    const edits: [string, (typeof good)[keyof typeof good]][] = [
      ["sealed", flipped(good.sealed, 0)], // the nonce
      ["sealed", flipped(good.sealed, 30)], // the ciphertext (the mode)
      ["sealed", flipped(good.sealed, good.sealed.length - 1)], // the tag
      ["signature", flipped(good.signature, 17)],
      ["signPublicKey", flipped(good.signPublicKey, 5)],
      ["created", good.created + 1],
      ["signer", editorDevice.deviceId],
    ];
    for (const [field, value] of edits) {
      hostile.serve = () => encodeFolderMeta({ ...good, [field]: value });
      const { code, message } = await refusal(editor.folderMetadata(keyring));
      expect(code, field).toBe("INTEGRITY");
      expect(message).toContain("signed metadata");
    }
    // Bytes that are no record at all.
    hostile.serve = () => created.meta.slice(0, -8);
    expect((await refusal(editor.folderMetadata(keyring))).code).toBe("INTEGRITY");
    hostile.serve = undefined;
    expect((await editor.folderMetadata(keyring))?.metadata.consistency).toBe("strong");
  });

  test("a record signed by a member who is no owner is refused, though it opens under the key", async () => {
    const { created, editor, editorDevice, keyring, owner } = await strongFolder();
    // The editor holds epoch 0's key, so it can make a record that opens, naming eventual.
    const forged = encodeFolderMeta(
      makeFolderMeta({
        folderId: created.folderId,
        key0: keyring.folderKey(0),
        consistency: "eventual",
        signer: editorDevice,
      }),
    );
    // A third member, joining through a relay that serves the editor's record.
    const hostile = hostileRelay();
    const viewer = await signUp(undefined, hostile.fetch);
    const { keyring: viewerKeys } = await viewer.redeemInvite(
      await owner.createInvite(created.keyring, { role: "viewer" }),
    );
    hostile.serve = () => forged;
    const { code, message } = await refusal(viewer.folderMetadata(viewerKeys));
    expect(code).toBe("INTEGRITY");
    expect(message).toContain(`signed by device ${editorDevice.deviceId}`);
    // The relay never took it from the editor in the first place (it is written at creation).
    expect((await editor.folder(created.folderId)).meta).toBe(created.meta);
  });

  test("once checked, a record hidden or replaced (even by an owner's new one) is refused", async () => {
    const { ownerDevice, created, editor, keyring, hostile } = await strongFolder();
    const known = (await editor.folderMetadata(keyring))!.record;
    hostile.serve = () => null;
    // Without a record it has seen, a device cannot tell this folder from one made before
    // records existed: the record it kept is what says it had one.
    expect(await editor.folderMetadata(keyring)).toBeUndefined();
    expect((await refusal(editor.folderMetadata(keyring, { known }))).message).toContain(
      "is gone from the relay",
    );
    const replaced = encodeFolderMeta(
      makeFolderMeta({
        folderId: created.folderId,
        key0: keyring.folderKey(0),
        consistency: "eventual",
        signer: ownerDevice,
      }),
    );
    hostile.serve = () => replaced;
    expect((await refusal(editor.folderMetadata(keyring, { known }))).message).toContain(
      "changed since this device checked it",
    );
  });

  test("a member invited after a key rotation opens the record with epoch 0's key, walked back to", async () => {
    const { owner, created, editor } = await strongFolder();
    const { members } = await owner.members(created.folderId);
    const editorName = members.find((m) => m.role === "editor")!.user;
    await owner.removeMember(created.keyring, editorName);
    expect(created.keyring.latestEpoch).toBe(1);
    const late = await signUp();
    const { keyring } = await late.redeemInvite(
      await owner.createInvite(created.keyring, { role: "viewer" }),
    );
    // Holding only the newest key (as a device that kept just the invite's), it walks back.
    const newest = new FolderKeyring(created.folderId);
    newest.add(1, keyring.folderKey(1));
    expect((await late.folderMetadata(newest))?.metadata.consistency).toBe("strong");
    // The removed editor is not asked: it cannot reach the folder any more.
    expect((await refusal(editor.folder(created.folderId))).code).toBe("forbidden");
  });

  test("the relay stores a record only from the device creating the folder, for that folder", async () => {
    const device = generateDeviceIdentity();
    const account = await signUp(device);
    const key0 = new Uint8Array(32).fill(7);
    const make = (folderId: ReturnType<typeof newFolderId>, signer: DeviceIdentity) =>
      encodeFolderMeta(makeFolderMeta({ folderId, key0, consistency: "strong", signer }));
    const create = (folderId: string, meta: string) =>
      account.request("POST", "/v1/folders", { folderId, meta });
    const a = newFolderId();
    expect((await refusal(create(a, make(a, generateDeviceIdentity())))).code).toBe(
      "bad_signature",
    );
    expect((await refusal(create(a, make(newFolderId(), device)))).code).toBe("bad_frame");
    const good = decodeFolderMeta(make(a, device));
    const broken = encodeFolderMeta({ ...good, sealed: flipped(good.sealed, 40) });
    expect((await refusal(create(a, broken))).code).toBe("bad_signature");
    expect((await refusal(create(a, "bm90IGEgcmVjb3Jk"))).code).toBe("bad_frame");
    // None of those made the folder; the right one does, and members get it as sent.
    const text = make(a, device);
    await create(a, text);
    expect((await account.folder(a)).meta).toBe(text);
    // A folder made without one (an older client) has none.
    const b = newFolderId();
    await account.request("POST", "/v1/folders", { folderId: b });
    expect((await account.folder(b)).meta).toBeNull();
  });
});
