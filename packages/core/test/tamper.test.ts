// Tampering with every kind of stored object, as the relay (which holds ciphertext only) or a
// member (who holds the folder key) could: chunks, log envelopes, snapshots, folder keys wrapped
// for a device, and invite-wrapped keys. Flipped bits are the easy case (the AEAD refuses them);
// the cases that matter are the well-formed forgeries each check exists for: other bytes sealed
// under an existing chunk id, an envelope signed by another member, a snapshot of another
// folder, a key sealed to another device, an invite key bound to another folder or epoch, a
// folder's metadata made by someone without the folder's key.
import {
  CHUNK_OVERHEAD,
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  chunkIdFromSha256,
  encodeEnvelope,
  generateDeviceIdentity,
  generateFolderKey,
  generateInviteSecret,
  newFolderId,
  randomBytes,
  ready,
  sealChunk,
  sealEnvelope,
  sha256,
  signDetached,
  unwrapKeyForDevice,
  unwrapKeyWithSecret,
  wrapKeyForDevice,
  wrapKeyWithSecret,
} from "@weft/crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { inviteContext } from "../src/client/relay-invite.js";
import {
  decodeFolderMeta,
  encodeFolderMeta,
  makeFolderMeta,
  openFolderMeta,
} from "../src/client/folder-meta.js";
import { ChunkKeys, openChunkData, sealChunkData } from "../src/replica/chunk-codec.js";
import type { ReplicaContext } from "../src/replica/context.js";
import { openLogEnvelope } from "../src/replica/inbound.js";
import { encodePayload } from "../src/replica/payload.js";

let folderId: FolderId;
let keys: ChunkKeys;
let alice: DeviceIdentity;
let bob: DeviceIdentity;

beforeAll(async () => {
  await ready();
  folderId = newFolderId();
  const keyring = new FolderKeyring(folderId);
  keyring.add(0, generateFolderKey());
  keys = new ChunkKeys(folderId, keyring);
  [alice, bob] = [generateDeviceIdentity(), generateDeviceIdentity()];
});

const flip = (bytes: Uint8Array, at: number): Uint8Array => {
  const out = bytes.slice();
  out[at < 0 ? out.length + at : at]! ^= 1;
  return out;
};
const idOf = (data: Uint8Array) => chunkIdFromSha256(keys.subkeys(0).chunkId, sha256(data));

describe("chunks", () => {
  it("a member who holds the key seals other bytes under an existing chunk id: refused", () => {
    const real = randomBytes(5000);
    const id = idOf(real);
    // Same length, sealed properly under the id, the folder and the epoch: the AEAD opens it,
    // only the keyed hash of the plaintext shows it is not the chunk the manifest names.
    const forged = sealChunkData(keys, id, randomBytes(5000));
    expect(() => openChunkData(keys, id, forged, 5000)).toThrow(/does not match its id/);
    expect(openChunkData(keys, id, sealChunkData(keys, id, real), 5000)).toEqual(real);
  });

  it("a flipped bit, a chunk served under another id, a short size: refused", () => {
    const data = randomBytes(3000);
    const id = idOf(data);
    const sealed = sealChunkData(keys, id, data);
    const other = idOf(randomBytes(10));
    expect(() => openChunkData(keys, id, flip(sealed, -3), 3000)).toThrow(/corrupt or forged/);
    expect(() => openChunkData(keys, other, sealed, 3000)).toThrow(/corrupt or forged/);
    expect(() => openChunkData(keys, id, sealed, 2999)).toThrow(/expected 2999/);
  });

  it("a member who holds the key seals a chunk with other padding or another length: refused", () => {
    const data = randomBytes(3000);
    const id = idOf(data);
    // Sealed by hand, as a member could: `format 2 ‖ body length u32 BE ‖ body ‖ zeros`, to the
    // Padmé length of 45 + 5 + 3000 = 3050 (E = 11, S = 4, a step of 2^7): 3072.
    const seal = (edit: (plain: Uint8Array, view: DataView) => void, total = 3072) => {
      const plain = new Uint8Array(total - CHUNK_OVERHEAD);
      const view = new DataView(plain.buffer);
      plain[0] = 2;
      view.setUint32(1, data.length, false);
      plain.set(data, 5);
      edit(plain, view);
      return sealChunk(keys.subkeys(0).chunk, { chunkId: id, folderId, epoch: 0 }, plain);
    };
    const asSealed = seal(() => undefined);
    expect(asSealed.length).toBe(sealChunkData(keys, id, data).length);
    expect(Buffer.from(openChunkData(keys, id, asSealed, 3000)).equals(data)).toBe(true);
    const refused = [
      seal((plain) => (plain[plain.length - 1] = 1)), // a byte hidden in the padding
      seal(() => undefined, 3200), // more padding than the size calls for
      seal(() => undefined, 3050), // none
      seal((_, view) => view.setUint32(1, 3001, false)), // a length one byte long: a zero more
      seal((_, view) => view.setUint32(1, 2999, false)), // one byte short
      seal((_, view) => view.setUint32(1, 0xffff_ffff, false)), // past the end
    ];
    // A length that still fits the padded size gives a body of the wrong size, which the
    // manifest's size refuses; any other forgery is refused as padding.
    for (const [i, sealed] of refused.entries())
      expect(() => openChunkData(keys, id, sealed, 3000), `forgery ${i}`).toThrow(
        /bad padding|expected 3000/,
      );
  });
});

describe("log envelopes and snapshots", () => {
  const ctx = () => ({ folderId, keys }) as unknown as ReplicaContext;
  const seal = (who: DeviceIdentity, deviceSeq: number, folder = folderId) =>
    sealEnvelope(
      { folderId: folder, deviceId: who.deviceId, deviceSeq, epoch: 0 },
      keys.subkeys(0).index,
      who.signSecretKey,
      encodePayload({ signPublicKey: who.signPublicKey, parts: [] }),
    );

  it("an envelope in Alice's name signed by Bob (a member with the key): refused", () => {
    const env = seal(alice, 7);
    const bytes = encodeEnvelope(env);
    expect(openLogEnvelope(ctx(), bytes).device).toBe(alice.deviceId);
    const body = bytes.subarray(0, bytes.length - 64);
    const resigned = encodeEnvelope({
      ...env,
      signature: signDetached("envelope/v1", body, bob.signSecretKey),
    });
    expect(() => openLogEnvelope(ctx(), resigned)).toThrow(/not signed by it/);
  });

  it("an envelope whose payload names another device's key: refused", () => {
    const env = sealEnvelope(
      { folderId, deviceId: bob.deviceId, deviceSeq: 1, epoch: 0 },
      keys.subkeys(0).index,
      bob.signSecretKey,
      encodePayload({ signPublicKey: alice.signPublicKey, parts: [] }),
    );
    expect(() => openLogEnvelope(ctx(), encodeEnvelope(env))).toThrow(/not signed by it/);
  });

  it("a flipped bit anywhere in an envelope: refused", () => {
    const bytes = encodeEnvelope(seal(alice, 3));
    for (const at of [1, 60, 120, bytes.length - 80, bytes.length - 1])
      expect(() => openLogEnvelope(ctx(), flip(bytes, at)), `bit at ${at}`).toThrow();
  });

  it("a snapshot of another folder (the relay swapping one it holds): refused", () => {
    // A snapshot is an envelope with deviceSeq 0; the relay could serve one from elsewhere.
    const other = newFolderId();
    const theirs = encodeEnvelope(seal(alice, 0, other));
    expect(() => openLogEnvelope(ctx(), theirs)).toThrow(/of folder .* arrived in/);
  });

  it("a snapshot under an epoch this device has no key for: refused, not applied", () => {
    const env = seal(alice, 0);
    const later = encodeEnvelope({ ...env, epoch: 1 });
    expect(() => openLogEnvelope(ctx(), later)).toThrow(/no key for epoch 1/);
  });
});

describe("wrapped folder keys and invites", () => {
  it("a key sealed to another device, or with a flipped bit, does not open", () => {
    const key = generateFolderKey();
    const wrapped = wrapKeyForDevice(key, alice.boxPublicKey);
    expect(unwrapKeyForDevice(wrapped, alice.boxPublicKey, alice.boxSecretKey)).toEqual(key);
    const toBob = wrapKeyForDevice(key, bob.boxPublicKey);
    expect(() => unwrapKeyForDevice(toBob, alice.boxPublicKey, alice.boxSecretKey)).toThrow(
      /does not open/,
    );
    expect(() =>
      unwrapKeyForDevice(flip(wrapped, 40), alice.boxPublicKey, alice.boxSecretKey),
    ).toThrow(/does not open/);
  });

  it("an invite's key served for another folder or another epoch does not open", () => {
    const key = generateFolderKey();
    const secret = generateInviteSecret();
    const wrapped = wrapKeyWithSecret(key, secret, inviteContext(folderId, 2));
    expect(unwrapKeyWithSecret(wrapped, secret, inviteContext(folderId, 2))).toEqual(key);
    for (const context of [inviteContext(newFolderId(), 2), inviteContext(folderId, 1)])
      expect(() => unwrapKeyWithSecret(wrapped, secret, context)).toThrow();
    expect(() =>
      unwrapKeyWithSecret(flip(wrapped, 30), secret, inviteContext(folderId, 2)),
    ).toThrow();
  });

  it("a keyring never lets a second key take over an epoch it has", () => {
    const keyring = new FolderKeyring(folderId);
    keyring.add(0, generateFolderKey());
    expect(() => keyring.add(0, generateFolderKey())).toThrow(/already has a different key/);
  });
});

describe("folder metadata", () => {
  const made = () => {
    const key0 = generateFolderKey();
    const record = makeFolderMeta({ folderId, key0, consistency: "strong", signer: alice });
    return { key0, record, text: encodeFolderMeta(record) };
  };
  const read = (text: string, key0: Uint8Array) => openFolderMeta(decodeFolderMeta(text), key0);

  it("a bit flipped in any byte of the stored record: refused, never another mode", () => {
    const { key0, text } = made();
    expect(read(text, key0)).toMatchObject({ consistency: "strong", creator: alice.deviceId });
    const json = new TextEncoder().encode(new TextDecoder().decode(Buffer.from(text, "base64url")));
    let refused = 0;
    // One bit of each byte (a different one from byte to byte): every field, every position.
    for (let at = 0; at < json.length; at++) {
      const changed = json.slice();
      changed[at]! ^= 1 << (at % 8);
      const tampered = Buffer.from(changed).toString("base64url");
      expect(() => read(tampered, key0), `byte ${at}`).toThrow(
        /not folder metadata|signed metadata/,
      );
      refused++;
    }
    expect(refused).toBe(json.length);
  });

  it("a record made without the folder's key, or read with another folder's key: refused", () => {
    const { key0, record } = made();
    // Well signed by its maker, but sealed under a key that is not this folder's: what a relay
    // (or anyone without the key) can make.
    const outsider = makeFolderMeta({
      folderId,
      key0: generateFolderKey(),
      consistency: "eventual",
      signer: bob,
    });
    expect(() => openFolderMeta(outsider, key0)).toThrow(/does not open with the folder's key/);
    expect(() => openFolderMeta(record, generateFolderKey())).toThrow(/does not open/);
    // Re-signed by another device over the same sealed body: the body is bound to its signer.
    const resigned = { ...record, signer: bob.deviceId, signPublicKey: bob.signPublicKey };
    const bytes = new TextEncoder().encode(
      JSON.stringify([
        "weft-folder/v1",
        resigned.folderId,
        resigned.signer,
        Buffer.from(resigned.signPublicKey).toString("base64url"),
        resigned.created,
        Buffer.from(resigned.sealed).toString("base64url"),
      ]),
    );
    const forged = { ...resigned, signature: signDetached("folder/v1", bytes, bob.signSecretKey) };
    expect(() => openFolderMeta(forged, key0)).toThrow(/does not open/);
  });

  it("the sealed body is as long for either mode: its length does not tell the relay", () => {
    const key0 = generateFolderKey();
    const sealed = (consistency: "strong" | "eventual") =>
      makeFolderMeta({ folderId, key0, consistency, signer: alice }).sealed.length;
    expect(sealed("strong")).toBe(sealed("eventual"));
  });
});
