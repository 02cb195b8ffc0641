/**
 * Record attestations: each device signs a digest of its own records in the folder index, so
 * that a snapshot (made by any one member) can be checked against the devices that wrote it.
 */
import {
  type DeviceId,
  type DeviceIdentity,
  type FolderId,
  deviceIdFromSignPublicKey,
  sha256,
  signDetached,
  verifyDetached,
} from "@weft/crypto";
import * as Y from "yjs";
import { WeftError } from "../errors.js";
import { parseBucketKey } from "../folder/records.js";
import { ByteReader, ByteWriter } from "../model/varint.js";

/** The root map of a folder index: the only type its updates may write (see authorize.ts). */
const RECORDS = "records";
const ATTESTATION_VERSION = 1;
const SIGN_CONTEXT = "records/v1";
const SIGN_PUBLIC_KEY_BYTES = 32;
const DIGEST_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** Longest encoded attestation: version, key, a varint, digest, signature. */
export const MAX_ATTESTATION_BYTES = 1 + SIGN_PUBLIC_KEY_BYTES + 9 + DIGEST_BYTES + SIGNATURE_BYTES;

/**
 * A device's signed statement "these are all my records", as of its envelope `deviceSeq`: the
 * digest covers every live record under its bucket keys and the clock of each of its Yjs
 * clients (see {@link RecordsDigester}).
 */
export interface Attestation {
  readonly device: DeviceId;
  readonly deviceSeq: number;
  readonly digest: Uint8Array;
  /** The encoded, signed form, as it travels in envelopes and snapshots. */
  readonly bytes: Uint8Array;
}

function signedMessage(
  folderId: FolderId,
  device: DeviceId,
  deviceSeq: number,
  digest: Uint8Array,
) {
  const w = new ByteWriter(128);
  w.string(folderId);
  w.string(device);
  w.uint(deviceSeq);
  w.raw(digest);
  return w.finish();
}

/** Signs `digest` as this device's records in `folderId` as of its envelope `deviceSeq`. */
export function signAttestation(
  folderId: FolderId,
  identity: DeviceIdentity,
  deviceSeq: number,
  digest: Uint8Array,
): Attestation {
  const signature = signDetached(
    SIGN_CONTEXT,
    signedMessage(folderId, identity.deviceId, deviceSeq, digest),
    identity.signSecretKey,
  );
  const w = new ByteWriter(MAX_ATTESTATION_BYTES);
  w.u8(ATTESTATION_VERSION);
  w.raw(identity.signPublicKey);
  w.uint(deviceSeq);
  w.raw(digest);
  w.raw(signature);
  return { device: identity.deviceId, deviceSeq, digest, bytes: w.finish() };
}

/**
 * Decodes an attestation and checks it: the key inside must hash to a device id and the
 * signature must verify for this folder.
 * @throws WeftError INTEGRITY when it is malformed or not signed by the device it names
 */
export function openAttestation(folderId: FolderId, bytes: Uint8Array): Attestation {
  let signPublicKey: Uint8Array, deviceSeq: number, digest: Uint8Array, signature: Uint8Array;
  try {
    const r = new ByteReader(bytes);
    if (r.u8() !== ATTESTATION_VERSION) throw new Error("unknown attestation version");
    signPublicKey = bytes.slice(1, 1 + SIGN_PUBLIC_KEY_BYTES);
    r.skip(SIGN_PUBLIC_KEY_BYTES);
    deviceSeq = r.uint();
    const at = bytes.length - DIGEST_BYTES - SIGNATURE_BYTES;
    r.skip(DIGEST_BYTES + SIGNATURE_BYTES);
    r.end();
    digest = bytes.slice(at, at + DIGEST_BYTES);
    signature = bytes.slice(at + DIGEST_BYTES);
  } catch (cause) {
    throw new WeftError("INTEGRITY", "a record attestation is malformed", { cause });
  }
  const device = deviceIdFromSignPublicKey(signPublicKey);
  const message = signedMessage(folderId, device, deviceSeq, digest);
  if (!verifyDetached(SIGN_CONTEXT, signature, message, signPublicKey))
    throw new WeftError("INTEGRITY", `a record attestation of ${device} is not signed by it`);
  return { device, deviceSeq, digest, bytes };
}

/** A live record of a device's own: its key, its Yjs item, the SHA-256 of its value. */
export type OwnRecord = [key: string, item: Y.Item, valueHash: Uint8Array];

/** What a client's items say about its device: undefined none yet, null several. */
type ClientOwner = DeviceId | null | undefined;

/**
 * Computes the digest each device attests, from an index document: per device, its Yjs
 * clients with their clocks (sorted), then its live bucket keys with a SHA-256 of each value
 * (sorted). Everything a device wrote is in there, so two documents give one device the same
 * digest exactly when they hold the same of its writes; a record changed, dropped, rolled back
 * or added in its name, or an item placed at a clock of one of its clients, changes it.
 *
 * Keeps caches for a document it is asked about again (hashes by item, owners by client), so
 * the per-envelope cost is walking the keys, not hashing every value.
 */
export class RecordsDigester {
  private readonly hashes = new WeakMap<Y.Item, Uint8Array>();
  private readonly owners = new Map<number, { owner: ClientOwner; upTo: number }>();

  constructor(private readonly doc: Y.Doc) {}

  /**
   * One device's own part: its live records (key, item, hash of the value) and its Yjs
   * clients with their clocks. For signing its own, where the document is trusted.
   */
  own(device: DeviceId): { keys: OwnRecord[]; clients: [client: number, clock: number][] } {
    const store = this.doc.store;
    const records = this.doc.share.get(RECORDS);
    const keys: OwnRecord[] = [];
    for (const [key, item] of records?._map ?? []) {
      if (item.deleted || !key.endsWith(device) || parseBucketKey(key)?.device !== device) continue;
      if (item.content instanceof Y.ContentBinary) keys.push([key, item, this.hash(item)]);
    }
    const clients: [number, number][] = [];
    for (const [client, structs] of store.clients)
      if (this.ownerOf(client, structs, records) === device)
        clients.push([client, Y.getState(store, client)]);
    return { keys, clients };
  }

  /** The digest of one device's records (for signing its own). */
  digestOf(device: DeviceId): Uint8Array {
    const { keys, clients } = this.own(device);
    return recordsDigest(
      clients,
      keys.map(([key, , hash]) => [key, hash]),
    );
  }

  /**
   * Every device's digest; or, when the document holds something no device's attestation
   * could cover (a key that is no device's bucket, a Yjs client naming two devices or none,
   * updates waiting on missing ones), what it is.
   */
  digests(): Map<DeviceId, Uint8Array> | string {
    const store = this.doc.store;
    if (store.pendingStructs || store.pendingDs)
      return "the index holds updates that wait for missing ones";
    for (const name of this.doc.share.keys())
      if (name !== RECORDS) return `the index has a root type "${name}" besides its records`;
    const records = this.doc.share.get(RECORDS);
    const keys = new Map<DeviceId, [string, Uint8Array][]>();
    for (const [key, item] of records?._map ?? []) {
      const device = parseBucketKey(key)?.device;
      if (!device) return `the index has a record key "${key}" that is no device's`;
      if (item.deleted) continue;
      if (!(item.content instanceof Y.ContentBinary)) return `the record ${key} is not binary`;
      let list = keys.get(device);
      if (!list) keys.set(device, (list = []));
      list.push([key, this.hash(item)]);
    }
    const clients = new Map<DeviceId, [number, number][]>();
    for (const [client, structs] of store.clients) {
      const owner = this.ownerOf(client, structs, records);
      if (owner === null) return `Yjs client ${client} holds records of several devices`;
      if (owner === undefined) return `Yjs client ${client} holds no device's records`;
      let list = clients.get(owner);
      if (!list) clients.set(owner, (list = []));
      list.push([client, Y.getState(store, client)]);
    }
    const out = new Map<DeviceId, Uint8Array>();
    for (const device of new Set([...keys.keys(), ...clients.keys()]))
      out.set(device, recordsDigest(clients.get(device) ?? [], keys.get(device) ?? []));
    return out;
  }

  /** SHA-256 of a live record's value, once per item. */
  private hash(item: Y.Item): Uint8Array {
    let hash = this.hashes.get(item);
    if (!hash) this.hashes.set(item, (hash = sha256((item.content as Y.ContentBinary).content)));
    return hash;
  }

  /** The device a client's keyed items name, scanning only what was added since last asked. */
  private ownerOf(client: number, structs: (Y.Item | Y.GC)[], records: unknown): ClientOwner {
    const known = this.owners.get(client);
    let owner = known?.owner;
    const from = known?.upTo ?? 0;
    // Walk back from the newest struct to the clock scanned last time: structs may have merged
    // since, so positions are not stable, clocks are.
    for (let i = structs.length - 1; i >= 0; i--) {
      const s = structs[i]!;
      if (s.id.clock + s.length <= from) break;
      if (!(s instanceof Y.Item) || s.parent !== records || s.parentSub === null) continue;
      const device = parseBucketKey(s.parentSub)?.device;
      if (device === undefined || device === owner || owner === null) continue;
      owner = owner === undefined ? device : null;
    }
    this.owners.set(client, { owner, upTo: Y.getState(this.doc.store, client) });
    return owner;
  }
}

/** The order of record keys in a digest (JavaScript's string order). */
export const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** One record's line in a digest: its key (varint length, UTF-8) and its value's SHA-256. */
export function recordLine(key: string, valueHash: Uint8Array): Uint8Array {
  const w = new ByteWriter(key.length * 3 + 40);
  w.string(key);
  w.raw(valueHash);
  return w.finish();
}

/**
 * The digest of one device's records: its Yjs clients with their clocks and its live bucket
 * keys with a SHA-256 of each value (both sorted here).
 */
export function recordsDigest(
  clients: [client: number, clock: number][],
  keys: [key: string, valueHash: Uint8Array][],
): Uint8Array {
  keys.sort((a, b) => compareKeys(a[0], b[0]));
  return digestOfLines(
    clients,
    keys.map(([key, hash]) => recordLine(key, hash)),
  );
}

/**
 * {@link recordsDigest} from the {@link recordLine}s of the device's keys, already in
 * {@link compareKeys} order: `SHA-256(varint n ‖ (client, clock)* sorted ‖ varint m ‖ lines)`.
 */
export function digestOfLines(
  clients: [client: number, clock: number][],
  lines: readonly Uint8Array[],
): Uint8Array {
  clients.sort((a, b) => a[0] - b[0]);
  const head = new ByteWriter(16 + clients.length * 12);
  head.uint(clients.length);
  for (const [client, clock] of clients) {
    head.uint(client);
    head.uint(clock);
  }
  head.uint(lines.length);
  const start = head.finish();
  const out = new Uint8Array(start.length + lines.reduce((n, l) => n + l.length, 0));
  out.set(start, 0);
  let at = start.length;
  for (const line of lines) {
    out.set(line, at);
    at += line.length;
  }
  return sha256(out);
}

/**
 * Checks a document's {@link RecordsDigester.digests} against what its writers attested: every
 * device with records or Yjs clients in it must have an attestation in `attested` whose digest
 * matches. Returns the first problem, or undefined when every device's part is as it signed it.
 */
export function checkAttested(
  digests: ReadonlyMap<DeviceId, Uint8Array> | string,
  attested: ReadonlyMap<DeviceId, Attestation>,
): string | undefined {
  if (typeof digests === "string") return digests;
  for (const [device, d] of digests) {
    const a = attested.get(device);
    if (!a) return `no attestation of ${device}'s records`;
    if (!equalBytes(a.digest, d))
      return `${device}'s records are not as it signed them (envelope ${a.deviceSeq})`;
  }
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
