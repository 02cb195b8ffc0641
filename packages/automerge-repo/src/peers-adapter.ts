/** The live automerge-repo NetworkAdapter: the Repos on the folder's online devices as peers, over sealed ephemeral frames. */
import {
  type Message,
  NetworkAdapter,
  type PeerId,
  type PeerMetadata,
  cbor,
} from "@automerge/automerge-repo";
import type { DeviceId } from "@weft/crypto";
import { type DocChannel, MAX_EPHEMERAL_BYTES, type Replica } from "@weft/core";
import { WeftError } from "@weft/core/errors";

/** What the peers adapter needs of a {@link Replica}. */
export type PeersReplica = Pick<Replica, "deviceId" | "openDocChannel" | "on" | "peers">;

/** Options of {@link WeftPeersAdapter}. */
export interface WeftPeersAdapterOptions {
  /** The replica that carries the frames; the app starts and stops it. */
  replica: PeersReplica;
  /** Name of the (never stored) Weft document whose ephemeral messages carry the frames. */
  channel?: string;
  /**
   * How long `whenReady()` waits at most for the folder's online devices to answer hello (ms,
   * default 1000): a device running no peers adapter never answers.
   */
  readyTimeoutMs?: number;
  /** Receives failures no caller can catch (a malformed frame). Default: `console.warn`. */
  onError?: (error: WeftError) => void;
}

/** The default channel: not a valid automerge-repo document id, so no document can collide. */
export const PEERS_CHANNEL = "automerge-repo/#peers";

/** Body bytes per fragment: an ephemeral payload less the frame's own fields. */
const FRAGMENT_BYTES = MAX_EPHEMERAL_BYTES - 512;
/** Most fragments of one message (about 7 MiB); a larger message is dropped with an error. */
const MAX_FRAGMENTS = 1024;
/** Most messages being reassembled per peer; the oldest is dropped past it (a lost fragment). */
const MAX_PARTIAL = 8;

/** A frame on the peers channel, sealed by the replica (the relay sees none of it). */
type Frame =
  | { k: "hello"; p: string; m: PeerMetadata; r: boolean }
  | { k: "idle" } // an answer to hello from a device whose Repo is not connected
  | { k: "bye"; p: string }
  | { k: "msg"; p: string; to: string; id: number; i: number; n: number; b: Uint8Array };

/**
 * An automerge-repo `NetworkAdapter` whose peers are the Repos of the folder's other online
 * devices: each says `hello` (its peer id and metadata) when it connects and when another device
 * comes online, `bye` when it disconnects, and the relay's presence tells when a device drops.
 * Messages travel as the replica's ephemeral messages: sealed under the folder key, forwarded by
 * the relay to the folder's online devices and never stored, split into fragments of at most
 * {@link MAX_EPHEMERAL_BYTES}. The target's peer id is inside the seal.
 *
 * Live only: what a peer misses while offline it gets from the folder. Use it beside a
 * {@link WeftNetworkAdapter} (`network: [peers, folder]`): the folder keeps the documents, this
 * adds direct sync between online Repos (a document created a moment ago on another device is
 * found before it reaches this device's log) and a peer list.
 */
export class WeftPeersAdapter extends NetworkAdapter {
  readonly #replica: PeersReplica;
  readonly #onError: (error: WeftError) => void;
  readonly #channel: Promise<DocChannel>;
  /** Remote peers by id, with the device they speak from. */
  readonly #peers = new Map<PeerId, DeviceId>();
  /** Fragments being reassembled, by sender and message id. */
  readonly #partial = new Map<string, { parts: (Uint8Array | undefined)[]; have: number }>();
  readonly #online = new Set<DeviceId>();
  /** Devices that answered since the Repo connected (with a hello or idle). */
  readonly #answered = new Set<DeviceId>();
  readonly #readyTimeoutMs: number;
  #readyTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The channel's status; undefined until the channel has opened. Not "disconnected" meanwhile:
   * that would read as an offline replica and make the adapter ready before it met anyone.
   */
  #status: DocChannel["status"] | undefined;
  #connected = false;
  #isReady = false;
  #nextId = 0;
  #whenReady: Promise<void>;
  #ready: () => void = () => undefined;

  constructor(options: WeftPeersAdapterOptions) {
    super();
    this.#replica = options.replica;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 1000;
    for (const peer of this.#replica.peers()) if (peer.online) this.#online.add(peer.deviceId);
    this.#onError =
      options.onError ??
      ((error) => console.warn(`weft: automerge-repo peers: ${error.message}`, error.cause));
    this.#whenReady = new Promise((resolve) => (this.#ready = resolve));
    this.#channel = this.#replica.openDocChannel(options.channel ?? PEERS_CHANNEL, "automerge");
    this.#channel.then(
      (channel) => {
        channel.on("ephemeral", ({ payload, from }) => this.#receive(payload, from));
        this.#status = channel.status;
        channel.on("status", ({ status }) => {
          this.#status = status;
          if (status === "connected") this.#hello(false);
          else this.#dropAll();
          this.#checkReady();
        });
        this.#checkReady();
      },
      (error: unknown) =>
        this.#report(new WeftError("STATE", "opening the peers channel failed", { cause: error })),
    );
    // The relay's presence: say hello to a device that comes online, forget one that leaves.
    this.#replica.on("peer", ({ deviceId, online }) => {
      if (online && !this.#online.has(deviceId)) {
        this.#online.add(deviceId);
        this.#hello(false);
      } else if (!online && this.#online.delete(deviceId)) {
        for (const [peerId, device] of this.#peers) if (device === deviceId) this.#drop(peerId);
        this.#checkReady();
      }
    });
  }

  /**
   * Ready once the Repo has connected and met the Repos already online: every device the relay
   * says is online has answered hello (or the replica is offline, or `readyTimeoutMs` passed).
   * The Repo waits for this before it asks for a document it lacks, so a document another
   * online Repo holds is found, not declared unavailable by the folder alone. A device alone
   * in the folder waits `readyTimeoutMs`: no presence tells it that no one else is online.
   */
  isReady(): boolean {
    return this.#isReady;
  }

  whenReady(): Promise<void> {
    return this.#whenReady;
  }

  /** Called by the Repo: says hello to the folder's online devices. */
  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    if (this.#connected) this.disconnect();
    this.peerId = peerId;
    this.peerMetadata = peerMetadata ?? {};
    this.#connected = true;
    this.#answered.clear();
    this.#readyTimer = setTimeout(() => this.#becomeReady(), this.#readyTimeoutMs);
    this.#readyTimer.unref?.();
    this.#hello(false);
    this.#checkReady();
  }

  /** Called by the Repo: says bye and forgets every peer. */
  disconnect(): void {
    if (!this.#connected) return;
    const peerId = this.peerId;
    if (peerId !== undefined) this.#post({ k: "bye", p: peerId });
    this.#connected = false;
    clearTimeout(this.#readyTimer);
    if (this.#isReady) {
      this.#isReady = false;
      this.#whenReady = new Promise((resolve) => (this.#ready = resolve));
    }
    this.#dropAll();
  }

  /** Called by the Repo: a message for one peer, sealed and sent in fragments. */
  send(message: Message): void {
    const me = this.peerId;
    if (!this.#connected || me === undefined || !this.#peers.has(message.targetId)) return;
    const body = cbor.encode(message);
    const n = Math.max(1, Math.ceil(body.byteLength / FRAGMENT_BYTES));
    if (n > MAX_FRAGMENTS) {
      this.#report(
        new WeftError(
          "INVALID_ARGUMENT",
          `a message of ${body.byteLength} bytes is too large; dropped`,
        ),
      );
      return;
    }
    const id = this.#nextId++;
    for (let i = 0; i < n; i++) {
      const b = body.subarray(i * FRAGMENT_BYTES, (i + 1) * FRAGMENT_BYTES);
      this.#post({ k: "msg", p: me, to: message.targetId, id, i, n, b });
    }
  }

  #checkReady(): void {
    if (!this.#connected || this.#isReady) return;
    // Offline: there is no one to meet. Connecting, or the channel not open yet (the Repo
    // connects as it is constructed, before the channel opens): the relay will say who is online.
    if (this.#status === "disconnected") return this.#becomeReady();
    if (this.#status !== "connected") return;
    // Connected, with no device listed online yet: the relay's presence comes after the log's
    // replay, so none may be listed yet while another device's Repo holds a document this one
    // is about to ask for (asked of the folder alone, it would be "unavailable"). Unless someone
    // is listed and every one listed has answered, the timeout decides.
    if (this.#online.size > 0 && [...this.#online].every((d) => this.#answered.has(d)))
      this.#becomeReady();
  }

  #becomeReady(): void {
    if (!this.#connected || this.#isReady) return;
    this.#isReady = true;
    clearTimeout(this.#readyTimer);
    this.#ready();
  }

  #hello(reply: boolean): void {
    if (!this.#connected || this.peerId === undefined) return;
    this.#post({ k: "hello", p: this.peerId, m: this.peerMetadata ?? {}, r: reply });
  }

  #post(frame: Frame): void {
    this.#channel
      .then((channel) => channel.publishEphemeral(cbor.encode(frame)))
      .catch((error: unknown) =>
        this.#report(
          error instanceof WeftError
            ? error
            : new WeftError("STATE", "sending a peers frame failed", { cause: error }),
        ),
      );
  }

  #receive(payload: Uint8Array, from: DeviceId): void {
    let frame: Frame;
    try {
      frame = checkFrame(cbor.decode(payload));
    } catch (error) {
      this.#report(
        new WeftError("INVALID_ENCODING", `a peers frame from ${from} is malformed`, {
          cause: error,
        }),
      );
      return;
    }
    if (!this.#connected) {
      // Not part of the network now: say so, so the other Repo need not wait for this device.
      if (frame.k === "hello" && !frame.r) this.#post({ k: "idle" });
      return;
    }
    if (frame.k === "idle") {
      this.#answered.add(from);
      this.#checkReady();
      return;
    }
    const peerId = frame.p as PeerId;
    if (frame.k === "hello") {
      this.#answered.add(from);
      const known = this.#peers.get(peerId);
      if (known === undefined) {
        this.#peers.set(peerId, from);
        this.emit("peer-candidate", { peerId, peerMetadata: frame.m });
      }
      if (!frame.r) this.#hello(true);
      this.#checkReady();
      return;
    }
    // A frame for a peer that did not come from its device is refused: no member speaks for another.
    if (this.#peers.get(peerId) !== from) return;
    if (frame.k === "bye") {
      this.#drop(peerId);
      return;
    }
    if (frame.to !== this.peerId) return;
    const message = this.#reassemble(peerId, frame);
    if (message === undefined) return;
    let decoded: unknown;
    try {
      decoded = cbor.decode(message);
    } catch (error) {
      this.#report(
        new WeftError("INVALID_ENCODING", `a message from peer ${peerId} does not decode`, {
          cause: error,
        }),
      );
      return;
    }
    const m = decoded as Partial<Message> | null;
    if (
      m === null ||
      typeof m !== "object" ||
      typeof m.type !== "string" ||
      m.senderId !== peerId ||
      m.targetId !== this.peerId
    ) {
      this.#report(new WeftError("INVALID_ENCODING", `a message from peer ${peerId} is malformed`));
      return;
    }
    this.emit("message", m as Message);
  }

  #reassemble(peerId: PeerId, frame: Extract<Frame, { k: "msg" }>): Uint8Array | undefined {
    if (frame.n === 1) return frame.b;
    const key = `${peerId}\0${frame.id}`;
    let partial = this.#partial.get(key);
    if (!partial) {
      partial = { parts: new Array<Uint8Array | undefined>(frame.n), have: 0 };
      this.#partial.set(key, partial);
      const mine = [...this.#partial.keys()].filter((k) => k.startsWith(`${peerId}\0`));
      if (mine.length > MAX_PARTIAL) this.#partial.delete(mine[0]!);
    }
    if (partial.parts.length !== frame.n || partial.parts[frame.i] !== undefined) return undefined;
    partial.parts[frame.i] = frame.b;
    if (++partial.have < frame.n) return undefined;
    this.#partial.delete(key);
    const out = new Uint8Array(partial.parts.reduce((sum, p) => sum + p!.byteLength, 0));
    let at = 0;
    for (const p of partial.parts) {
      out.set(p!, at);
      at += p!.byteLength;
    }
    return out;
  }

  #drop(peerId: PeerId): void {
    if (!this.#peers.delete(peerId)) return;
    for (const key of [...this.#partial.keys()])
      if (key.startsWith(`${peerId}\0`)) this.#partial.delete(key);
    this.emit("peer-disconnected", { peerId });
  }

  #dropAll(): void {
    for (const peerId of [...this.#peers.keys()]) this.#drop(peerId);
  }

  #report(error: WeftError): void {
    try {
      this.#onError(error);
    } catch {
      // A throwing error handler has nowhere left to report to.
    }
  }
}

/** Checks a decoded frame's shape; throws on anything else (a member's bug or a hostile member). */
function checkFrame(x: unknown): Frame {
  const f = x as Record<string, unknown> | null;
  if (f !== null && typeof f === "object" && f["k"] === "idle") return { k: "idle" };
  if (f === null || typeof f !== "object" || typeof f["p"] !== "string" || f["p"].length === 0)
    throw new Error("not a frame");
  if (f["k"] === "bye") return { k: "bye", p: f["p"] };
  if (f["k"] === "hello") {
    const m = f["m"];
    if (m === null || typeof m !== "object" || typeof f["r"] !== "boolean")
      throw new Error("bad hello");
    const meta = m as Record<string, unknown>;
    const peerMetadata: PeerMetadata = {};
    if (typeof meta["storageId"] === "string")
      peerMetadata.storageId = meta["storageId"] as PeerMetadata["storageId"];
    if (typeof meta["isEphemeral"] === "boolean") peerMetadata.isEphemeral = meta["isEphemeral"];
    return { k: "hello", p: f["p"], m: peerMetadata, r: f["r"] };
  }
  if (f["k"] === "msg") {
    const { to, id, i, n, b } = f;
    if (
      typeof to !== "string" ||
      !Number.isSafeInteger(id) ||
      !Number.isSafeInteger(n) ||
      (n as number) < 1 ||
      (n as number) > MAX_FRAGMENTS ||
      !Number.isSafeInteger(i) ||
      (i as number) < 0 ||
      (i as number) >= (n as number) ||
      !(b instanceof Uint8Array)
    )
      throw new Error("bad msg");
    return { k: "msg", p: f["p"], to, id: id as number, i: i as number, n: n as number, b };
  }
  throw new Error("unknown frame kind");
}
