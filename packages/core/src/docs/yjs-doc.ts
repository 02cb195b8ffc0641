/** Binds a Yjs document and its awareness (presence) to a {@link DocChannel}. */
import {
  Awareness,
  applyAwarenessUpdate,
  encodeAwarenessUpdate,
  removeAwarenessStates,
} from "y-protocols/awareness";
import * as decoding from "lib0/decoding";
import * as Y from "yjs";
import { WeftError, type WeftErrorCode } from "../errors.js";
import type { DocChannel, DocChannelEventMap } from "./channel.js";

/** The largest ephemeral payload a {@link DocChannel} carries (its contract: ≤ 8 KiB). */
import { MAX_EPHEMERAL_BYTES } from "./channel.js";
export { MAX_EPHEMERAL_BYTES };

/**
 * The awareness origin of changes caused by other devices (their updates, or losing them when
 * the channel disconnects). A binding never re-publishes changes with this origin.
 */
export const REMOTE_ORIGIN = "remote";

/** Options of {@link bindYDoc}. */
export interface BindYDocOptions {
  /**
   * The awareness to carry. When given, the caller owns it: `destroy()` tells other devices this
   * client left but keeps its local state (a provider reconnects with it, as y-websocket does).
   * When omitted the binding creates one on `doc` and destroys it with itself.
   */
  awareness?: Awareness;
  /**
   * Called with every failure the binding cannot throw to anyone: a publish that rejected, a
   * corrupt remote update or awareness payload, an awareness update over 8 KiB that was dropped.
   * The newest one is also kept in {@link YDocBinding.lastError}. Defaults to `console.warn`.
   */
  onError?: (error: WeftError) => void;
}

/** A Yjs document bound to a channel; see {@link bindYDoc}. */
export interface YDocBinding {
  /** The bound document. */
  readonly doc: Y.Doc;
  /** The channel it is bound to; the binding owns it from then on and closes it in `destroy()`. */
  readonly channel: DocChannel;
  /** The awareness whose local changes are sent as ephemeral messages. */
  readonly awareness: Awareness;
  /** The most recent failure reported to `onError`, if any. */
  readonly lastError: WeftError | undefined;
  /**
   * Tells other devices this client left, detaches from the doc and awareness, and closes the
   * channel (the document stays stored; bind a new channel to resume).
   */
  destroy(): void;
}

/**
 * Binds `doc` to `channel`:
 *
 * - applies `channel.initial`, then publishes whatever `doc` holds that the channel has not
 *   stored (content created before binding, or edits made while a provider was disconnected);
 * - publishes every later local update; a rejected publish is reported and its update is merged
 *   into the next publish, so a peer never waits forever on a missing dependency;
 * - applies remote updates with the binding as origin (so they are not published back);
 * - gives the channel `Y.encodeStateAsUpdate(doc)` as its state provider;
 * - sends local awareness changes as ephemeral messages (dropped and reported when an encoded
 *   update exceeds {@link MAX_EPHEMERAL_BYTES}) and applies incoming ones with origin
 *   {@link REMOTE_ORIGIN};
 * - (re)announces the local awareness state whenever the channel becomes connected, and asks
 *   peers to answer with theirs (there is no relay-side awareness as with y-websocket's server):
 *   the announcement repeats its one entry, a valid awareness update that other clients apply
 *   as usual and that bindings recognise as "I just joined"; peers' states are forgotten when
 *   the channel disconnects, since that announcement restores them.
 *
 * Failures never throw out of event handlers: they go to `options.onError` and `lastError`.
 * `destroy()` closes the channel: a channel must not outlive the state provider it was given.
 */
export function bindYDoc(
  channel: DocChannel,
  doc: Y.Doc = new Y.Doc(),
  options: BindYDocOptions = {},
): YDocBinding {
  return new Binding(channel, doc, options);
}

type AwarenessChange = { added: number[]; updated: number[]; removed: number[] };

class Binding implements YDocBinding {
  readonly awareness: Awareness;
  lastError: WeftError | undefined;
  readonly #ownsAwareness: boolean;
  readonly #onError: (error: WeftError) => void;
  readonly #unsubscribe: (() => void)[] = [];
  /** Updates whose publish rejected; merged into the next publish. */
  #failed: Uint8Array[] = [];
  #destroyed = false;
  #answerQueued = false;
  /** Set while the binding re-sets the local state itself, so the handler does not send it. */
  #quiet = false;

  constructor(
    readonly channel: DocChannel,
    readonly doc: Y.Doc,
    options: BindYDocOptions,
  ) {
    this.#ownsAwareness = options.awareness === undefined;
    this.awareness = options.awareness ?? new Awareness(doc);
    this.#onError =
      options.onError ??
      ((error) => console.warn(`weft: document binding: ${error.message}`, error.cause));

    // An empty state vector encodes as one byte: anything longer means the doc already has
    // content, which the channel may not have stored yet.
    const hadContent = Y.encodeStateVector(doc).byteLength > 1;
    // One transaction, so observers see the stored state arrive once, not update by update.
    Y.transact(doc, () => this.#applyAll(doc, channel.initial, this), this);
    if (hadContent) this.#publishMissing();

    const onDocUpdate = (update: Uint8Array, origin: unknown): void => {
      if (origin !== this) this.#publish(update);
    };
    const onAwareness = (change: AwarenessChange, origin: unknown): void =>
      this.#onAwarenessUpdate(change, origin);
    doc.on("update", onDocUpdate);
    this.awareness.on("update", onAwareness);
    this.#unsubscribe.push(
      () => doc.off("update", onDocUpdate),
      () => this.awareness.off("update", onAwareness),
      channel.on("update", ({ update }) => this.#applyAll(doc, [update], this)),
      channel.on("ephemeral", (e) => this.#onEphemeral(e)),
      channel.on("status", ({ status }) => this.#onStatus(status)),
    );
    channel.setStateProvider(() => Y.encodeStateAsUpdate(doc));
    if (channel.status === "connected") this.#announce(true);
  }

  destroy(): void {
    if (this.#destroyed) return;
    // A null state at the current clock makes peers drop ours (y-protocols' rule for removal
    // messages) without clearing the caller's local state, which a reconnect re-announces.
    if (this.awareness.getLocalState() !== null) {
      const id = this.awareness.clientID;
      this.#sendAwareness(encodeAwarenessUpdate(this.awareness, [id], new Map()), [id]);
    }
    this.#destroyed = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    // An open channel would keep asking our state provider for the document's state, which no
    // longer follows what the channel stores (remote updates go unapplied, local edits unsent),
    // and a compaction would store that. Closed, the replica keeps the stored updates instead.
    try {
      this.channel.close();
    } catch (error) {
      this.#report("STORAGE", "closing the channel failed", error);
    }
    // We no longer hear from peers, so their presence is unknown.
    this.#forgetPeers();
    if (this.#ownsAwareness) this.awareness.destroy();
  }

  #applyAll(target: Y.Doc, updates: readonly Uint8Array[], origin: unknown): void {
    for (const update of updates) {
      try {
        Y.applyUpdate(target, update, origin);
      } catch (error) {
        this.#report("INVALID_UPDATE", "applying a stored or received Yjs update failed", error);
      }
    }
  }

  /**
   * Publishes what `doc` has beyond `channel.initial`: replays the initial updates into a
   * scratch doc, applies the difference to it, and publishes exactly what that changed (Yjs
   * emits an update only for new structs or newly deleted items, so nothing is re-sent).
   */
  #publishMissing(): void {
    const scratch = new Y.Doc();
    try {
      this.#applyAll(scratch, this.channel.initial, null);
      let missing: Uint8Array | undefined;
      scratch.on("update", (update: Uint8Array) => {
        missing = missing === undefined ? update : Y.mergeUpdates([missing, update]);
      });
      Y.applyUpdate(scratch, Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(scratch)));
      if (missing !== undefined) this.#publish(missing);
    } finally {
      scratch.destroy();
    }
  }

  #publish(update: Uint8Array): void {
    if (this.#destroyed) return;
    const payload = this.#failed.length === 0 ? update : Y.mergeUpdates([...this.#failed, update]);
    this.#failed = [];
    // The async wrapper turns a synchronous throw into a rejection handled below.
    const stored = (async () => this.channel.publish(payload))();
    stored.catch((error: unknown) => {
      this.#failed.push(payload);
      this.#report("STORAGE", "publishing a Yjs update failed; it is retried with the next", error);
    });
  }

  #onAwarenessUpdate({ added, updated, removed }: AwarenessChange, origin: unknown): void {
    if (this.#destroyed || this.#quiet || origin === REMOTE_ORIGIN) return;
    const changed = [...added, ...updated, ...removed];
    this.#sendAwareness(encodeAwarenessUpdate(this.awareness, changed), changed);
  }

  #sendAwareness(payload: Uint8Array, clients: number[]): void {
    if (payload.byteLength > MAX_EPHEMERAL_BYTES) {
      // Several clients at once (timeouts) may fit one by one.
      if (clients.length > 1) {
        for (const id of clients)
          this.#sendAwareness(encodeAwarenessUpdate(this.awareness, [id]), [id]);
        return;
      }
      this.#report(
        "INVALID_ARGUMENT",
        `an awareness update of ${payload.byteLength} bytes exceeds ${MAX_EPHEMERAL_BYTES}; dropped`,
      );
      return;
    }
    try {
      this.channel.publishEphemeral(payload);
    } catch (error) {
      this.#report("STORAGE", "sending an awareness update failed", error);
    }
  }

  #onEphemeral({ payload }: DocChannelEventMap["ephemeral"]): void {
    try {
      applyAwarenessUpdate(this.awareness, payload, REMOTE_ORIGIN);
    } catch (error) {
      this.#report("INVALID_UPDATE", "a received awareness update is corrupt", error);
      return;
    }
    if (isJoin(payload)) this.#queueAnswer();
  }

  #onStatus(status: DocChannelEventMap["status"]["status"]): void {
    if (status === "connected") this.#announce(true);
    // Offline, peers' states go stale; the announcement on reconnecting brings fresh ones.
    else if (status === "disconnected") this.#forgetPeers();
  }

  /**
   * Sends the local state with a bumped clock (peers that dropped it accept it again). A join
   * announcement repeats the entry (see {@link isJoin}), unless that would not fit.
   */
  #announce(join: boolean): void {
    const state = this.awareness.getLocalState();
    if (this.#destroyed || state === null) return;
    this.#quiet = true;
    try {
      this.awareness.setLocalState(state);
    } finally {
      this.#quiet = false;
    }
    const id = this.awareness.clientID;
    const single = encodeAwarenessUpdate(this.awareness, [id]);
    const joined = join ? encodeAwarenessUpdate(this.awareness, [id, id]) : single;
    this.#sendAwareness(joined.byteLength <= MAX_EPHEMERAL_BYTES ? joined : single, [id]);
  }

  /** Answers join announcements, one answer for a burst of them. */
  #queueAnswer(): void {
    if (this.#answerQueued) return;
    this.#answerQueued = true;
    queueMicrotask(() => {
      this.#answerQueued = false;
      if (this.channel.status === "connected") this.#announce(false);
    });
  }

  #forgetPeers(): void {
    const peers = [...this.awareness.getStates().keys()].filter(
      (id) => id !== this.awareness.clientID,
    );
    if (peers.length > 0) removeAwarenessStates(this.awareness, peers, REMOTE_ORIGIN);
  }

  #report(code: WeftErrorCode, message: string, cause?: unknown): void {
    const error =
      cause instanceof WeftError
        ? cause
        : new WeftError(code, `document "${this.channel.name}": ${message}`, { cause });
    this.lastError = error;
    try {
      this.#onError(error);
    } catch {
      // An error handler that throws must not break the binding's event handling.
    }
  }
}

/**
 * Whether an awareness update is a join announcement: exactly two entries, same client and
 * clock. Applying it is harmless (y-protocols ignores the second, equal-clock entry).
 */
function isJoin(payload: Uint8Array): boolean {
  try {
    const decoder = decoding.createDecoder(payload);
    if (decoding.readVarUint(decoder) !== 2) return false;
    const client = decoding.readVarUint(decoder);
    const clock = decoding.readVarUint(decoder);
    decoding.readVarString(decoder);
    return decoding.readVarUint(decoder) === client && decoding.readVarUint(decoder) === clock;
  } catch {
    return false;
  }
}
