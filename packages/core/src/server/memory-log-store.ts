/** MemoryLogStore: a LogStore in memory, under the test hub; the same contract as the relay's SQLite store. */
/* eslint-disable @typescript-eslint/require-await -- in memory: its asynchronous store methods have nothing to wait for, and an async method turns a throw into a rejection */
import type { DeviceId, FolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import type { HeadClaim } from "../protocol/messages.js";
import type { AppendIfResult, LogEntry, LogStore, Role, SnapshotRecord } from "./log-store.js";

const EMPTY = new Uint8Array(0);

interface Device {
  readonly accountId: string;
  readonly signPublicKey: Uint8Array;
  /** When it was registered (ms): a device never heard from counts as silent from then. */
  readonly created: number;
}

interface Entry extends LogEntry {
  readonly deviceId: DeviceId;
  readonly deviceSeq: number;
}

interface Folder {
  epoch: number;
  readonly members: Map<string, Role>;
  /** Entries not pruned, contiguous: `log[i].seq === pruned + 1 + i`. */
  log: Entry[];
  head: number;
  /** Entries with seq ≤ this are gone. */
  pruned: number;
  /** `${deviceId} ${deviceSeq}` → seq, for the entries still in the log. */
  readonly byDeviceSeq: Map<string, number>;
  /** Per device, the highest deviceSeq pruned: appending at or below it is a reuse. */
  readonly prunedDeviceSeq: Map<DeviceId, number>;
  snapshot: SnapshotRecord | undefined;
  /** A strong folder's file heads: handle (hex) → the token of the last write accepted. */
  readonly heads: Map<string, Uint8Array>;
  readonly acks: Map<DeviceId, { seq: number; heard: number }>;
}

/**
 * A {@link LogStore} in memory: folders, their members with roles, the member devices' keys,
 * and the logs, pruned by the same rule as the relay's store. Nothing persists. Its
 * {@link LogStore} methods are asynchronous like any store's; the test hub's own set-up methods
 * (addDevice, setMember, …) are not.
 */
export class MemoryLogStore implements LogStore {
  private readonly folders = new Map<FolderId, Folder>();
  private readonly devices = new Map<DeviceId, Device>();

  /** @param now - the clock of ack and registration times (ms since the epoch) */
  constructor(private readonly now: () => number = Date.now) {}

  /** Registers a device of an account with the key its envelopes verify against (again: no change). */
  addDevice(deviceId: DeviceId, accountId: string, signPublicKey: Uint8Array): void {
    if (this.devices.has(deviceId)) return;
    this.devices.set(deviceId, {
      accountId,
      signPublicKey: signPublicKey.slice(),
      created: this.now(),
    });
  }

  /** Adds a member (creating the folder at epoch 0 on first use), or changes its role. */
  setMember(folderId: FolderId, accountId: string, role: Role): void {
    this.folderFor(folderId).members.set(accountId, role);
  }

  /** Removes a member (a no-op for a non-member); its devices' acks stay. */
  removeMember(folderId: FolderId, accountId: string): void {
    this.folders.get(folderId)?.members.delete(accountId);
  }

  /**
   * Moves a folder to a new key epoch.
   * @throws WeftError INVALID_ARGUMENT unless `epoch` is greater than the current one;
   * NOT_FOUND for an unknown folder
   */
  setEpoch(folderId: FolderId, epoch: number): void {
    const folder = this.require(folderId);
    if (!(epoch > folder.epoch))
      throw new WeftError("INVALID_ARGUMENT", `epoch ${epoch} is not above ${folder.epoch}`);
    folder.epoch = epoch;
  }

  async role(folderId: FolderId, accountId: string): Promise<Role | undefined> {
    return this.folders.get(folderId)?.members.get(accountId);
  }

  async memberDeviceKey(folderId: FolderId, deviceId: DeviceId): Promise<Uint8Array | undefined> {
    const device = this.devices.get(deviceId);
    if (!device || !this.folders.get(folderId)?.members.has(device.accountId)) return undefined;
    return device.signPublicKey;
  }

  async folder(folderId: FolderId): Promise<{ epoch: number } | undefined> {
    const folder = this.folders.get(folderId);
    return folder && { epoch: folder.epoch };
  }

  async append(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
  ): Promise<{ seq: number; duplicate: boolean }> {
    const result = this.store(folderId, deviceId, deviceSeq, envelope, []);
    if ("stale" in result) throw new Error("unreachable: an append without claims is never stale");
    return result;
  }

  async appendIf(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
    claims: readonly HeadClaim[],
  ): Promise<AppendIfResult> {
    return this.store(folderId, deviceId, deviceSeq, envelope, claims);
  }

  private store(
    folderId: FolderId,
    deviceId: DeviceId,
    deviceSeq: number,
    envelope: Uint8Array,
    claims: readonly HeadClaim[],
  ): AppendIfResult {
    const folder = this.require(folderId);
    const key = `${deviceId} ${deviceSeq}`;
    const existing = folder.byDeviceSeq.get(key);
    if (existing !== undefined) {
      // A retry whose answer was lost carries the same bytes; anything else reuses a number.
      if (sameBytes(folder.log[existing - folder.pruned - 1]!.envelope, envelope))
        return { seq: existing, duplicate: true };
      throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used for other bytes`);
    }
    if (deviceSeq <= (folder.prunedDeviceSeq.get(deviceId) ?? -1))
      throw new WeftError("ALREADY_EXISTS", `deviceSeq ${deviceSeq} was used and pruned`);
    if (!this.devices.has(deviceId)) throw new WeftError("NOT_FOUND", `unknown device ${deviceId}`);
    const stale = claims
      .filter((c) => !sameBytes(folder.heads.get(hexOf(c.handle)) ?? EMPTY, c.base))
      .map((c) => c.handle.slice());
    if (stale.length > 0) return { stale };
    for (const c of claims) {
      if (c.next.length === 0) folder.heads.delete(hexOf(c.handle));
      else folder.heads.set(hexOf(c.handle), c.next.slice());
    }
    const seq = ++folder.head;
    folder.log.push({ seq, envelope: envelope.slice(), deviceId, deviceSeq });
    folder.byDeviceSeq.set(key, seq);
    return { seq, duplicate: false };
  }

  async readLog(
    folderId: FolderId,
    afterSeq: number,
    limit: number,
    maxBytes: number,
  ): Promise<LogEntry[]> {
    const folder = this.require(folderId);
    const out: LogEntry[] = [];
    let bytes = 0;
    for (let i = Math.max(0, afterSeq - folder.pruned); i < folder.log.length; i++) {
      const entry = folder.log[i]!;
      if (out.length === limit || (out.length > 0 && bytes + entry.envelope.length > maxBytes))
        break;
      bytes += entry.envelope.length;
      out.push({ seq: entry.seq, envelope: entry.envelope.slice() });
    }
    return out;
  }

  async firstSeqAfter(folderId: FolderId, afterSeq: number): Promise<number | undefined> {
    const folder = this.require(folderId);
    const seq = Math.max(afterSeq, folder.pruned) + 1;
    return seq <= folder.head ? seq : undefined;
  }

  async headSeq(folderId: FolderId): Promise<number> {
    return this.require(folderId).head;
  }

  async headSeqs(folderIds: readonly FolderId[]): Promise<Map<FolderId, number>> {
    const out = new Map<FolderId, number>();
    for (const id of folderIds) {
      const folder = this.folders.get(id);
      if (folder) out.set(id, folder.head);
    }
    return out;
  }

  async putSnapshot(
    folderId: FolderId,
    epoch: number,
    coversSeq: number,
    ciphertext: Uint8Array,
  ): Promise<void> {
    const folder = this.require(folderId);
    if (coversSeq > folder.head)
      throw new WeftError("INVALID_ARGUMENT", `coversSeq ${coversSeq} is beyond the head`);
    if (coversSeq >= (folder.snapshot?.coversSeq ?? 0))
      folder.snapshot = { epoch, coversSeq, ciphertext: ciphertext.slice() };
  }

  async snapshot(folderId: FolderId): Promise<SnapshotRecord | undefined> {
    return this.snapshotNow(folderId);
  }

  /** A folder's newest snapshot, if any (a copy), at once: for the test hub's inspection. */
  snapshotNow(folderId: FolderId): SnapshotRecord | undefined {
    const s = this.folders.get(folderId)?.snapshot;
    return s && { ...s, ciphertext: s.ciphertext.slice() };
  }

  /** A folder's entries not pruned (copies; empty for an unknown folder), at once: for the test hub. */
  logNow(folderId: FolderId): LogEntry[] {
    const folder = this.folders.get(folderId);
    return folder ? folder.log.map((e) => ({ seq: e.seq, envelope: e.envelope.slice() })) : [];
  }

  async ack(folderId: FolderId, deviceId: DeviceId, seq: number): Promise<void> {
    const folder = this.require(folderId);
    if (seq > folder.head) throw new WeftError("INVALID_ARGUMENT", `seq ${seq} is beyond the head`);
    if (!this.devices.has(deviceId)) throw new WeftError("NOT_FOUND", `unknown device ${deviceId}`);
    const before = folder.acks.get(deviceId)?.seq ?? 0;
    folder.acks.set(deviceId, { seq: Math.max(before, seq), heard: this.now() });
  }

  async acks(folderId: FolderId): Promise<Map<DeviceId, number>> {
    const out = new Map<DeviceId, number>();
    for (const [device, { seq }] of this.folders.get(folderId)?.acks ?? []) out.set(device, seq);
    return out;
  }

  async pruneLog(folderId: FolderId, silentBefore = 0): Promise<number> {
    const folder = this.require(folderId);
    let upTo = folder.snapshot?.coversSeq ?? 0;
    for (const [deviceId, device] of this.devices) {
      if (!folder.members.has(device.accountId)) continue;
      const ack = folder.acks.get(deviceId);
      if ((ack?.heard ?? device.created) < silentBefore) continue; // gone silent
      upTo = Math.min(upTo, ack?.seq ?? 0);
    }
    const gone = Math.max(0, upTo - folder.pruned);
    if (gone === 0) return 0;
    // Remembered before the entries go: the dedupe can no longer see those device seqs.
    for (const { deviceId, deviceSeq } of folder.log.splice(0, gone)) {
      folder.byDeviceSeq.delete(`${deviceId} ${deviceSeq}`);
      if (deviceSeq > (folder.prunedDeviceSeq.get(deviceId) ?? -1))
        folder.prunedDeviceSeq.set(deviceId, deviceSeq);
    }
    folder.pruned = upTo;
    return gone;
  }

  private require(folderId: FolderId): Folder {
    const folder = this.folders.get(folderId);
    if (!folder) throw new WeftError("NOT_FOUND", `unknown folder ${folderId}`);
    return folder;
  }

  private folderFor(folderId: FolderId): Folder {
    let folder = this.folders.get(folderId);
    if (!folder) {
      folder = {
        epoch: 0,
        members: new Map(),
        log: [],
        head: 0,
        pruned: 0,
        byDeviceSeq: new Map(),
        prunedDeviceSeq: new Map(),
        heads: new Map(),
        snapshot: undefined,
        acks: new Map(),
      };
      this.folders.set(folderId, folder);
    }
    return folder;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Hex of a short byte string (a map key); not @weft/crypto's toHex, which needs libsodium ready. */
function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
