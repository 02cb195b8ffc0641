/** A drop-in for y-websocket's `WebsocketProvider` that syncs a Yjs document through a Replica. */
import { ObservableV2 } from "lib0/observable";
import { Awareness } from "y-protocols/awareness";
import type * as Y from "yjs";
import { WeftError } from "../errors.js";
import type { DocChannel, DocChannelStatus, DocType } from "./channel.js";
import { bindYDoc, type YDocBinding } from "./yjs-doc.js";

/** What a provider needs from a Replica: open the channel of a named Yjs document. */
export interface DocOpener {
  /** Opens (creating if needed) the channel of document `name`. */
  openDocChannel(name: string, type: DocType): Promise<DocChannel>;
  /** The synced folder's id; only used to describe the provider in {@link WeftProvider.url}. */
  readonly folderId: string;
}

/** A provider's connection status, with y-websocket's names. */
export type WeftProviderStatus = DocChannelStatus;

/** The events of a {@link WeftProvider}, with y-websocket's names and payloads. */
export type WeftProviderEvents = {
  /** The connection status changed (y-websocket: the socket's). */
  status: (event: { status: WeftProviderStatus }) => void;
  /** `synced` changed. */
  sync: (isSynced: boolean) => void;
  /** Same as `sync` (y-websocket emits both). */
  synced: (isSynced: boolean) => void;
  /** The channel was closed by `disconnect()`; there is no close event to pass, hence `null`. */
  "connection-close": (event: null, provider: WeftProvider) => void;
  /** Opening the channel failed; `connect()` tries again. */
  "connection-error": (error: WeftError, provider: WeftProvider) => void;
};

/** Options of {@link WeftProvider}, a subset of y-websocket's plus `onError`. */
export interface WeftProviderOptions {
  /** Connect at once (default true). */
  connect?: boolean;
  /** The awareness to use; by default the provider creates one and destroys it in `destroy()`. */
  awareness?: Awareness;
  /**
   * Receives failures that have no caller to throw to (a rejected publish, a corrupt update, an
   * oversized awareness update, a failed open). Defaults to `console.warn`.
   */
  onError?: (error: WeftError) => void;
}

/**
 * Syncs a Yjs document through a Replica, with the shape of y-websocket's `WebsocketProvider`:
 * app code changes `new WebsocketProvider(url, room, doc)` into
 * `new WeftProvider(replica, room, doc)` and keeps using `doc`, `awareness`, `synced`,
 * `wsconnected`, `connect()`, `disconnect()`, `destroy()` and the `status`/`sync`/`synced` events.
 *
 * "Connected" means bound to the document's channel and the replica connected to its relay:
 * `status` is `connecting` while the channel opens, then mirrors the channel's status. `synced`
 * mirrors `channel.synced` while bound and is false otherwise.
 *
 * `disconnect()` unbinds and closes the channel; the doc keeps its content and stays editable.
 * Edits made meanwhile are not lost: on `connect()` the new binding publishes whatever the doc
 * holds beyond the channel's stored state (see {@link bindYDoc}), and applies what other
 * devices wrote in between (the replica kept receiving it).
 */
export class WeftProvider extends ObservableV2<WeftProviderEvents> {
  /** The synced document. */
  readonly doc: Y.Doc;
  /** Presence: local changes go to other online devices as ephemeral messages. */
  readonly awareness: Awareness;
  /** The document's name in the folder. */
  readonly roomname: string;
  /** Whether the channel is bound and the replica connected (y-websocket: socket open). */
  wsconnected = false;
  /** Whether the channel is opening or the replica is connecting. */
  wsconnecting = false;
  /** Whether the app wants to be connected (set by `connect()`, cleared by `disconnect()`). */
  shouldConnect: boolean;
  /** Always false: there is no cross-tab BroadcastChannel; kept for y-websocket's shape. */
  readonly bcconnected: boolean = false;
  /** The most recent failure reported to `onError`, if any. */
  lastError: WeftError | undefined;

  readonly #opener: DocOpener;
  readonly #ownsAwareness: boolean;
  readonly #onError: (error: WeftError) => void;
  #synced = false;
  #status: WeftProviderStatus = "disconnected";
  #binding: YDocBinding | null = null;
  #offChannel: (() => void)[] = [];
  #opening = false;
  /** Bumped by every connect/disconnect, so an open that resolves late is recognised as stale. */
  #generation = 0;
  #destroyed = false;

  /**
   * @param opener the Replica (anything that opens document channels)
   * @param roomname the document's name in the folder
   * @param doc the document to sync
   */
  constructor(opener: DocOpener, roomname: string, doc: Y.Doc, opts: WeftProviderOptions = {}) {
    super();
    this.#opener = opener;
    this.roomname = roomname;
    this.doc = doc;
    this.#ownsAwareness = opts.awareness === undefined;
    this.awareness = opts.awareness ?? new Awareness(doc);
    this.#onError =
      opts.onError ?? ((error) => console.warn(`weft: provider: ${error.message}`, error.cause));
    this.shouldConnect = opts.connect ?? true;
    if (this.shouldConnect) this.connect();
  }

  /** A description of what is synced, `weft://<folderId>/<roomname>` (nothing is dialled). */
  get url(): string {
    return `weft://${this.#opener.folderId}/${encodeURIComponent(this.roomname)}`;
  }

  /** Whether the replica has caught up with the folder's log since it last connected. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Sets `synced`, emitting `synced` and `sync` on change (as y-websocket's setter does). */
  set synced(state: boolean) {
    if (this.#synced === state) return;
    this.#synced = state;
    this.emit("synced", [state]);
    this.emit("sync", [state]);
  }

  /** The bound channel, or null while disconnected or opening. */
  get channel(): DocChannel | null {
    return this.#binding?.channel ?? null;
  }

  /** Opens the document's channel and binds the doc to it; a no-op when already connecting. */
  connect(): void {
    if (this.#destroyed) return;
    this.shouldConnect = true;
    if (this.#binding !== null || this.#opening) return;
    this.#opening = true;
    const generation = ++this.#generation;
    this.#setStatus("connecting");
    // The async wrapper turns a synchronous throw into a rejection handled below.
    const opened = (async () => this.#opener.openDocChannel(this.roomname, "yjs"))();
    opened.then(
      (channel) => this.#attach(channel, generation),
      (error: unknown) => this.#openFailed(error, generation),
    );
  }

  /** Unbinds and closes the channel; the doc keeps its content and its later edits. */
  disconnect(): void {
    this.shouldConnect = false;
    this.#generation++;
    const wasActive = this.#opening || this.#binding !== null;
    this.#opening = false;
    const binding = this.#binding;
    this.#binding = null;
    for (const off of this.#offChannel.splice(0)) off();
    binding?.destroy(); // also closes the channel
    if (wasActive) this.emit("connection-close", [null, this]);
    this.synced = false;
    this.#setStatus("disconnected");
  }

  /** Disconnects, destroys the awareness if the provider created it, and drops all listeners. */
  override destroy(): void {
    if (this.#destroyed) return;
    this.disconnect();
    this.#destroyed = true;
    if (this.#ownsAwareness) this.awareness.destroy();
    super.destroy();
  }

  #attach(channel: DocChannel, generation: number): void {
    if (generation !== this.#generation || this.#destroyed) {
      // disconnect() (or a newer connect()) happened while this channel was opening.
      this.#close(channel);
      return;
    }
    this.#opening = false;
    let binding: YDocBinding;
    try {
      binding = bindYDoc(channel, this.doc, {
        awareness: this.awareness,
        onError: (error) => this.#report(error),
      });
    } catch (error) {
      this.#close(channel);
      this.#failed(error);
      return;
    }
    this.#binding = binding;
    this.#offChannel = [
      channel.on("status", ({ status }) => this.#setStatus(status)),
      channel.on("synced", ({ synced }) => {
        this.synced = synced;
      }),
    ];
    this.#setStatus(channel.status);
    this.synced = channel.synced;
  }

  #openFailed(error: unknown, generation: number): void {
    if (generation !== this.#generation || this.#destroyed) return;
    this.#opening = false;
    this.#failed(error);
  }

  /** No automatic retry: a failed open is a local problem (replica closed, bad name). */
  #failed(cause: unknown): void {
    const error =
      cause instanceof WeftError
        ? cause
        : new WeftError("STORAGE", `opening document "${this.roomname}" failed`, { cause });
    this.shouldConnect = false;
    this.#report(error);
    this.emit("connection-error", [error, this]);
    this.#setStatus("disconnected");
  }

  #close(channel: DocChannel): void {
    try {
      channel.close();
    } catch (error) {
      this.#report(new WeftError("STORAGE", "closing a document channel failed", { cause: error }));
    }
  }

  #setStatus(status: WeftProviderStatus): void {
    this.wsconnected = status === "connected";
    this.wsconnecting = status === "connecting";
    if (status === this.#status) return;
    this.#status = status;
    this.emit("status", [{ status }]);
  }

  #report(error: WeftError): void {
    this.lastError = error;
    try {
      this.#onError(error);
    } catch {
      // An error handler that throws must not break the provider's state machine.
    }
  }
}
