/** Links between devices and MemoryHub: seeded delivery, a connection's client end, chunk access. */
import type { ChunkId, DeviceId } from "@weft/crypto";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { ProtocolError } from "../protocol/errors.js";
import { errorMessageFor } from "../protocol/messages.js";
import type { Message } from "../protocol/messages.js";
import type { BlobStore, BlobStoreSize, ByteRange } from "../storage/blob-store.js";
import { closedError } from "../storage/settle.js";
import {
  type Transport,
  type TransportEventMap,
  type TransportListener,
  TransportListeners,
  type TransportState,
} from "../protocol/transport.js";

/**
 * A deterministic PRNG (mulberry32): the same `seed` always gives the same sequence of numbers
 * in [0, 1). Small and fast, and good enough to shuffle deliveries; not for anything secret.
 * Only the low 32 bits of `seed` matter.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The receiving side of a {@link Lane}. Implementations must not throw. */
export interface LaneSink {
  /** One frame, in the order it was pushed. */
  frame(frame: Uint8Array): void;
  /** The sender closed: comes after every frame pushed before the close. */
  close(reason: string): void;
}

type LaneItem = { frame: Uint8Array } | { close: string };

/** One direction of one connection: a FIFO of frames, like one side of a socket. */
export class Lane {
  /** @internal Items not yet delivered, oldest first. */
  readonly items: LaneItem[] = [];

  constructor(
    private readonly scheduler: DeliveryScheduler,
    /** Where the items go. */
    readonly sink: LaneSink,
  ) {}

  /** Queues a frame behind everything already queued. */
  pushFrame(frame: Uint8Array): void {
    this.scheduler.push(this, { frame });
  }

  /** Queues the end of the stream: delivered after every frame queued before it. */
  pushClose(reason: string): void {
    this.scheduler.push(this, { close: reason });
  }

  /** Drops everything still queued, as a cut network loses what is in flight. */
  clear(): void {
    this.scheduler.clear(this);
  }
}

// Frames per pump turn: enough that a large test does not crawl through one frame per event
// loop turn, few enough that the client code awaiting between turns still interleaves.
const FRAMES_PER_TURN = 64;

/**
 * Delivers the items of many {@link Lane}s: each turn (a `setImmediate`) picks a random
 * non-empty lane, up to {@link FRAMES_PER_TURN} times, and delivers its head item. So order
 * within a lane is kept, while the interleaving across lanes depends only on the seed and on
 * what the receivers do.
 */
export class DeliveryScheduler {
  // Non-empty lanes in the order they became non-empty, so a pick by index is reproducible.
  private readonly active: Lane[] = [];
  private frames = 0;
  private armed = false;

  constructor(private readonly random: () => number) {}

  /** A new, empty lane delivering to `sink`. */
  lane(sink: LaneSink): Lane {
    return new Lane(this, sink);
  }

  /** Frames queued and not yet delivered (close markers are not frames). */
  get pendingFrames(): number {
    return this.frames;
  }

  /** Resolves once nothing is queued and the receivers' reactions (microtasks) have run. */
  async drain(): Promise<void> {
    // A setImmediate runs after every microtask queued before it, so a receiver that answers
    // from a promise callback has queued its answer by the time the loop checks again.
    do {
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.active.length > 0 || this.armed);
  }

  /** @internal Used by {@link Lane}. */
  push(lane: Lane, item: LaneItem): void {
    if (lane.items.length === 0) this.active.push(lane);
    lane.items.push(item);
    if ("frame" in item) this.frames++;
    this.arm();
  }

  /** @internal Used by {@link Lane}. */
  clear(lane: Lane): void {
    if (lane.items.length === 0) return;
    for (const item of lane.items) if ("frame" in item) this.frames--;
    lane.items.length = 0;
    this.active.splice(this.active.indexOf(lane), 1);
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.armed = false;
    for (let n = 0; n < FRAMES_PER_TURN && this.active.length > 0; n++) {
      const index = Math.floor(this.random() * this.active.length);
      const lane = this.active[index]!;
      const item = lane.items.shift()!;
      if (lane.items.length === 0) this.active.splice(index, 1);
      try {
        if ("frame" in item) {
          this.frames--;
          lane.sink.frame(item.frame);
        } else {
          lane.sink.close(item.close);
        }
      } catch (error) {
        // Only a client's listener can throw here (the hub catches its own errors). Rethrow it
        // outside the pump, so it is reported and not lost, without stalling other deliveries.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    if (this.active.length > 0) this.arm();
  }
}

/** The client end of a MemoryHub connection: a {@link Transport} plus counters for tests. */
export interface MemoryHubTransport extends Transport {
  /** Frames sent from this end. */
  readonly framesSent: number;
  /** Total bytes of the frames sent from this end. */
  readonly bytesSent: number;
  /**
   * Sends `frame` to the hub as it is, without encoding, to test how the hub handles malformed
   * input: it answers with an `error` message and closes the connection.
   */
  sendRaw(frame: Uint8Array): void;
}

/**
 * The client end of a link: sends into `toHub` and is the sink of the lane from the hub. It
 * starts open (emitting `open` in a microtask) unless created closed, and never reconnects.
 */
export class HubClientEnd implements MemoryHubTransport {
  framesSent = 0;
  bytesSent = 0;
  /** Set by the hub right after construction; frames sent go there. */
  toHub: Lane | undefined;
  /** Set by the hub: the lane towards this end, dropped when this end closes. */
  fromHub: Lane | undefined;
  private current: TransportState;
  private closeReason = "closed";
  private readonly listeners = new TransportListeners((error) => {
    // Rethrown; the scheduler reports it outside its delivery loop.
    throw error;
  });

  /**
   * @param onSent - called with the size of every frame sent, for the hub's traffic counters
   * @param closedReason - when given, the end starts closed (the hub is closed) with this reason
   */
  constructor(
    private readonly onSent: (bytes: number) => void,
    closedReason?: string,
  ) {
    this.current = closedReason === undefined ? "open" : "closed";
    if (closedReason !== undefined) this.closeReason = closedReason;
    queueMicrotask(() => {
      if (closedReason !== undefined) this.emit("close", { reason: closedReason, remote: true });
      else if (this.current === "open") this.emit("open", undefined);
    });
  }

  get state(): TransportState {
    return this.current;
  }

  connect(): Promise<void> {
    return this.whenReady();
  }

  whenReady(): Promise<void> {
    return this.current === "open" ? Promise.resolve() : Promise.reject(this.closedError());
  }

  send(message: Message): void {
    if (this.current !== "open") throw this.closedError();
    this.transmit(encodeMessage(message));
  }

  sendRaw(frame: Uint8Array): void {
    if (this.current !== "open") throw this.closedError();
    this.transmit(frame.slice());
  }

  on<E extends keyof TransportEventMap>(event: E, listener: TransportListener<E>): () => void {
    return this.listeners.on(event, listener);
  }

  close(reason = "closed"): void {
    if (this.current === "closed") return;
    this.current = "closed";
    this.closeReason = reason;
    // Frames still travelling towards a closed end are lost; ours still reach the hub, then it
    // learns of the close, as with a socket.
    this.fromHub?.clear();
    this.toHub?.pushClose(reason);
    queueMicrotask(() => this.emit("close", { reason, remote: false }));
  }

  /** @internal A frame from the hub (this end's lane sink calls it). */
  receive(frame: Uint8Array): void {
    if (this.current !== "open") return; // like bytes reaching a socket that was closed
    let message: Message;
    try {
      message = decodeMessage(frame);
    } catch (error) {
      // As the relay would: tell the sender why, report it here, and close, since the two ends
      // can no longer be sure they agree on the state.
      this.transmit(encodeMessage(errorMessageFor(error)));
      this.emit("error", error as Error);
      this.close(`undecodable frame: ${(error as Error).message}`);
      return;
    }
    this.emit("message", message);
  }

  /** @internal The hub closed the connection (after every frame it sent before). */
  remoteClosed(reason: string): void {
    if (this.current === "closed") return;
    this.current = "closed";
    this.closeReason = reason;
    this.emit("close", { reason, remote: true });
  }

  private transmit(frame: Uint8Array): void {
    this.framesSent++;
    this.bytesSent += frame.length;
    this.onSent(frame.length);
    this.toHub?.pushFrame(frame);
  }

  private emit<E extends keyof TransportEventMap>(event: E, payload: TransportEventMap[E]): void {
    this.listeners.emit(event, payload);
  }

  private closedError(): ProtocolError {
    return new ProtocolError("unavailable", `hub connection is closed (${this.closeReason})`);
  }
}

/** The hub's callbacks for one {@link HubLink}; they must not throw. */
export interface HubSide {
  /** A frame from the client, in the order sent. */
  receive(frame: Uint8Array): void;
  /** The client closed the connection: comes after every frame it sent before. */
  closed(): void;
}

/** One connection between a device and the hub: the client end, a lane each way, counters. */
export class HubLink {
  /** The device's end, a {@link Transport}. */
  readonly end: HubClientEnd;
  private readonly toHub: Lane;
  private readonly toClient: Lane;
  // Counted per connection until the hub knows the device, then into the device's totals.
  private traffic = zeroTraffic();

  constructor(scheduler: DeliveryScheduler, hub: HubSide) {
    const end = new HubClientEnd((bytes) => {
      this.traffic.bytesToHub += bytes;
      this.traffic.framesToHub++;
    });
    this.toHub = scheduler.lane({ frame: (f) => hub.receive(f), close: () => hub.closed() });
    this.toClient = scheduler.lane({
      frame: (f) => end.receive(f),
      close: (reason) => end.remoteClosed(reason),
    });
    end.toHub = this.toHub;
    end.fromHub = this.toClient;
    this.end = end;
  }

  /** Queues a frame for the client. */
  send(frame: Uint8Array): void {
    this.traffic.bytesFromHub += frame.length;
    this.traffic.framesFromHub++;
    this.toClient.pushFrame(frame);
  }

  /**
   * Closes from the hub's side: what the client still has in flight is lost, and so is what
   * the hub queued for it unless `flush` (then the close arrives after those frames).
   */
  close(reason: string, flush: boolean): void {
    this.toHub.clear();
    if (!flush) this.toClient.clear();
    this.toClient.pushClose(reason);
  }

  /** Adds what was counted so far to `totals`, and counts there from now on. */
  countInto(totals: HubTraffic): void {
    for (const key of Object.keys(totals) as (keyof HubTraffic)[]) totals[key] += this.traffic[key];
    this.traffic = totals;
  }
}

/** Bytes and frames a device exchanged with the hub, over all its connections. */
export interface HubTraffic {
  /** Bytes of the frames the device sent to the hub. */
  bytesToHub: number;
  /** Bytes of the frames the hub sent to the device. */
  bytesFromHub: number;
  /** Frames the device sent to the hub. */
  framesToHub: number;
  /** Frames the hub sent to the device. */
  framesFromHub: number;
}

/** A {@link HubTraffic} of zeros. */
export function zeroTraffic(): HubTraffic {
  return { bytesToHub: 0, bytesFromHub: 0, framesToHub: 0, framesFromHub: 0 };
}

/** A device's {@link BlobStore} onto the hub's chunks, counting what crosses the link. */
export type HubBlobClient = BlobStore & {
  /** Bytes of every successful `put` (sent, even when the hub already had the chunk). */
  readonly bytesUploaded: number;
  /** Bytes of every chunk or range `get` returned. */
  readonly bytesDownloaded: number;
};

/** What `MemoryHub.blobClient` returns: the hub's chunk store behind a link that can be cut. */
export class BlobClient implements HubBlobClient {
  bytesUploaded = 0;
  bytesDownloaded = 0;
  private closed = false;

  constructor(
    private readonly store: BlobStore,
    private readonly deviceId: DeviceId,
    private readonly online: () => boolean,
  ) {}

  async has(ids: readonly ChunkId[]): Promise<ChunkId[]> {
    this.check();
    return await this.store.has(ids);
  }

  async put(id: ChunkId, bytes: Uint8Array): Promise<void> {
    this.check();
    await this.store.put(id, bytes);
    this.bytesUploaded += bytes.length;
  }

  async get(id: ChunkId, range?: ByteRange): Promise<Uint8Array | undefined> {
    this.check();
    const out = await this.store.get(id, range);
    this.bytesDownloaded += out?.length ?? 0;
    return out;
  }

  async delete(ids: readonly ChunkId[]): Promise<void> {
    this.check();
    return await this.store.delete(ids);
  }

  async size(): Promise<BlobStoreSize> {
    this.check();
    return await this.store.size();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  // Called inside async methods, so a throw becomes the rejection the BlobStore contract wants.
  private check(): void {
    if (this.closed) throw closedError("MemoryHub blob client");
    if (!this.online()) {
      throw new ProtocolError("unavailable", `device ${this.deviceId} is cut off from the hub`);
    }
  }
}
