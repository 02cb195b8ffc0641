// Which folder keys a device adopts from the relay (issue 15): a newer epoch's key only through
// an owner-signed announcement naming this device and that key, whose chain of previous keys
// leads back to a key the device holds; older epochs down the chain. Every way a relay, an
// editor or a removed member could hand a device a key of their choosing is refused.
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  FolderKeyring,
  generateDeviceIdentity,
  generateFolderKey,
  newFolderId,
  ready,
} from "@weft/crypto";
import { beforeAll, describe, expect, test } from "vitest";
import {
  type EpochRecord,
  decodeEpochRecord,
  encodeEpochRecord,
  extendKeyring,
  makeEpochRecord,
  verifyEpochRecord,
} from "../src/index.js";

let folderId: FolderId;
let owner: DeviceIdentity;
let member: DeviceIdentity;
let keys: Uint8Array[];
let records: Map<number, EpochRecord>;

beforeAll(async () => {
  await ready();
  folderId = newFolderId();
  owner = generateDeviceIdentity();
  member = generateDeviceIdentity();
  // Epochs 0, 1, 2, 3: each announced by the owner, wrapped to both devices.
  keys = [0, 1, 2, 3].map(() => generateFolderKey());
  records = new Map();
  for (let epoch = 1; epoch <= 3; epoch++)
    records.set(epoch, announce(owner, epoch, keys[epoch]!, epoch - 1, keys[epoch - 1]!));
});

function announce(
  signer: DeviceIdentity,
  epoch: number,
  key: Uint8Array,
  previousEpoch: number,
  previousKey: Uint8Array,
  devices: DeviceId[] = [owner.deviceId, member.deviceId],
): EpochRecord {
  return makeEpochRecord({ folderId, epoch, key, previousEpoch, previousKey, devices, signer });
}

function ring(held: Record<number, Uint8Array>): FolderKeyring {
  const keyring = new FolderKeyring(folderId);
  for (const [epoch, key] of Object.entries(held)) keyring.add(Number(epoch), key);
  return keyring;
}

function adopt(
  held: Record<number, Uint8Array>,
  rows: Record<number, Uint8Array>,
  recs: Map<number, EpochRecord> = records,
  owners: DeviceId[] = [owner.deviceId],
) {
  const keyring = ring(held);
  const result = extendKeyring({
    keyring,
    deviceId: member.deviceId,
    rows: new Map(Object.entries(rows).map(([e, k]) => [Number(e), k])),
    records: recs,
    isOwnerDevice: (d) => owners.includes(d),
  });
  return { keyring, ...result };
}

describe("epoch announcements", () => {
  test("round-trip through text; any changed field breaks the signature", () => {
    const record = records.get(2)!;
    const decoded = decodeEpochRecord(encodeEpochRecord(record));
    expect(decoded).toEqual(record);
    expect(verifyEpochRecord(decoded)).toBe(true);
    expect(verifyEpochRecord({ ...decoded, epoch: 3 })).toBe(false);
    expect(verifyEpochRecord({ ...decoded, devices: [owner.deviceId] })).toBe(false);
    expect(verifyEpochRecord({ ...decoded, signer: member.deviceId })).toBe(false);
    const check = decoded.keyCheck.slice();
    check[0]! ^= 1;
    expect(verifyEpochRecord({ ...decoded, keyCheck: check })).toBe(false);
    expect(() => decodeEpochRecord("not a record")).toThrow(/not an epoch record/);
  });
});

describe("adopting keys", () => {
  test("a newer epoch through its announcement; epochs skipped on the way come down the chain", () => {
    const { keyring, added, refused } = adopt({ 0: keys[0]! }, { 0: keys[0]!, 3: keys[3]! });
    expect(refused).toEqual([]);
    expect(added.sort()).toEqual([1, 2, 3]);
    expect(keyring.latestEpoch).toBe(3);
    for (const e of [1, 2, 3]) expect(keyring.folderKey(e)).toEqual(keys[e]);
  });

  test("a member who joined at epoch 2 reads epochs 0 and 1 by walking back", () => {
    const { keyring, added } = adopt({ 2: keys[2]! }, { 2: keys[2]! });
    expect(added.sort()).toEqual([0, 1]);
    expect(keyring.folderKey(0)).toEqual(keys[0]);
  });

  test("with nothing held, the lowest row is the start, checked against its announcement", () => {
    expect(adopt({}, { 1: keys[1]!, 3: keys[3]! }).keyring.epochs).toEqual([0, 1, 2, 3]);
    const wrong = adopt({}, { 1: generateFolderKey() });
    expect(wrong.keyring.epochs).toEqual([]);
    expect(wrong.refused[0]?.reason).toMatch(/not the key its announcement names/);
  });

  test("a row with no announcement, or a key other than the announced one, is refused", () => {
    const none = adopt({ 0: keys[0]! }, { 1: keys[1]! }, new Map());
    expect(none.keyring.epochs).toEqual([0]);
    expect(none.refused[0]?.reason).toMatch(/no owner announced/);
    const planted = adopt({ 0: keys[0]! }, { 1: generateFolderKey() });
    expect(planted.keyring.epochs).toEqual([0]);
    expect(planted.refused[0]?.reason).toMatch(/not the key its announcement names/);
  });

  test("an announcement by an editor's device, or leaving this device out, is refused", () => {
    const byEditor = new Map(records);
    const fake = generateFolderKey();
    byEditor.set(1, announce(member, 1, fake, 0, keys[0]!));
    const editor = adopt({ 0: keys[0]! }, { 1: fake }, byEditor);
    expect(editor.keyring.epochs).toEqual([0]);
    expect(editor.refused[0]?.reason).toMatch(/not from an owner's device/);
    const other = new Map(records);
    other.set(1, announce(owner, 1, fake, 0, keys[0]!, [owner.deviceId]));
    const left = adopt({ 0: keys[0]! }, { 1: fake }, other);
    expect(left.refused[0]?.reason).toMatch(/does not name this device/);
  });

  test("a relay posing as an owner cannot chain to the key held: it never had it", () => {
    const relayDevice = generateDeviceIdentity();
    const forged = new Map<number, EpochRecord>();
    const fake = generateFolderKey();
    forged.set(1, announce(relayDevice, 1, fake, 0, generateFolderKey()));
    const r = adopt({ 0: keys[0]! }, { 1: fake }, forged, [owner.deviceId, relayDevice.deviceId]);
    expect(r.keyring.epochs).toEqual([0]);
    expect(r.refused[0]?.reason).toMatch(/does not lead to the key this device holds/);
  });

  test("an honest higher epoch still wins when a lower row is bad", () => {
    const r = adopt({ 0: keys[0]! }, { 2: generateFolderKey(), 3: keys[3]! });
    expect(r.keyring.latestEpoch).toBe(3);
    expect(r.keyring.folderKey(2)).toEqual(keys[2]);
  });
});
