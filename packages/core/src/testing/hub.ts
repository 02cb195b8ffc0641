/** MemoryHub: an in-memory stand-in for the relay, running its ProtocolServer with seeded delivery. */
import { deviceIdFromSignPublicKey, isFolderId } from "@weft/crypto";
import type { DeviceId, FolderId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import { encodeMessage } from "../protocol/codec.js";
import { ProtocolError } from "../protocol/errors.js";
import { errorMessageFor } from "../protocol/messages.js";
import type { Message, SequencedEnvelope, SnapshotData } from "../protocol/messages.js";
import {
  MemoryLogStore,
  type Principal,
  type ProtocolConnection,
  ProtocolServer,
  type Role,
  newConnectionState,
} from "../server/index.js";
import { MemoryBlobStore } from "../storage/memory-blob-store.js";
import {
  BlobClient,
  DeliveryScheduler,
  HubClientEnd,
  HubLink,
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
  /** The clock of ack times and pruning, in ms since the epoch (default `Date.now`). */
  now?: () => number;
  /**
   * A device that has not acked a folder for this long stops holding back the log's pruning,
   * as the relay's `--prune-silent-after` (default 0: never).
   */
  silentDeviceMs?: number;
}

const SERVER = { name: "weft-memory-hub", version: "0.1.0" };

interface Device {
  readonly token: string;
  readonly traffic: HubTraffic;
}

/** The hub's side of one connection. */
interface Connection extends ProtocolConnection {
  readonly link: HubLink;
  /** A live push held back by `reorderRate`, sent after the next one. */
  heldBack?: Uint8Array;
  /** Whether its traffic counts toward its device yet (from its first `auth`). */
  counted: boolean;
}

/**
 * An in-memory relay for tests and app developers: the relay's own {@link ProtocolServer} over a
 * {@link MemoryLogStore}, so it keeps each folder's log of signed envelopes, checks roles
 * (viewers cannot append), prunes what every member device acknowledged and a snapshot covers,
 * and relays presence per device, over {@link MemoryHubTransport}s that run the real codec.
 * Like the relay it holds no key and sees only ciphertext. Each device is its own account.
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
  private readonly store: MemoryLogStore;
  private readonly server: ProtocolServer;
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
      now = Date.now,
      silentDeviceMs = 0,
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
    this.store = new MemoryLogStore(now);
    this.server = new ProtocolServer({
      store: this.store,
      authenticate: (token) => this.authenticate(token),
      missingChunks: (_folderId, ids) => this.blobs.has(ids),
      server: SERVER,
      now,
      silentDeviceMs,
    });
  }

  /**
   * Registers a device as a member of a folder with a role (default editor; again: changes the
   * role), with its Ed25519 public key (envelopes are verified against it). Call `ready()` from
   * @weft/crypto first.
   * @returns the device id derived from the key
   * @throws WeftError INVALID_OPTIONS for a malformed folder id
   */
  addMember(folderId: FolderId, signPublicKey: Uint8Array, role: Role = "editor"): DeviceId {
    if (!isFolderId(folderId))
      throw new WeftError("INVALID_OPTIONS", "folderId is not a folder id");
    const deviceId = deviceIdFromSignPublicKey(signPublicKey);
    this.store.addDevice(deviceId, deviceId, signPublicKey);
    this.store.setMember(folderId, deviceId, role);
    if (!this.devices.has(deviceId)) {
      // Deterministic, so that a seeded run is reproducible; a test hub guards nothing secret.
      const token = `memory-hub.${deviceId}`;
      this.devices.set(deviceId, { token, traffic: zeroTraffic() });
      this.tokens.set(token, deviceId);
    }
    return deviceId;
  }

  /**
   * Removes a device from a folder: its connections subscribed there end at once (`forbidden`),
   * and it is refused the folder from then on.
   */
  removeMember(folderId: FolderId, deviceId: DeviceId): void {
    this.store.removeMember(folderId, deviceId);
    this.server.memberRemoved(folderId, deviceId);
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
   * it is only at `auth`, so a cut-off device is refused there (`unavailable`, then a close).
   * After {@link close}, the end returned is already closed.
   */
  connect(): MemoryHubTransport {
    if (this.closed) return new HubClientEnd(() => undefined, "hub closed");
    const link = new HubLink(this.scheduler, {
      receive: (frame) => {
        if (this.connections.has(conn) && !this.stalled) this.server.receive(conn, frame);
      },
      closed: () => this.end(conn),
    });
    const conn: Connection = {
      ...newConnectionState(),
      link,
      counted: false,
      send: (message) => this.send(conn, message),
      sendFrame: (frame, live) => (live ? this.push(conn, frame) : this.transmit(conn, frame)),
      close: (_code, reason) => this.drop(conn, reason, true),
      authenticated: () => {
        if (conn.counted || !conn.principal) return;
        conn.counted = true;
        // From now on, and for hello and auth before it, the traffic is the device's.
        conn.link.countInto(this.devices.get(conn.principal.deviceId)!.traffic);
      },
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
      if (conn.principal?.deviceId === deviceId) this.drop(conn, "offline", false);
    }
  }

  /** Whether the device is not cut off by {@link setOnline}. */
  isOnline(deviceId: DeviceId): boolean {
    return !this.offline.has(deviceId);
  }

  /**
   * A new `BlobStore` through which a device reaches the hub's chunks: it counts the
   * bytes it moves and rejects with ProtocolError `unavailable` while the device is cut off.
   * Closing it closes only this client, not {@link blobs}.
   */
  blobClient(deviceId: DeviceId): HubBlobClient {
    return new BlobClient(this.blobs, deviceId, () => this.isOnline(deviceId));
  }

  /** Every stored envelope of a folder (pruned ones are gone), in sequence order (copies; empty for an unknown folder). */
  log(folderId: FolderId): readonly SequencedEnvelope[] {
    return this.store.logNow(folderId);
  }

  /** The stored snapshot of a folder, if any (a copy). */
  snapshot(folderId: FolderId): SnapshotData | undefined {
    return this.store.snapshotNow(folderId);
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
      // Presence changes go out batched on the next turn (protocol 5): wait for them too.
      if (this.server.presencePending) continue;
      // Pushes held back for reordering go out once nothing else is left, so none is lost.
      const held = [...this.connections].filter((c) => c.heldBack);
      if (held.length === 0) return;
      for (const c of held) {
        this.transmit(c, c.heldBack!);
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

  private authenticate(token: string): Principal {
    const device = this.tokens.get(token);
    if (device === undefined) throw new ProtocolError("unauthorized", "unknown token");
    if (this.offline.has(device)) throw new ProtocolError("unavailable", "device cut off");
    return { accountId: device, deviceId: device, expires: Infinity };
  }

  /** Closes from the hub's side; `flush` keeps the frames already queued for the client. */
  private drop(conn: Connection, reason: string, flush: boolean): void {
    if (!this.connections.has(conn)) return;
    this.end(conn);
    conn.link.close(reason, flush);
  }

  /** The connection is over: its subscriptions end, and peers see the device go offline. */
  private end(conn: Connection): void {
    if (this.connections.delete(conn)) this.server.closed(conn);
  }

  private send(conn: Connection, message: Message): void {
    let frame: Uint8Array;
    try {
      frame = encodeMessage(message);
    } catch (error) {
      // Only a bug in the hub gets here; tell the client rather than throw from a delivery.
      frame = encodeMessage(errorMessageFor(error));
    }
    this.transmit(conn, frame);
  }

  /** A live push: may be held back (`reorderRate`) or sent twice (`duplicateRate`). */
  private push(conn: Connection, frame: Uint8Array): void {
    if (!conn.heldBack && this.reorderRate > 0 && this.random() < this.reorderRate) {
      // Goes out after the next push to this connection, or at the next drain(): late, never
      // lost.
      conn.heldBack = frame;
      return;
    }
    this.transmit(conn, frame);
    if (conn.heldBack) {
      this.transmit(conn, conn.heldBack);
      conn.heldBack = undefined;
    }
    if (this.duplicateRate > 0 && this.random() < this.duplicateRate) this.transmit(conn, frame);
  }

  private transmit(conn: Connection, frame: Uint8Array): void {
    if (this.connections.has(conn) && !this.stalled) conn.link.send(frame);
  }
}
