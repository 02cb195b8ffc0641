/** The Replica side of documents: one DocChannel per open document, routing of remote updates and ephemeral messages. */
import { type DeviceId, randomBytes, xchachaOpen, xchachaSeal } from "@weft/crypto";
import {
  type DocChannel,
  type DocChannelEventMap,
  type DocChannelStatus,
  type DocType,
  MAX_EPHEMERAL_BYTES,
} from "../docs/channel.js";
import * as Y from "yjs";
import { type AutomergeDocHandle, openAutomergeDoc } from "../docs/automerge-doc.js";
import { type YDocBinding, bindYDoc } from "../docs/yjs-doc.js";
import { WeftError } from "../errors.js";
import { ByteReader, ByteWriter } from "../model/varint.js";
import type { ReplicaContext } from "./context.js";
import type { DocRouter, DocSession } from "./sync-types.js";
import { MAX_DOC_NAME_BYTES, type PayloadPart } from "./payload.js";

const NONCE_BYTES = 24;
const encoder = new TextEncoder();

/** Stores a local document update and queues it for sending; resolves once durable. */
export type PublishDocUpdate = (part: Extract<PayloadPart, { kind: "doc" }>) => Promise<void>;

/** The stream id under which a document's updates are stored. */
export function docStream(type: DocType, name: string): string {
  return `${type}:${name}`;
}

/** Checks a document name: non-empty, at most 240 UTF-8 bytes. */
export function checkDocName(name: unknown): asserts name is string {
  if (
    typeof name !== "string" ||
    name.length === 0 ||
    encoder.encode(name).length > MAX_DOC_NAME_BYTES
  )
    throw new WeftError(
      "INVALID_ARGUMENT",
      `a document name is a non-empty string of at most ${MAX_DOC_NAME_BYTES} UTF-8 bytes`,
    );
}

/**
 * Every open document of a replica: opens channels and their Yjs or Automerge bindings, hands
 * them remote and ephemeral updates, and gives the whole state of every document for snapshots.
 */
export class DocChannels implements DocRouter {
  private readonly open = new Map<string, ReplicaDocChannel>();
  /**
   * Per stream, the remote updates each caller of {@link channel} has heard while its stored
   * updates were loading: with no channel yet to emit to, and perhaps stored after the load
   * read the stream, they would reach the document only when it was opened again.
   */
  private readonly loading = new Map<string, Set<DocChannelEventMap["update"][]>>();
  private readonly yDocs = new Map<string, Promise<YDocBinding>>();
  private readonly automergeDocs = new Map<string, Promise<AutomergeDocHandle<unknown>>>();

  private session: DocSession | undefined;

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly publishUpdate: PublishDocUpdate,
  ) {}

  /** Connects the channels to the session they travel over (until then: disconnected). */
  attach(session: DocSession): void {
    this.session = session;
    this.statusChanged();
  }

  /** The connection as the channels see it. */
  get status(): DocChannelStatus {
    return this.session?.docStatus ?? "disconnected";
  }

  /** Whether the replica has caught up since it last connected. */
  get synced(): boolean {
    return this.session?.synced ?? false;
  }

  /** Stores and queues a channel's local update. */
  publish(part: Extract<PayloadPart, { kind: "doc" }>): Promise<void> {
    return this.publishUpdate(part);
  }

  /** Sends a channel's sealed ephemeral message when online. */
  postEphemeral(sealed: Uint8Array): void {
    this.session?.postEphemeral(sealed);
  }

  /** Reports a failure that is nobody's caller's (a throwing listener) as an `error` event. */
  report(error: unknown, context: string): void {
    this.ctx.events.emit("error", {
      error: error instanceof Error ? error : new Error(String(error)),
      context,
    });
  }

  /** Opens (or returns the open) channel of a document. */
  async channel(name: string, type: DocType): Promise<DocChannel> {
    checkDocName(name);
    const stream = docStream(type, name);
    const existing = this.open.get(stream);
    if (existing) return existing;
    const heard: DocChannelEventMap["update"][] = [];
    let waiting = this.loading.get(stream);
    if (!waiting) this.loading.set(stream, (waiting = new Set()));
    waiting.add(heard);
    let initial: Uint8Array[];
    try {
      // In the lane: an apply of log entries stores its updates before the lane moves on, so
      // the load sees every update applied before it, and `heard` every one applied after.
      initial = await this.ctx.serial.run(() => this.ctx.local.loadStream(stream));
    } finally {
      waiting.delete(heard);
      if (waiting.size === 0 && this.loading.get(stream) === waiting) this.loading.delete(stream);
    }
    const again = this.open.get(stream); // opened meanwhile by another caller
    if (again) return again;
    // Those heard while loading go after the stored ones (applying one twice is harmless).
    const channel = new ReplicaDocChannel(name, type, this.ctx.identity.deviceId, initial, this);
    for (const update of heard) channel.emit("update", update);
    this.open.set(stream, channel);
    return channel;
  }

  /** The Yjs binding of document `name`: one per name, made on first use. */
  yjs(name: string): Promise<YDocBinding> {
    let binding = this.yDocs.get(name);
    if (!binding) {
      binding = this.channel(name, "yjs").then((channel) =>
        bindYDoc(channel, new Y.Doc(), {
          onError: (error) => this.report(error, `Yjs document ${name}`),
        }),
      );
      this.yDocs.set(name, binding);
      binding.catch(() => this.yDocs.delete(name));
    }
    return binding;
  }

  /** The Automerge handle of document `name`: one per name, made on first use. */
  automerge<T>(name: string, init?: (doc: T) => void): Promise<AutomergeDocHandle<T>> {
    let handle = this.automergeDocs.get(name);
    if (!handle) {
      handle = this.channel(name, "automerge").then((channel) =>
        openAutomergeDoc<unknown>(channel, init as ((doc: unknown) => void) | undefined, {
          onError: (error) => this.report(error, `Automerge document ${name}`),
        }),
      );
      this.automergeDocs.set(name, handle);
      handle.catch(() => this.automergeDocs.delete(name));
    }
    return handle as Promise<AutomergeDocHandle<T>>;
  }

  /** Detaches every document (they stay stored). */
  closeAll(): void {
    for (const b of this.yDocs.values())
      void b.then(
        (x) => x.destroy(),
        () => undefined,
      );
    for (const h of this.automergeDocs.values())
      void h.then(
        (x) => x.close(),
        () => undefined,
      );
  }

  closed(channel: ReplicaDocChannel): void {
    if (this.open.get(docStream(channel.type, channel.name)) === channel)
      this.open.delete(docStream(channel.type, channel.name));
  }

  remote(part: Extract<PayloadPart, { kind: "doc" }>, from: DeviceId): void {
    const stream = docStream(part.type, part.name);
    const update = { update: part.update, from };
    this.open.get(stream)?.emit("update", update);
    for (const heard of this.loading.get(stream) ?? []) heard.push(update);
  }

  ephemeral(sealed: Uint8Array, from: DeviceId): void {
    const opened = this.openEphemeral(sealed, from);
    if (!opened) return;
    this.open
      .get(docStream(opened.type, opened.name))
      ?.emit("ephemeral", { payload: opened.payload, from });
  }

  async states(): Promise<PayloadPart[]> {
    const parts: PayloadPart[] = [];
    const streams = await this.ctx.local.streams();
    for (const stream of streams) {
      if (stream === "index") continue;
      const colon = stream.indexOf(":");
      const type = stream.slice(0, colon) as DocType;
      const name = stream.slice(colon + 1);
      const channel = this.open.get(stream);
      const state = channel?.state?.();
      if (state) parts.push({ kind: "doc", type, name, update: state });
      else
        for (const update of await this.ctx.local.loadStream(stream))
          parts.push({ kind: "doc", type, name, update });
    }
    return parts;
  }

  statusChanged(): void {
    for (const channel of this.open.values()) channel.statusChanged();
  }

  /**
   * Seals an ephemeral message: `epoch u32 ‖ nonce ‖ XChaCha20-Poly1305(type u8 ‖ name ‖ payload)`
   * under the index key, with folder and sender as associated data. The relay checks the
   * sender against the connection; the name of the document stays inside.
   */
  sealEphemeral(type: DocType, name: string, payload: Uint8Array): Uint8Array {
    if (
      !(payload instanceof Uint8Array) ||
      payload.length === 0 ||
      payload.length > MAX_EPHEMERAL_BYTES
    )
      throw new WeftError(
        "INVALID_ARGUMENT",
        `an ephemeral payload is 1 to ${MAX_EPHEMERAL_BYTES} bytes`,
      );
    const w = new ByteWriter(payload.length + 64);
    w.u8(type === "yjs" ? 1 : 2);
    w.string(name);
    w.bytes(payload);
    const epoch = this.ctx.keys.epoch;
    const nonce = randomBytes(NONCE_BYTES);
    const sealed = xchachaSeal(
      this.ctx.keys.subkeys(epoch).index,
      nonce,
      w.finish(),
      this.ephemeralAd(this.ctx.identity.deviceId),
    );
    const out = new Uint8Array(4 + NONCE_BYTES + sealed.length);
    new DataView(out.buffer).setUint32(0, epoch, false);
    out.set(nonce, 4);
    out.set(sealed, 4 + NONCE_BYTES);
    return out;
  }

  private openEphemeral(
    sealed: Uint8Array,
    from: DeviceId,
  ): { type: DocType; name: string; payload: Uint8Array } | undefined {
    try {
      const epoch = new DataView(sealed.buffer, sealed.byteOffset, sealed.length).getUint32(
        0,
        false,
      );
      const plain = xchachaOpen(
        this.ctx.keys.subkeys(epoch).index,
        sealed.subarray(4, 4 + NONCE_BYTES),
        sealed.subarray(4 + NONCE_BYTES),
        this.ephemeralAd(from),
      );
      const r = new ByteReader(plain);
      const type: DocType = r.u8() === 1 ? "yjs" : "automerge";
      const name = r.string(MAX_DOC_NAME_BYTES);
      const payload = r.bytes(MAX_EPHEMERAL_BYTES).slice();
      r.end();
      return { type, name, payload };
    } catch (error) {
      this.ctx.events.emit("error", {
        error: error instanceof Error ? error : new Error(String(error)),
        context: `an ephemeral message from ${from} that does not open`,
      });
      return undefined;
    }
  }

  private ephemeralAd(device: DeviceId): Uint8Array {
    return encoder.encode(`weft-ephemeral/v1\0${this.ctx.folderId}\0${device}`);
  }
}

type Listener<E extends keyof DocChannelEventMap> = (payload: DocChannelEventMap[E]) => void;

/** A {@link DocChannel} backed by a Replica. */
class ReplicaDocChannel implements DocChannel {
  state: (() => Uint8Array) | undefined;
  private readonly listeners = new Map<keyof DocChannelEventMap, Set<Listener<never>>>();
  /** Updates that arrived before anyone listened (between opening and binding). */
  private early: DocChannelEventMap["update"][] = [];
  private lastStatus: DocChannelStatus;
  private lastSynced: boolean;
  private isClosed = false;

  constructor(
    readonly name: string,
    readonly type: DocType,
    readonly device: DeviceId,
    readonly initial: readonly Uint8Array[],
    private readonly owner: DocChannels,
  ) {
    this.lastStatus = owner.status;
    this.lastSynced = owner.synced;
  }

  get status(): DocChannelStatus {
    return this.owner.status;
  }

  get synced(): boolean {
    return this.owner.synced;
  }

  publish(update: Uint8Array): Promise<void> {
    if (this.isClosed)
      return Promise.reject(new WeftError("CLOSED", `document ${this.name} is closed`));
    if (!(update instanceof Uint8Array) || update.length === 0)
      return Promise.reject(
        new WeftError("INVALID_ARGUMENT", "an update is a non-empty Uint8Array"),
      );
    return this.owner.publish({
      kind: "doc",
      type: this.type,
      name: this.name,
      update: update.slice(),
    });
  }

  publishEphemeral(payload: Uint8Array): void {
    if (this.isClosed) return;
    this.owner.postEphemeral(this.owner.sealEphemeral(this.type, this.name, payload));
  }

  setStateProvider(state: () => Uint8Array): void {
    this.state = state;
  }

  on<E extends keyof DocChannelEventMap>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    if (event === "update" && this.early.length > 0) {
      const early = this.early;
      this.early = [];
      for (const e of early) (listener as Listener<"update">)(e);
    }
    return () => {
      set.delete(listener);
    };
  }

  emit<E extends keyof DocChannelEventMap>(event: E, payload: DocChannelEventMap[E]): void {
    if (this.isClosed) return;
    const listeners = this.listeners.get(event);
    if (event === "update" && !listeners?.size) {
      this.early.push(payload as DocChannelEventMap["update"]);
      return;
    }
    for (const listener of [...(listeners ?? [])]) {
      try {
        (listener as Listener<E>)(payload);
      } catch (error) {
        this.owner.report(error, `a listener of document ${this.name}`);
      }
    }
  }

  statusChanged(): void {
    const status = this.owner.status;
    const synced = this.owner.synced;
    if (status !== this.lastStatus) {
      this.lastStatus = status;
      this.emit("status", { status });
    }
    if (synced !== this.lastSynced) {
      this.lastSynced = synced;
      this.emit("synced", { synced });
    }
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.owner.closed(this);
    this.listeners.clear();
  }
}
