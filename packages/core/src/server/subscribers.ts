/** Who is subscribed to each folder, which devices are online there, and what they reported. */
import type { DeviceId, FolderId } from "@weft/crypto";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { frameLimits } from "../protocol/limits.js";
import type { Message, MessageOf, PresenceItem, PresenceStatus } from "../protocol/messages.js";
import type { ProtocolConnection } from "./connection.js";
import type { LogStore } from "./log-store.js";

interface Reported {
  status: PresenceStatus;
  payload?: Uint8Array;
}

const NONE: ReadonlySet<ProtocolConnection> = new Set();

/** The protocol version from which presence travels in `presenceList` frames. */
export const PRESENCE_LIST_VERSION = 5;

/** Whether the connection negotiated `presenceList`. */
export const takesLists = (conn: ProtocolConnection): boolean =>
  (conn.version ?? 0) >= PRESENCE_LIST_VERSION;

/** Runs `fn` on the event loop's next turn (after the I/O of this one). */
const nextTurn: (fn: () => void) => void =
  typeof setImmediate === "function" ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

/** `presenceList` frames of `items` (each at most maxPresenceListItems long). */
export function presenceListFrames(folderId: FolderId, items: PresenceItem[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < items.length; i += frameLimits.maxPresenceListItems)
    frames.push(
      encodeMessage({
        type: "presenceList",
        folderId,
        items: items.slice(i, i + frameLimits.maxPresenceListItems),
      }),
    );
  return frames;
}

/** A presence message's item, for a `presenceList`. */
function itemOf(m: MessageOf<"presence">): PresenceItem {
  const item: PresenceItem = { deviceId: m.deviceId, status: m.status, ackedSeq: m.ackedSeq };
  if (m.payload !== undefined) item.payload = m.payload;
  return item;
}

/**
 * The subscribers of every folder and the presence of their devices. A device is online in a
 * folder while any of its connections is subscribed there, on this relay or another: presence
 * is per device, not per connection nor per relay.
 */
export class FolderSubscribers {
  private readonly subscribers = new Map<FolderId, Set<ProtocolConnection>>();
  /** Presence each online device last reported, per folder. */
  private readonly presence = new Map<FolderId, Map<DeviceId, Reported>>();
  /** Per folder and device, the presence frame each other relay last reported (online ones). */
  private readonly remote = new Map<FolderId, Map<DeviceId, Map<string, Uint8Array>>>();
  /** Per folder and device, the last presence frame this relay's subscribers got. */
  private readonly lastSent = new Map<FolderId, Map<DeviceId, Uint8Array>>();
  /**
   * Presence changes not yet sent to protocol-5 subscribers, per folder and device (the last
   * one of each): sent as one `presenceList` per folder on the event loop's next turn, so that
   * devices joining together cost each subscriber one frame, not one each.
   */
  private readonly pending = new Map<FolderId, Map<DeviceId, PresenceItem>>();
  private flushQueued = false;
  /**
   * Each folder's acks as read in this turn of the event loop: the devices joining a folder
   * together (and a join's own presence and catch-up) share one read. An ack stored through
   * this server drops it ({@link ackStored}); one stored through another relay shows from the
   * next turn (a presence's `ackedSeq` says what a device had applied, not a promise).
   */
  private readonly acksRead = new Map<FolderId, Promise<ReadonlyMap<DeviceId, number>>>();

  constructor(
    private readonly store: LogStore,
    private readonly now: () => number,
    /** Ends a connection whose token expired (found while sending to it). */
    private readonly expired: (conn: ProtocolConnection) => void,
    /**
     * Whether the connection is still replaying the folder's log: it gets no presence until it
     * has caught up, then the presence of every online device at once.
     */
    private readonly catchingUp: (conn: ProtocolConnection, folderId: FolderId) => boolean,
    /** Told of every presence or ephemeral frame sent here (a bus takes it to other relays). */
    private readonly sent?: (folderId: FolderId, from: DeviceId, frame: Uint8Array) => void,
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
    if (subs.size === 0) {
      this.subscribers.delete(folderId);
      // Nobody here to tell: what other relays said is not kept (nor heard) until one subscribes.
      this.remote.delete(folderId);
      this.lastSent.delete(folderId);
    }
    return true;
  }

  /** Subscriptions over every folder. */
  get count(): number {
    let n = 0;
    for (const s of this.subscribers.values()) n += s.size;
    return n;
  }

  /** The folder's acks per device (read once per turn, see {@link acksRead}). */
  acks(folderId: FolderId): Promise<ReadonlyMap<DeviceId, number>> {
    let read = this.acksRead.get(folderId);
    if (read) return read;
    if (this.acksRead.size === 0) nextTurn(() => this.acksRead.clear());
    read = this.store.acks(folderId);
    this.acksRead.set(folderId, read);
    const mine = read;
    read.catch(() => {
      if (this.acksRead.get(folderId) === mine) this.acksRead.delete(folderId);
    });
    return read;
  }

  /** An ack of the folder was stored: the next presence reads the acks again. */
  ackStored(folderId: FolderId): void {
    this.acksRead.delete(folderId);
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
    this.acks(folderId).then(
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
    const acks = await this.acks(folderId);
    if (!this.onlineDevices(folderId).has(device)) return;
    this.broadcast(folderId, device, this.presenceMessage(folderId, device, acks));
  }

  /**
   * Sends to every subscriber of the folder except the device's own connections (and tells the
   * other relays). A presence frame the subscribers got already is not sent again, nor an
   * offline one for a device still online through another relay.
   */
  broadcast(folderId: FolderId, from: DeviceId, message: Message): void {
    const frame = encodeMessage(message);
    this.sent?.(folderId, from, frame);
    if (message.type !== "presence") return this.broadcastFrame(folderId, from, frame);
    if (this.presenceIsNews(folderId, from, message, frame))
      this.presenceOut(folderId, from, message, frame);
  }

  /**
   * A presence or ephemeral frame another relay sent to its subscribers of the folder (`relay`
   * names that relay): sent to this relay's, unless it is a presence they have, and kept to tell
   * those who subscribe later which devices are online there (`watched`: the folder has a feed
   * here, though perhaps no subscriber yet).
   */
  fromRelay(
    folderId: FolderId,
    relay: string,
    from: DeviceId,
    frame: Uint8Array,
    watched = false,
  ): void {
    // Kept while the folder's first subscriber is on its way (`watched`): the other relays'
    // answers to its roll call may come before it is added, and it must get them.
    if (!this.subscribers.has(folderId) && !watched) return;
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch {
      return; // not from a relay of ours
    }
    if (message.type === "ephemeral" && message.deviceId === from)
      return this.broadcastFrame(folderId, from, frame);
    if (message.type !== "presence" || message.deviceId !== from) return;
    let devices = this.remote.get(folderId);
    if (!devices)
      this.remote.set(folderId, (devices = new Map<DeviceId, Map<string, Uint8Array>>()));
    let relays = devices.get(from);
    if (message.status === "offline") {
      relays?.delete(relay);
      if (relays?.size === 0) devices.delete(from);
    } else {
      if (!relays) devices.set(from, (relays = new Map<string, Uint8Array>()));
      relays.set(relay, frame);
    }
    if (this.presenceIsNews(folderId, from, message, frame))
      this.presenceOut(folderId, from, message, frame);
  }

  /**
   * Another relay is gone (it stopped without a word): the devices online only through it go
   * offline for this relay's subscribers.
   */
  relayGone(relay: string): void {
    for (const [folderId, devices] of this.remote)
      for (const [device, relays] of devices) {
        const frame = relays.get(relay);
        if (!frame || !relays.delete(relay) || relays.size > 0) continue;
        devices.delete(device);
        let last: Message;
        try {
          last = decodeMessage(frame);
        } catch {
          continue;
        }
        if (last.type !== "presence") continue;
        const { payload: _, ...rest } = last;
        const offline: MessageOf<"presence"> = { ...rest, status: "offline" };
        const bytes = encodeMessage(offline);
        if (this.presenceIsNews(folderId, device, offline, bytes))
          this.presenceOut(folderId, device, offline, bytes);
      }
  }

  /** The presence frames of this relay's online devices in the folder (for a relay that asks). */
  async localPresence(folderId: FolderId): Promise<{ from: DeviceId; frame: Uint8Array }[]> {
    const devices = this.onlineDevices(folderId);
    if (devices.size === 0) return [];
    const acks = await this.acks(folderId);
    return [...this.onlineDevices(folderId)].map((from) => ({
      from,
      frame: encodeMessage(this.presenceMessage(folderId, from, acks)),
    }));
  }

  /**
   * What a subscriber that caught up gets in protocol 5: the presence of the folder's online
   * devices but `self`, here and through other relays, as items of `presenceList` frames.
   */
  presenceItems(
    folderId: FolderId,
    self: DeviceId | undefined,
    acks: ReadonlyMap<DeviceId, number>,
  ): PresenceItem[] {
    const items: PresenceItem[] = [];
    for (const device of this.onlineDevices(folderId))
      if (device !== self) items.push(itemOf(this.presenceMessage(folderId, device, acks)));
    for (const frame of this.remotePresence(folderId, self)) {
      const m = decodeMessage(frame); // encoded by a relay of ours, checked when it came in
      if (m.type === "presence") items.push(itemOf(m));
    }
    return items;
  }

  /**
   * The presence of devices online in the folder through other relays only, as last heard, for
   * a new subscriber.
   */
  remotePresence(folderId: FolderId, self: DeviceId | undefined): Uint8Array[] {
    const local = this.onlineDevices(folderId);
    const out: Uint8Array[] = [];
    for (const [device, relays] of this.remote.get(folderId) ?? [])
      if (!local.has(device) && device !== self) {
        const frame = this.lastSent.get(folderId)?.get(device) ?? [...relays.values()].at(-1);
        if (frame) out.push(frame);
      }
    return out;
  }

  /**
   * Whether this relay's subscribers should get this presence of `device`: not if they got the
   * same frame last, nor an offline while the device is still online here or through another
   * relay. Remembers it as sent when it is news.
   */
  private presenceIsNews(
    folderId: FolderId,
    device: DeviceId,
    message: MessageOf<"presence">,
    frame: Uint8Array,
  ): boolean {
    let sent = this.lastSent.get(folderId);
    if (message.status === "offline") {
      if (this.remote.get(folderId)?.has(device) || this.onlineDevices(folderId).has(device))
        return false;
      return sent?.delete(device) === true; // not if they never heard it was online
    }
    const last = sent?.get(device);
    if (last && sameBytes(last, frame)) return false;
    if (!sent) this.lastSent.set(folderId, (sent = new Map<DeviceId, Uint8Array>()));
    sent.set(device, frame);
    return true;
  }

  /**
   * A presence that is news, to this relay's subscribers: the frame at once to those of
   * protocol 4 and older, and a `presenceList` item to the others on the next turn (none to
   * those still catching up: they get every device's once they have).
   */
  private presenceOut(
    folderId: FolderId,
    from: DeviceId,
    message: MessageOf<"presence">,
    frame: Uint8Array,
  ): void {
    this.broadcastFrame(folderId, from, frame, true);
    let changes = this.pending.get(folderId);
    if (!changes) this.pending.set(folderId, (changes = new Map<DeviceId, PresenceItem>()));
    changes.set(from, itemOf(message));
    if (this.flushQueued) return;
    this.flushQueued = true;
    nextTurn(() => this.flush());
  }

  /** Whether presence changes wait for the next turn to go out. */
  get pendingFlush(): boolean {
    return this.flushQueued;
  }

  /** Sends the pending presence changes, one `presenceList` per folder (encoded once). */
  private flush(): void {
    this.flushQueued = false;
    const pending = [...this.pending];
    this.pending.clear();
    for (const [folderId, changes] of pending) {
      const subs = this.of(folderId);
      if (subs.size === 0) continue;
      const frames = presenceListFrames(folderId, [...changes.values()]);
      const now = this.now();
      const expired: ProtocolConnection[] = [];
      for (const s of subs) {
        if (!takesLists(s) || this.catchingUp(s, folderId)) continue;
        if (s.principal && s.principal.expires <= now) expired.push(s);
        else for (const frame of frames) s.sendFrame(frame);
      }
      for (const s of expired) this.expired(s);
    }
  }

  /**
   * {@link broadcast} of an encoded frame, to this relay's subscribers only but `from`'s own
   * connections. A presence goes only to subscribers of protocol 4 and older that are not
   * catching up (see {@link presenceOut}).
   */
  private broadcastFrame(
    folderId: FolderId,
    from: DeviceId,
    frame: Uint8Array,
    presence = false,
  ): void {
    const now = this.now();
    const expired: ProtocolConnection[] = [];
    for (const s of this.of(folderId)) {
      if (presence && (takesLists(s) || this.catchingUp(s, folderId))) continue;
      if (s.principal && s.principal.expires <= now) expired.push(s);
      else if (s.principal?.deviceId !== from) s.sendFrame(frame);
    }
    for (const s of expired) this.expired(s);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
