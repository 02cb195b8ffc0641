/** MemoryHub: an in-memory stand-in for the relay, speaking the protocol with seeded delivery. */
import {
  decodeEnvelope,
  deviceIdFromSignPublicKey,
  isFolderId,
  verifyEnvelopeSignature,
} from "@weft/crypto";
import type { DeviceId, Envelope, FolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { ProtocolError } from "../protocol/errors.js";
import type { ProtocolErrorCode } from "../protocol/errors.js";
import { errorMessageFor } from "../protocol/messages.js";
import type {
  Message,
  MessageOf,
  PresenceMessage,
  PresenceStatus,
  SequencedEnvelope,
  SnapshotData,
} from "../protocol/messages.js";
import { SUPPORTED_VERSIONS, negotiateVersion } from "../protocol/version.js";
import { MemoryBlobStore } from "../storage/memory-blob-store.js";
import {
  BlobClient,
  DeliveryScheduler,
  HubClientEnd,
  HubLink,
  envelopeBatches,
  seededRandom,
  zeroTraffic,
} from "./scheduler.js";
import type { HubBlobClient, HubTraffic, MemoryHubTransport } from "./scheduler.js";

/** Options of {@link MemoryHub}. */
export interface MemoryHubOptions {
  /** Seed of the delivery-order PRNG (default: random; the seed used is `hub.seed`). */
  seed?: number;
  /**
   * Probability (0..1) that an `envelopes` push is delivered twice (duplicate delivery);
   * default 0.
   */
  duplicateRate?: number;
  /**
   * Probability (0..1) that a live `envelopes` push to a subscriber is held back and delivered
   * after that subscriber's next push, or by the next `drain()` (out of order, as after a relay
   * failover); default 0.
   */
  reorderRate?: number;
}

const SERVER = { name: "weft-memory-hub", version: "0.1.0" };

type Subscribe = MessageOf<"subscribe">;
type Append = MessageOf<"append">;
const refuse = (code: ProtocolErrorCode, message: string): ProtocolError =>
  new ProtocolError(code, message);

/** A refusal that also ends the connection (the protocol closes after a connection error). */
class Fatal extends ProtocolError {
  constructor(
    code: ProtocolErrorCode,
    message: string,
    readonly closeReason: string = message,
  ) {
    super(code, message);
  }
}

interface Folder {
  readonly members: Map<DeviceId, Uint8Array>;
  readonly log: SequencedEnvelope[];
  /** `${deviceId} ${deviceSeq}` → seq: how appends are deduplicated. */
  readonly byDeviceSeq: Map<string, number>;
  snapshot: SnapshotData | undefined;
  readonly acked: Map<DeviceId, number>;
  /** What a device last reported about itself while online; cleared when it goes offline. */
  readonly presence: Map<DeviceId, { status: PresenceStatus; payload?: Uint8Array }>;
  /** Open connections subscribed to the folder, in subscription order. */
  readonly subscribers: Set<Connection>;
}

interface Device {
  readonly token: string;
  readonly traffic: HubTraffic;
}

/** The hub's side of one connection. */
interface Connection {
  /** The authenticated device, once `auth` succeeded. */
  device: DeviceId | undefined;
  greeted: boolean;
  /** Folders subscribed on this connection. */
  readonly folders: Set<FolderId>;
  readonly link: HubLink;
  /** A push held back by `reorderRate`, sent after the next one. */
  heldBack?: Message;
}

/**
 * An in-memory relay for tests and app developers: keeps each folder's append-only log of
 * signed envelopes, verifies and fans them out, stores snapshots and chunks, and relays
 * presence and ephemeral messages, over {@link MemoryHubTransport}s that run the real codec.
 * Like the relay it holds no key and sees only ciphertext.
 *
 * Every frame, in both directions, waits in a per-direction FIFO; a pump picks a random
 * non-empty FIFO with a PRNG seeded by `seed` and delivers its head. So each direction keeps
 * its order, as a socket does, while the interleaving across connections is random yet
 * reproducible: a failing test prints `hub.seed`, and the same seed replays the same order.
 * Does not import vitest.
 */
export class MemoryHub {
  /** The seed of the delivery-order PRNG (the one given, or the random one chosen). */
  readonly seed: number;
  /** The hub's chunk store: sealed bytes only. */
  readonly blobs = new MemoryBlobStore();
  private readonly random: () => number;
  private readonly duplicateRate: number;
  private readonly reorderRate: number;
  private readonly scheduler: DeliveryScheduler;
  private readonly folders = new Map<FolderId, Folder>();
  private readonly devices = new Map<DeviceId, Device>();
  private readonly tokens = new Map<string, DeviceId>();
  private readonly offline = new Set<DeviceId>();
  private readonly connections = new Set<Connection>();
  private closed = false;

  /** @throws WeftError INVALID_OPTIONS for a seed that is not a safe integer or a rate outside 0..1 */
  constructor(options: MemoryHubOptions = {}) {
    const {
      seed = Math.floor(Math.random() * 2 ** 32),
      duplicateRate: rate = 0,
      reorderRate = 0,
    } = options;
    const isRate = (r: unknown): boolean => typeof r === "number" && r >= 0 && r <= 1;
    if (!Number.isSafeInteger(seed) || !isRate(rate) || !isRate(reorderRate)) {
      throw new WeftError(
        "INVALID_OPTIONS",
        "seed must be an integer, duplicateRate and reorderRate 0 to 1",
      );
    }
    this.seed = seed;
    this.duplicateRate = rate;
    this.reorderRate = reorderRate;
    this.random = seededRandom(seed);
    this.scheduler = new DeliveryScheduler(this.random);
  }

  /**
   * Registers a device as a member of a folder, with its Ed25519 public key (envelopes are
   * verified against it). Call `ready()` from @weft/crypto first.
   * @returns the device id derived from the key
   * @throws WeftError INVALID_OPTIONS for a malformed folder id
   */
  addMember(folderId: FolderId, signPublicKey: Uint8Array): DeviceId {
    if (!isFolderId(folderId))
      throw new WeftError("INVALID_OPTIONS", "folderId is not a folder id");
    const deviceId = deviceIdFromSignPublicKey(signPublicKey);
    this.folderFor(folderId).members.set(deviceId, signPublicKey.slice());
    if (!this.devices.has(deviceId)) {
      // Deterministic, so that a seeded run is reproducible; a test hub guards nothing secret.
      const token = `memory-hub.${deviceId}`;
      this.devices.set(deviceId, { token, traffic: zeroTraffic() });
      this.tokens.set(token, deviceId);
    }
    return deviceId;
  }

  /**
   * The bearer token the device passes in `auth`.
   * @throws WeftError NOT_FOUND for a device never added with {@link addMember}
   */
  tokenFor(deviceId: DeviceId): string {
    const device = this.devices.get(deviceId);
    if (device === undefined) throw new WeftError("NOT_FOUND", `unknown device ${deviceId}`);
    return device.token;
  }

  /**
   * Opens a connection and returns its client end, open at once. The hub learns which device
   * it is only at `auth`, so a cut-off device is refused there (`unavailable`, then a close with
   * reason "offline"). After {@link close}, the end returned is already closed.
   */
  connect(): MemoryHubTransport {
    if (this.closed) return new HubClientEnd(() => undefined, "hub closed");
    const link = new HubLink(this.scheduler, {
      receive: (frame) => this.receive(conn, frame),
      closed: () => this.end(conn),
    });
    const conn: Connection = {
      device: undefined,
      greeted: false,
      folders: new Set(),
      link,
    };
    this.connections.add(conn);
    return link.end;
  }

  /**
   * Cuts a device off (false) or lets it back (true). Cutting off closes its open connections
   * (a remote close with reason "offline"; frames in flight are lost), refuses its `auth` with
   * `unavailable` while cut off, and makes its blob clients reject with ProtocolError
   * `unavailable`.
   */
  setOnline(deviceId: DeviceId, online: boolean): void {
    if (online) {
      this.offline.delete(deviceId);
      return;
    }
    this.offline.add(deviceId);
    for (const conn of [...this.connections]) {
      if (conn.device === deviceId) this.drop(conn, "offline", false);
    }
  }

  /** Whether the device is not cut off by {@link setOnline}. */
  isOnline(deviceId: DeviceId): boolean {
    return !this.offline.has(deviceId);
  }

  /**
   * A new {@link BlobStore} through which a device reaches the hub's chunks: it counts the
   * bytes it moves and rejects with ProtocolError `unavailable` while the device is cut off.
   * Closing it closes only this client, not {@link blobs}.
   */
  blobClient(deviceId: DeviceId): HubBlobClient {
    return new BlobClient(this.blobs, deviceId, () => this.isOnline(deviceId));
  }

  /** Every stored envelope of a folder, in sequence order (copies; empty for an unknown folder). */
  log(folderId: FolderId): readonly SequencedEnvelope[] {
    const log = this.folders.get(folderId)?.log ?? [];
    return log.map(({ seq, envelope }) => ({ seq, envelope: envelope.slice() }));
  }

  /** The stored snapshot of a folder, if any (a copy). */
  snapshot(folderId: FolderId): SnapshotData | undefined {
    const s = this.folders.get(folderId)?.snapshot;
    return s && { ...s, ciphertext: s.ciphertext.slice() };
  }

  /**
   * Makes the hub hang (true) or answer again (false): while it hangs, connections open and
   * stay open, but every frame either way is lost, as with a relay that stopped responding or
   * a network path that silently drops everything. Clients must notice on their own.
   */
  setStalled(stalled: boolean): void {
    this.stalled = stalled;
  }

  private stalled = false;

  /** Frames queued and not yet delivered, over all connections and both directions. */
  get pendingFrames(): number {
    return this.scheduler.pendingFrames;
  }

  /**
   * Resolves once no frame is queued: after delivering everything queued, including frames
   * queued while delivering, and after the clients' immediate (microtask) reactions.
   */
  async drain(): Promise<void> {
    for (;;) {
      await this.scheduler.drain();
      // Pushes held back for reordering go out once nothing else is left, so none is lost.
      const held = [...this.connections].filter((c) => c.heldBack);
      if (held.length === 0) return;
      for (const c of held) {
        this.send(c, c.heldBack!);
        c.heldBack = undefined;
      }
    }
  }

  /** Bytes and frames the device exchanged with the hub, over all its connections so far. */
  traffic(deviceId: DeviceId): HubTraffic {
    return { ...(this.devices.get(deviceId)?.traffic ?? zeroTraffic()) };
  }

  /** Closes every connection (remote close, reason "hub closed"); later connections start closed. */
  close(): void {
    this.closed = true;
    for (const conn of [...this.connections]) this.drop(conn, "hub closed", false);
  }

  // ---- connection life ----

  private receive(conn: Connection, frame: Uint8Array): void {
    if (!this.connections.has(conn) || this.stalled) return;
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      this.send(conn, errorMessageFor(error));
      this.drop(conn, `undecodable frame: ${(error as Error).message}`, true);
      return;
    }
    try {
      this.handle(conn, message);
    } catch (error) {
      // A request's failure is answered and the connection goes on; an error about the
      // connection (no requestId, or a Fatal one) is followed by a close, as the protocol says.
      const requestId = "requestId" in message ? message.requestId : undefined;
      this.send(conn, errorMessageFor(error, requestId));
      if (error instanceof Fatal || requestId === undefined) {
        const reason = error instanceof Fatal ? error.closeReason : errorMessageFor(error).message;
        this.drop(conn, reason, true);
      }
    }
  }

  /** Closes from the hub's side; `flush` keeps the frames already queued for the client. */
  private drop(conn: Connection, reason: string, flush: boolean): void {
    if (!this.connections.has(conn)) return;
    this.end(conn);
    conn.link.close(reason, flush);
  }

  /** The connection is over: its subscriptions end, and peers see the device go offline. */
  private end(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    for (const folderId of conn.folders) this.unsubscribe(conn, folderId);
  }

  private unsubscribe(conn: Connection, folderId: FolderId): void {
    conn.folders.delete(folderId);
    const folder = this.folders.get(folderId);
    const device = conn.device;
    if (folder === undefined || device === undefined || !folder.subscribers.delete(conn)) return;
    if (subscribedDevices(folder).has(device)) return; // still online through another connection
    folder.presence.delete(device); // so the payload is not sent, nor the status kept
    const offline = { ...this.presenceOf(folder, folderId, device), status: "offline" as const };
    this.broadcast(folder, device, offline);
  }

  // ---- messages ----

  private handle(conn: Connection, m: Message): void {
    if (m.type === "hello") {
      if (conn.greeted) throw new Fatal("bad_frame", "hello was already answered");
      const version = negotiateVersion(SUPPORTED_VERSIONS, m.versions);
      conn.greeted = true;
      return this.send(conn, { type: "welcome", version, server: SERVER });
    }
    if (!conn.greeted) throw new Fatal("bad_frame", `the first frame must be hello, not ${m.type}`);
    switch (m.type) {
      case "auth":
        return this.auth(conn, m);
      case "error":
        return; // the client's own report; it closes the connection itself if it must
      case "welcome":
      case "ok":
      case "subscribed":
      case "appended":
      case "envelopes":
      case "snapshot":
      case "haveResult":
        throw new Fatal("bad_frame", `${m.type} is sent by the relay, not to it`);
    }
    const device = conn.device;
    if (device === undefined) throw refuse("unauthorized", `${m.type} before auth`);
    if (m.type === "ping") return this.send(conn, { type: "ok", requestId: m.requestId });
    const folder = this.memberFolder(m.folderId, device);
    const requestId = "requestId" in m ? m.requestId : 0;
    switch (m.type) {
      case "subscribe":
        return this.subscribe(conn, device, folder, m);
      case "unsubscribe":
        this.unsubscribe(conn, m.folderId);
        return this.send(conn, { type: "ok", requestId });
      case "append":
        return this.append(conn, device, folder, m);
      case "ack": {
        // Clamped to the head: a device cannot have applied what does not exist.
        const acked = Math.min(m.seq, folder.log.length);
        folder.acked.set(device, Math.max(folder.acked.get(device) ?? 0, acked));
        if (!subscribedDevices(folder).has(device)) return; // offline devices have no presence
        return this.broadcast(folder, device, this.presenceOf(folder, m.folderId, device));
      }
      case "snapshotPut": {
        const head = folder.log.length;
        if (m.coversSeq > head) throw refuse("bad_frame", `coversSeq is past the head ${head}`);
        const { epoch, coversSeq, ciphertext } = m;
        // Newest by coversSeq; an equal one replaces it (a re-key can snapshot the same state).
        if (coversSeq >= (folder.snapshot?.coversSeq ?? 0)) {
          folder.snapshot = { epoch, coversSeq, ciphertext };
        }
        return this.send(conn, { type: "ok", requestId });
      }
      case "snapshotGet": {
        const snapshot = folder.snapshot ?? null;
        return this.send(conn, { type: "snapshot", requestId, folderId: m.folderId, snapshot });
      }
      case "haveCheck":
        void this.blobs.has(m.chunkIds).then(
          (missing) => this.send(conn, { type: "haveResult", requestId, missing }),
          (error: unknown) => this.send(conn, errorMessageFor(error, requestId)),
        );
        return;
      case "presence": {
        requireSelf(m.deviceId, device, "presence");
        const { status, payload } = m;
        folder.presence.set(device, payload === undefined ? { status } : { status, payload });
        return this.broadcast(folder, device, m);
      }
      case "ephemeral":
        requireSelf(m.deviceId, device, "ephemeral");
        return this.broadcast(folder, device, m); // relayed to whoever is online, never stored
    }
  }

  private auth(conn: Connection, m: MessageOf<"auth">): void {
    const device = this.tokens.get(m.token);
    if (device === undefined) throw new Fatal("unauthorized", "unknown token");
    if (conn.device !== undefined && conn.device !== device) {
      throw new Fatal("forbidden", "the connection is authenticated as another device");
    }
    if (this.offline.has(device)) throw new Fatal("unavailable", "device cut off", "offline");
    if (conn.device === undefined) {
      conn.device = device;
      // From now on, and for hello and auth before it, the traffic is the device's.
      conn.link.countInto(this.devices.get(device)!.traffic);
    }
    this.send(conn, { type: "ok", requestId: m.requestId });
  }

  private subscribe(conn: Connection, device: DeviceId, folder: Folder, m: Subscribe): void {
    const { folderId, requestId } = m;
    const others = subscribedDevices(folder);
    others.delete(device);
    const isNew = !folder.subscribers.has(conn);
    folder.subscribers.add(conn);
    conn.folders.add(folderId);
    this.send(conn, { type: "subscribed", requestId, folderId, headSeq: folder.log.length });
    for (const items of envelopeBatches(folder.log.slice(m.afterSeq))) {
      this.send(conn, { type: "envelopes", folderId, items });
    }
    for (const other of others) this.send(conn, this.presenceOf(folder, folderId, other));
    if (isNew) this.broadcast(folder, device, this.presenceOf(folder, folderId, device));
  }

  private append(conn: Connection, device: DeviceId, folder: Folder, m: Append): void {
    const { folderId, requestId, envelope } = m;
    let env: Envelope;
    try {
      env = decodeEnvelope(envelope);
    } catch (cause) {
      throw new ProtocolError("bad_frame", "append.envelope is not an envelope", { cause });
    }
    if (env.folderId !== folderId) throw refuse("bad_frame", "the envelope is of another folder");
    if (env.deviceId !== device) throw refuse("forbidden", "the envelope is of another device");
    if (!verifyEnvelopeSignature(env, folder.members.get(device)!)) {
      throw refuse("bad_signature", "the envelope's signature does not verify for its device");
    }
    const { deviceSeq } = env;
    const key = `${device} ${deviceSeq}`;
    const existing = folder.byDeviceSeq.get(key);
    // The same device sequence number with other bytes is a replay: the protocol's conflict.
    if (existing !== undefined && !sameBytes(folder.log[existing - 1]!.envelope, envelope)) {
      throw refuse("conflict", `deviceSeq ${deviceSeq} is taken by another envelope`);
    }
    const seq = existing ?? folder.log.length + 1;
    this.send(conn, { type: "appended", requestId, folderId, seq, deviceSeq });
    // A retry of an append whose answer was lost: answered again, stored and pushed once.
    if (existing !== undefined) return;
    folder.log.push({ seq, envelope });
    folder.byDeviceSeq.set(key, seq);
    const push: Message = { type: "envelopes", folderId, items: [{ seq, envelope }] };
    for (const sub of folder.subscribers) {
      if (!sub.heldBack && this.reorderRate > 0 && this.random() < this.reorderRate) {
        // Goes out after the next push to this subscriber, or at the next drain(): late,
        // never lost.
        sub.heldBack = push;
        continue;
      }
      this.send(sub, push);
      if (sub.heldBack) {
        this.send(sub, sub.heldBack);
        sub.heldBack = undefined;
      }
      if (this.duplicateRate > 0 && this.random() < this.duplicateRate) this.send(sub, push);
    }
  }

  // ---- helpers ----

  private presenceOf(folder: Folder, folderId: FolderId, deviceId: DeviceId): PresenceMessage {
    const reported = folder.presence.get(deviceId);
    const out: PresenceMessage = {
      type: "presence",
      folderId,
      deviceId,
      status: reported?.status ?? "online",
      ackedSeq: folder.acked.get(deviceId) ?? 0,
    };
    if (reported?.payload !== undefined) out.payload = reported.payload;
    return out;
  }

  /** Sends `message` to every subscriber of `folder` except the connections of `from`. */
  private broadcast(folder: Folder, from: DeviceId, message: Message): void {
    for (const sub of folder.subscribers) if (sub.device !== from) this.send(sub, message);
  }

  private send(conn: Connection, message: Message): void {
    if (!this.connections.has(conn) || this.stalled) return;
    let frame: Uint8Array;
    try {
      frame = encodeMessage(message);
    } catch (error) {
      // Only a bug in the hub gets here; tell the client rather than throw from a delivery.
      frame = encodeMessage(errorMessageFor(error));
    }
    conn.link.send(frame);
  }

  private memberFolder(folderId: FolderId, device: DeviceId): Folder {
    const folder = this.folders.get(folderId);
    // The same answer for "no such folder" and "not a member": a non-member learns nothing.
    if (folder === undefined || !folder.members.has(device)) {
      throw refuse("forbidden", `device ${device} is not a member of folder ${folderId}`);
    }
    return folder;
  }

  private folderFor(folderId: FolderId): Folder {
    let folder = this.folders.get(folderId);
    if (folder === undefined) {
      folder = {
        members: new Map(),
        log: [],
        byDeviceSeq: new Map(),
        snapshot: undefined,
        acked: new Map(),
        presence: new Map(),
        subscribers: new Set(),
      };
      this.folders.set(folderId, folder);
    }
    return folder;
  }
}

/** The devices with an open connection subscribed to `folder`. */
function subscribedDevices(folder: Folder): Set<DeviceId> {
  const out = new Set<DeviceId>();
  for (const sub of folder.subscribers) if (sub.device !== undefined) out.add(sub.device);
  return out;
}

function requireSelf(claimed: DeviceId, device: DeviceId, type: string): void {
  if (claimed !== device) {
    throw refuse("forbidden", `${type}.deviceId must be the authenticated device`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
