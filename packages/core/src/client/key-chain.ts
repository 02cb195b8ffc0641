/**
 * Which folder keys a device adopts from the relay. A key row is a sealed box, and anyone can
 * seal a key to a device, so a row alone proves nothing: a key of an epoch above those a device
 * holds is adopted only through that epoch's owner-signed announcement (epoch-record.ts), and
 * only when the announcement's chain of previous keys leads back to a key the device already
 * holds (so whoever made it held the folder's key: not the relay, not anyone who never had it).
 * Keys below the oldest one held come from walking that chain back, which only a holder of the
 * newer key can do: a member who joined after a rotation reads what was written before it.
 */
import type { DeviceId, FolderKeyring } from "@weft/crypto";
import { constantTimeEqual } from "@weft/crypto";
import {
  type EpochRecord,
  epochKeyMatches,
  openPreviousKey,
  verifyEpochRecord,
} from "./epoch-record.js";

/** What {@link extendKeyring} needs to know. */
export interface KeyChainInput {
  /** The keys already held (trusted); the keys found are added to it. */
  keyring: FolderKeyring;
  /** This device. */
  deviceId: DeviceId;
  /** The keys the relay holds for this device, unwrapped, by epoch (none above `currentEpoch`). */
  rows: ReadonlyMap<number, Uint8Array>;
  /** The folder's announcements, by epoch. */
  records: ReadonlyMap<number, EpochRecord>;
  /** Whether a device belongs to an owner of the folder (the relay's word). */
  isOwnerDevice: (deviceId: DeviceId) => boolean;
}

/** What {@link extendKeyring} did. */
export interface KeyChainResult {
  /** The epochs whose keys were added. */
  added: number[];
  /** Keys seen but not adopted, and why. */
  refused: { epoch: number; reason: string }[];
}

/**
 * Adds to `input.keyring` every key of the folder this device can prove: newer epochs through
 * their announcements, older ones through the chain of previous keys. With an empty keyring the
 * lowest row is taken as the starting point (the key the device stored for itself when it
 * created the folder or redeemed an invite), checked against its announcement when it has one.
 */
export function extendKeyring(input: KeyChainInput): KeyChainResult {
  const { keyring, rows, records } = input;
  const added: number[] = [];
  const refused: KeyChainResult["refused"] = [];
  const add = (epoch: number, key: Uint8Array): boolean => {
    if (keyring.has(epoch)) {
      if (constantTimeEqual(keyring.folderKey(epoch), key)) return true;
      refused.push({ epoch, reason: "another key is held for this epoch" });
      return false;
    }
    keyring.add(epoch, key);
    added.push(epoch);
    return true;
  };

  if (keyring.epochs.length === 0) {
    const lowest = [...rows.keys()].sort((a, b) => a - b)[0];
    if (lowest !== undefined) {
      const key = rows.get(lowest)!;
      const record = records.get(lowest);
      if (record && !epochKeyMatches(record, key))
        refused.push({ epoch: lowest, reason: "it is not the key its announcement names" });
      else add(lowest, key);
    }
  }
  if (keyring.epochs.length === 0) return { added, refused };

  // Newer epochs: the highest row that proves itself brings every epoch its chain passes.
  const latest = keyring.latestEpoch;
  for (const top of [...rows.keys()].filter((e) => e > latest).sort((a, b) => b - a)) {
    const why = newerChain(input, top, rows.get(top)!);
    if (typeof why === "string") {
      refused.push({ epoch: top, reason: why });
      continue;
    }
    for (const [epoch, key] of why) add(epoch, key);
    break;
  }

  // Older epochs: back from the oldest key held, as far as announcements go.
  let epoch = keyring.epochs[0]!;
  let key = keyring.folderKey(epoch);
  for (let record = records.get(epoch); record !== undefined; record = records.get(epoch)) {
    let previous: Uint8Array;
    try {
      previous = openPreviousKey(record, key);
    } catch {
      refused.push({ epoch: record.previousEpoch, reason: "its announcement does not open" });
      break;
    }
    const before = records.get(record.previousEpoch);
    if (before && !epochKeyMatches(before, previous)) {
      refused.push({ epoch: record.previousEpoch, reason: "the chain names another key" });
      break;
    }
    if (!add(record.previousEpoch, previous)) break;
    epoch = record.previousEpoch;
    key = previous;
  }
  return { added, refused };
}

/**
 * The keys from epoch `top` (whose row gave `key`) down to the first epoch already held, or why
 * they cannot be trusted: the announcement of `top` must be signed by an owner's device, name
 * this device and this key, and each previous key must open and match its own announcement,
 * down to a key this device holds.
 */
function newerChain(
  input: KeyChainInput,
  top: number,
  key: Uint8Array,
): [number, Uint8Array][] | string {
  const { keyring, records } = input;
  const record = records.get(top);
  if (!record) return "no owner announced this epoch";
  if (!verifyEpochRecord(record) || record.epoch !== top) return "its announcement is not signed";
  if (!input.isOwnerDevice(record.signer)) return "its announcement is not from an owner's device";
  if (!record.devices.includes(input.deviceId)) return "its announcement does not name this device";
  if (!epochKeyMatches(record, key)) return "it is not the key its announcement names";
  const chain: [number, Uint8Array][] = [[top, key]];
  let current = record;
  let currentKey = key;
  for (;;) {
    let previous: Uint8Array;
    try {
      previous = openPreviousKey(current, currentKey);
    } catch {
      return `the announcement of epoch ${current.epoch} does not open with its key`;
    }
    const epoch = current.previousEpoch;
    if (keyring.has(epoch))
      return constantTimeEqual(keyring.folderKey(epoch), previous)
        ? chain
        : "its chain does not lead to the key this device holds";
    const before = records.get(epoch);
    if (!before) return "its chain does not reach a key this device holds";
    if (!epochKeyMatches(before, previous)) return `the chain names another key for epoch ${epoch}`;
    chain.push([epoch, previous]);
    current = before;
    currentKey = previous;
  }
}
