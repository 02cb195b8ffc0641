/** Who is subscribed to each folder, which devices are online there, and what they reported. */
import type { DeviceId, FolderId } from "@weft/crypto";
import { encodeMessage } from "../protocol/codec.js";
import type { Message, MessageOf, PresenceStatus } from "../protocol/messages.js";
import type { ProtocolConnection } from "./connection.js";
import type { LogStore } from "./log-store.js";

interface Reported {
  status: PresenceStatus;
  payload?: Uint8Array;
}

const NONE: ReadonlySet<ProtocolConnection> = new Set();

/**
 * The subscribers of every folder and the presence of their devices. A device is online in a
 * folder while any of its connections is subscribed there: presence is per device, not per
 * connection.
 */
export class FolderSubscribers {
  private readonly subscribers = new Map<FolderId, Set<ProtocolConnection>>();
  /** Presence each online device last reported, per folder. */
  private readonly presence = new Map<FolderId, Map<DeviceId, Reported>>();

  constructor(
    private readonly store: LogStore,
    private readonly now: () => number,
    /** Ends a connection whose token expired (found while sending to it). */
    private readonly expired: (conn: ProtocolConnection) => void,
  ) {}

  /** The folder's subscribed connections (a live set: copy it before ending any). */
  of(folderId: FolderId): ReadonlySet<ProtocolConnection> {
    return this.subscribers.get(folderId) ?? NONE;
  }

  add(folderId: FolderId, conn: ProtocolConnection): void {
    let subs = this.subscribers.get(folderId);
    if (!subs) this.subscribers.set(folderId, (subs = new Set()));
    subs.add(conn);
  }

  /** Removes a subscription; false if there was none. */
  remove(folderId: FolderId, conn: ProtocolConnection): boolean {
    const subs = this.subscribers.get(folderId);
    if (!subs?.delete(conn)) return false;
    if (subs.size === 0) this.subscribers.delete(folderId);
    return true;
  }

  /** Subscriptions over every folder. */
  get count(): number {
    let n = 0;
    for (const s of this.subscribers.values()) n += s.size;
    return n;
  }

  onlineDevices(folderId: FolderId): Set<DeviceId> {
    const out = new Set<DeviceId>();
    for (const s of this.of(folderId)) if (s.principal) out.add(s.principal.deviceId);
    return out;
  }

  /** Keeps what a device reported about itself, until it goes offline. */
  report(folderId: FolderId, device: DeviceId, status: PresenceStatus, payload?: Uint8Array) {
    let p = this.presence.get(folderId);
    if (!p) this.presence.set(folderId, (p = new Map<DeviceId, Reported>()));
    p.set(device, payload === undefined ? { status } : { status, payload });
  }

  /**
   * The device's last connection on the folder is gone: peers see it go offline (once the
   * store has said what it acked; a failure to read that only costs the notice).
   */
  wentOffline(folderId: FolderId, device: DeviceId): void {
    // What an offline device reported is not kept, nor sent.
    this.presence.get(folderId)?.delete(device);
    this.store.acks(folderId).then(
      (acks) => {
        if (this.onlineDevices(folderId).has(device)) return; // back online meanwhile
        this.broadcast(folderId, device, {
          ...this.presenceMessage(folderId, device, acks),
          status: "offline",
        });
      },
      () => undefined,
    );
  }

  presenceMessage(
    folderId: FolderId,
    device: DeviceId,
    acks: ReadonlyMap<DeviceId, number>,
  ): MessageOf<"presence"> {
    const reported = this.presence.get(folderId)?.get(device);
    const out: MessageOf<"presence"> = {
      type: "presence",
      folderId,
      deviceId: device,
      status: reported?.status ?? "online",
      ackedSeq: acks.get(device) ?? 0,
    };
    if (reported?.payload) out.payload = reported.payload;
    return out;
  }

  /** Tells the folder's other devices the device's presence, if it is online. */
  async broadcastPresence(folderId: FolderId, device: DeviceId): Promise<void> {
    if (!this.onlineDevices(folderId).has(device)) return; // offline devices have no presence
    const acks = await this.store.acks(folderId);
    if (!this.onlineDevices(folderId).has(device)) return;
    this.broadcast(folderId, device, this.presenceMessage(folderId, device, acks));
  }

  /** Sends to every subscriber of the folder except the device's own connections. */
  broadcast(folderId: FolderId, from: DeviceId, message: Message): void {
    const frame = encodeMessage(message);
    const now = this.now();
    const expired: ProtocolConnection[] = [];
    for (const s of this.of(folderId)) {
      if (s.principal && s.principal.expires <= now) expired.push(s);
      else if (s.principal?.deviceId !== from) s.sendFrame(frame);
    }
    for (const s of expired) this.expired(s);
  }
}
