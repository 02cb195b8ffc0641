/**
 * A test double of the Replica side of document channels: devices in one process, a shared log
 * per document, asynchronous delivery (optionally shuffled and duplicated), a status and synced
 * flag per device that tests flip, and per-device storage so that a reopened channel's
 * `initial` is what that device stored (its own publishes plus what it received, even while
 * its channel was closed, as a replica keeps receiving). It only tests the bindings in
 * src/docs; the real Replica is tested on its own.
 */
import type { DeviceId } from "@weft/crypto";
import type {
  DocChannel,
  DocChannelEventMap,
  DocChannelStatus,
  DocType,
} from "../../src/docs/channel.js";
import type { DocOpener } from "../../src/docs/provider.js";

/** Delivery options of a {@link MemoryDocHub}. */
export interface MemoryDocHubOptions {
  /** Deliver each batch of updates to a device in a random order. */
  shuffle?: boolean;
  /** Probability (0..1) that an update is delivered a second time. */
  duplicate?: number;
  /** Seed of the random choices, so a failure replays. */
  seed?: number;
}

interface Device {
  readonly id: DeviceId;
  status: DocChannelStatus;
  synced: boolean;
  /** What the device stored per document key: own publishes and received updates. */
  readonly stores: Map<string, Uint8Array[]>;
  /** Published but not yet on the shared log (the device was offline). */
  readonly outbox: { key: string; update: Uint8Array }[];
  /** How far into each document's log the device has received. */
  readonly cursors: Map<string, number>;
  readonly channels: Set<MemoryDocChannel>;
  failPublishes: number;
  failOpens: number;
}

const keyOf = (type: DocType, name: string): string => `${type}:${name}`;

/** The fake hub: create devices, open channels on them, then `settle()` to deliver everything. */
export class MemoryDocHub {
  readonly #devices = new Map<string, Device>();
  readonly #log = new Map<string, { from: DeviceId; update: Uint8Array }[]>();
  readonly #random: () => number;
  #pending = 0;
  #pumpQueued = false;

  constructor(private readonly options: MemoryDocHubOptions = {}) {
    this.#random = mulberry32(options.seed ?? 1);
  }

  /** The device called `name`, created (connected and synced) on first use. */
  device(name: string): DeviceId {
    return this.#device(name).id;
  }

  /** Opens a channel of document `name` on a device, as the replica would. */
  open(device: string, name: string, type: DocType = "yjs"): MemoryDocChannel {
    const d = this.#device(device);
    const key = keyOf(type, name);
    const channel = new MemoryDocChannel(this, d, name, type, [...this.#store(d, key)]);
    d.channels.add(channel);
    return channel;
  }

  /** A {@link DocOpener} for a device that opens channels asynchronously, like a Replica. */
  opener(device: string, folderId = "folder-1"): DocOpener {
    const d = this.#device(device);
    return {
      folderId,
      openDocChannel: async (name, type) => {
        await Promise.resolve();
        if (d.failOpens > 0) {
          d.failOpens--;
          throw new Error("injected open failure");
        }
        return this.open(device, name, type);
      },
    };
  }

  /** Changes a device's connection status; on `connected` its outbox and backlog flow. */
  setStatus(device: string, status: DocChannelStatus): void {
    const d = this.#device(device);
    d.status = status;
    for (const channel of [...d.channels]) channel.emit("status", { status });
    if (status === "connected") this.#queuePump();
  }

  /** Changes a device's synced flag and tells its channels. */
  setSynced(device: string, synced: boolean): void {
    const d = this.#device(device);
    d.synced = synced;
    for (const channel of [...d.channels]) channel.emit("synced", { synced });
  }

  /** Makes the next `n` publishes on a device reject (nothing is stored). */
  failNextPublishes(device: string, n: number): void {
    this.#device(device).failPublishes = n;
  }

  /** Makes the next `n` opens through the device's opener reject. */
  failNextOpens(device: string, n: number): void {
    this.#device(device).failOpens = n;
  }

  /** A copy of what a device stored for a document. */
  stored(device: string, name: string, type: DocType = "yjs"): Uint8Array[] {
    return [...this.#store(this.#device(device), keyOf(type, name))];
  }

  /** Replaces a device's stored updates of a document by its open channel's state provider. */
  compact(device: string, name: string, type: DocType = "yjs"): void {
    const d = this.#device(device);
    const key = keyOf(type, name);
    const channel = [...d.channels].find((c) => c.key === key && c.state !== undefined);
    if (channel?.state === undefined) throw new Error(`no state provider for ${key}`);
    d.stores.set(key, [channel.state()]);
  }

  /**
   * Resolves once every queued delivery has happened. Always waits a macrotask first, so
   * promise chains already started (an opener resolving, a binding attaching) run before.
   */
  async settle(): Promise<void> {
    do {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    } while (this.#pending > 0 || this.#pumpQueued);
  }

  /** Called by a channel: stores locally at once, then queues sending. */
  publish(device: Device, key: string, update: Uint8Array): Promise<void> {
    if (device.failPublishes > 0) {
      device.failPublishes--;
      return Promise.reject(new Error("injected publish failure"));
    }
    const copy = update.slice();
    this.#store(device, key).push(copy);
    device.outbox.push({ key, update: copy });
    this.#queuePump();
    return Promise.resolve();
  }

  /** Called by a channel: forwards to the other online devices' open channels, or drops. */
  publishEphemeral(device: Device, key: string, payload: Uint8Array): void {
    if (payload.byteLength > 8 * 1024) throw new Error("an ephemeral payload is at most 8 KiB");
    if (device.status !== "connected") return;
    for (const other of this.#devices.values()) {
      if (other === device || other.status !== "connected") continue;
      this.#later(() => {
        for (const channel of [...other.channels]) {
          if (channel.key === key)
            channel.emit("ephemeral", { payload: payload.slice(), from: device.id });
        }
      });
    }
  }

  /** Called by a channel when it closes. */
  closed(device: Device, channel: MemoryDocChannel): void {
    device.channels.delete(channel);
  }

  #device(name: string): Device {
    let d = this.#devices.get(name);
    if (d === undefined) {
      d = {
        id: name as DeviceId,
        status: "connected",
        synced: true,
        stores: new Map(),
        outbox: [],
        cursors: new Map(),
        channels: new Set(),
        failPublishes: 0,
        failOpens: 0,
      };
      this.#devices.set(name, d);
    }
    return d;
  }

  #store(d: Device, key: string): Uint8Array[] {
    let store = d.stores.get(key);
    if (store === undefined) d.stores.set(key, (store = []));
    return store;
  }

  #queuePump(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    setTimeout(() => {
      this.#pumpQueued = false;
      this.#pump();
    }, 0);
  }

  /** Online devices push their outboxes to the log and receive what they have not seen. */
  #pump(): void {
    const online = [...this.#devices.values()].filter((d) => d.status === "connected");
    for (const d of online) {
      for (const { key, update } of d.outbox.splice(0)) {
        let log = this.#log.get(key);
        if (log === undefined) this.#log.set(key, (log = []));
        log.push({ from: d.id, update });
      }
    }
    for (const d of online) {
      const batch: { key: string; update: Uint8Array; from: DeviceId }[] = [];
      for (const [key, log] of this.#log) {
        for (let i = d.cursors.get(key) ?? 0; i < log.length; i++) {
          const entry = log[i];
          if (entry !== undefined && entry.from !== d.id) batch.push({ key, ...entry });
        }
        d.cursors.set(key, log.length);
      }
      const deliveries = [...batch];
      const dup = this.options.duplicate ?? 0;
      for (const item of batch) if (this.#random() < dup) deliveries.push(item);
      if (this.options.shuffle === true) this.#shuffle(deliveries);
      for (const item of deliveries)
        this.#later(() => this.#deliver(d, item.key, item.update, item.from));
    }
  }

  #deliver(d: Device, key: string, update: Uint8Array, from: DeviceId): void {
    this.#store(d, key).push(update);
    for (const channel of [...d.channels]) {
      if (channel.key === key) channel.emit("update", { update: update.slice(), from });
    }
  }

  #later(fn: () => void): void {
    this.#pending++;
    setTimeout(() => {
      this.#pending--;
      fn();
    }, 0);
  }

  #shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      const a = items[i] as T;
      items[i] = items[j] as T;
      items[j] = a;
    }
  }
}

type Listener<E extends keyof DocChannelEventMap> = (payload: DocChannelEventMap[E]) => void;

/** A channel of a {@link MemoryDocHub}; records what it published for assertions. */
export class MemoryDocChannel implements DocChannel {
  /** Every update published through this channel, in order. */
  readonly published: Uint8Array[] = [];
  /** Every ephemeral payload sent through this channel, in order. */
  readonly ephemeralSent: Uint8Array[] = [];
  /** The last state provider set. */
  state: (() => Uint8Array) | undefined;
  /** Whether `close()` was called. */
  isClosed = false;
  readonly key: string;
  readonly #listeners = new Map<keyof DocChannelEventMap, Set<Listener<never>>>();

  constructor(
    private readonly hub: MemoryDocHub,
    private readonly owner: Device,
    readonly name: string,
    readonly type: DocType,
    readonly initial: readonly Uint8Array[],
  ) {
    this.key = keyOf(type, name);
  }

  get device(): DeviceId {
    return this.owner.id;
  }

  get status(): DocChannelStatus {
    return this.owner.status;
  }

  get synced(): boolean {
    return this.owner.synced;
  }

  publish(update: Uint8Array): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error(`channel ${this.name} is closed`));
    if (update.byteLength === 0) return Promise.reject(new Error("an empty update"));
    this.published.push(update.slice());
    return this.hub.publish(this.owner, this.key, update);
  }

  publishEphemeral(payload: Uint8Array): void {
    if (this.isClosed) return;
    this.ephemeralSent.push(payload.slice());
    this.hub.publishEphemeral(this.owner, this.key, payload);
  }

  setStateProvider(state: () => Uint8Array): void {
    this.state = state;
  }

  on<E extends keyof DocChannelEventMap>(event: E, listener: Listener<E>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** The number of listeners of an event (to check bindings unsubscribe). */
  listenerCount(event: keyof DocChannelEventMap): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** Called by the hub. */
  emit<E extends keyof DocChannelEventMap>(event: E, payload: DocChannelEventMap[E]): void {
    if (this.isClosed) return;
    for (const listener of [...(this.#listeners.get(event) ?? [])])
      (listener as Listener<E>)(payload);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.#listeners.clear();
    this.hub.closed(this.owner, this);
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
