/**
 * Binds an Automerge document to a {@link DocChannel}. `@automerge/automerge` is an optional
 * peer dependency, loaded on the first open: a Yjs-only app never installs or loads it.
 */
import type * as A from "@automerge/automerge";
import type { DeviceId } from "@weft/crypto";
import { WeftError } from "../errors.js";
import type { DocChannel, DocChannelEventMap } from "./channel.js";
import { MAX_EPHEMERAL_BYTES } from "./yjs-doc.js";

/** A `change` event of an {@link AutomergeDocHandle}. */
export interface AutomergeChangeEvent<T> {
  /** The document after the change. */
  doc: A.Doc<T>;
  /** True for a change made through this handle, false for one from another device. */
  local: boolean;
}

/** An `ephemeral` event of an {@link AutomergeDocHandle}. */
export interface AutomergeEphemeralEvent {
  /** The opaque bytes another device sent with `sendEphemeral`. */
  payload: Uint8Array;
  /** The device that sent them. */
  from: DeviceId;
}

/** An Automerge document kept in sync through a channel; see {@link openAutomergeDoc}. */
export interface AutomergeDocHandle<T> {
  /** The channel the document travels on (closed by `close()`). */
  readonly channel: DocChannel;
  /** The most recent failure reported to `onError`, if any. */
  readonly lastError: WeftError | undefined;
  /** The current document (immutable Automerge value). */
  doc(): A.Doc<T>;
  /**
   * Applies a local change and publishes it; resolves when stored locally. A change that changes
   * nothing publishes nothing. Rejects if `fn` throws, the handle is closed or the publish fails
   * (the change stays in the document and is re-sent with the next one).
   */
  change(fn: A.ChangeFn<T>, message?: string): Promise<void>;
  /** Listens to local and remote changes; returns a function that removes the listener. */
  on(event: "change", listener: (e: AutomergeChangeEvent<T>) => void): () => void;
  /** Listens to ephemeral messages (presence) from other devices; returns the remover. */
  on(event: "ephemeral", listener: (e: AutomergeEphemeralEvent) => void): () => void;
  /**
   * Sends opaque bytes (presence, like awareness) to the folder's online devices; dropped when
   * offline. Throws a `WeftError` (`INVALID_ARGUMENT`) over {@link MAX_EPHEMERAL_BYTES}.
   */
  sendEphemeral(payload: Uint8Array): void;
  /** Detaches from the channel and closes it (the document stays stored). */
  close(): void;
}

/** Options of {@link openAutomergeDoc}. */
export interface OpenAutomergeDocOptions {
  /**
   * Receives failures with no caller to throw to: a corrupt stored or remote update, a failed
   * publish of `init`'s change, a throwing listener. Defaults to `console.warn`.
   */
  onError?: (error: WeftError) => void;
}

/** The Automerge module: the type of `import("@automerge/automerge")`. */
type Automerge = typeof A;

/**
 * Imports `@automerge/automerge` (Node caches the module, so only the first call loads it).
 * Throws a `WeftError` (`MISSING_DEPENDENCY`) saying what to install when it is not installed.
 */
export async function loadAutomerge(): Promise<Automerge> {
  try {
    // A literal specifier, so bundlers see the (lazy) import.
    return await import("@automerge/automerge");
  } catch (error) {
    if (isMissing(error, "@automerge/automerge"))
      throw new WeftError(
        "MISSING_DEPENDENCY",
        "install @automerge/automerge to open Automerge documents " +
          "(npm install @automerge/automerge): it is an optional peer dependency of @weft/core",
        { cause: error },
      );
    throw error;
  }
}

/** Whether `error` says that package `name` itself (not one of its own imports) is not found. */
function isMissing(error: unknown, name: string): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    error.message.includes(`'${name}'`)
  );
}

/**
 * Loads an Automerge document from `channel.initial` (a saved state and/or incremental
 * changes, all accepted by `A.loadIncremental`) and keeps it in sync: local changes publish
 * `A.saveSince(doc, headsBefore)`, remote updates are applied with `A.loadIncremental` (changes
 * whose dependencies have not arrived yet are queued by Automerge), and the channel's state
 * provider is `A.save(doc)`.
 *
 * `init` runs only for a brand-new document (the channel stored nothing). Beware: two devices
 * that open the same new document before either has synced both run `init`, and in Automerge
 * each run creates its own objects. `d.items = []` on both devices makes two different lists
 * under one key; after merging one list wins and everything pushed into the other disappears
 * from view. So `init` should only set values that merge well (scalars, or nothing at all and
 * let the first real change create structure), or better: create the document on one device
 * and open it elsewhere once it has synced.
 *
 * The first call imports `@automerge/automerge`; without it installed the promise rejects with
 * a `WeftError` (`MISSING_DEPENDENCY`) and the channel is closed.
 */
export async function openAutomergeDoc<T>(
  channel: DocChannel,
  init?: (d: T) => void,
  options: OpenAutomergeDocOptions = {},
): Promise<AutomergeDocHandle<T>> {
  let automerge: Automerge;
  try {
    automerge = await loadAutomerge();
  } catch (error) {
    // The caller handed the channel over: without a binding nobody else would close it.
    channel.close();
    throw error;
  }
  return new Handle<T>(automerge, channel, init, options);
}

type Listener<E> = (e: E) => void;

class Handle<T> implements AutomergeDocHandle<T> {
  lastError: WeftError | undefined;
  #doc: A.Doc<T>;
  #closed = false;
  /** A publish failed: the next one sends the whole document so no change is left behind. */
  #resendAll = false;
  readonly #onError: (error: WeftError) => void;
  readonly #changeListeners = new Set<Listener<AutomergeChangeEvent<T>>>();
  readonly #ephemeralListeners = new Set<Listener<AutomergeEphemeralEvent>>();
  readonly #offChannel: (() => void)[];

  constructor(
    private readonly A: Automerge,
    readonly channel: DocChannel,
    init: ((d: T) => void) | undefined,
    options: OpenAutomergeDocOptions,
  ) {
    this.#onError =
      options.onError ??
      ((error) => console.warn(`weft: automerge doc: ${error.message}`, error.cause));
    let doc = this.A.init<T>();
    for (const update of channel.initial) {
      try {
        doc = this.A.loadIncremental(doc, update);
      } catch (error) {
        this.#report("INVALID_UPDATE", "a stored Automerge update is corrupt", error);
      }
    }
    this.#doc = doc;
    this.#offChannel = [
      channel.on("update", ({ update }) => this.#onRemote(update)),
      channel.on("ephemeral", (e) => this.#onEphemeral(e)),
    ];
    channel.setStateProvider(() => this.A.save(this.#doc));
    if (init !== undefined && channel.initial.length === 0) {
      this.change(init, "init").catch((error: unknown) =>
        this.#report("STORAGE", "publishing the initial change failed", error),
      );
    }
  }

  doc(): A.Doc<T> {
    return this.#doc;
  }

  async change(fn: A.ChangeFn<T>, message?: string): Promise<void> {
    if (this.#closed) throw new WeftError("INVALID_ARGUMENT", "the document handle is closed");
    const before = this.A.getHeads(this.#doc);
    const next =
      message === undefined ? this.A.change(this.#doc, fn) : this.A.change(this.#doc, message, fn);
    if (sameHeads(before, this.A.getHeads(next))) return;
    this.#doc = next;
    const payload = this.#resendAll ? this.A.save(next) : this.A.saveSince(next, before);
    this.#resendAll = false;
    this.#emit(this.#changeListeners, { doc: next, local: true });
    try {
      await this.channel.publish(payload);
    } catch (error) {
      // Later changes depend on this one: without it peers would queue them forever.
      this.#resendAll = true;
      throw error instanceof WeftError
        ? error
        : new WeftError("STORAGE", `document "${this.channel.name}": publish failed`, {
            cause: error,
          });
    }
  }

  on(event: "change", listener: Listener<AutomergeChangeEvent<T>>): () => void;
  on(event: "ephemeral", listener: Listener<AutomergeEphemeralEvent>): () => void;
  on(
    event: "change" | "ephemeral",
    listener: Listener<AutomergeChangeEvent<T>> | Listener<AutomergeEphemeralEvent>,
  ): () => void {
    // The overloads guarantee the listener matches the event.
    const set = (event === "change" ? this.#changeListeners : this.#ephemeralListeners) as Set<
      typeof listener
    >;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  sendEphemeral(payload: Uint8Array): void {
    if (this.#closed) return;
    if (payload.byteLength > MAX_EPHEMERAL_BYTES) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `an ephemeral payload of ${payload.byteLength} bytes exceeds ${MAX_EPHEMERAL_BYTES}`,
      );
    }
    this.channel.publishEphemeral(payload);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#offChannel.splice(0)) off();
    this.#changeListeners.clear();
    this.#ephemeralListeners.clear();
    this.channel.close();
  }

  #onRemote(update: Uint8Array): void {
    const before = this.A.getHeads(this.#doc);
    try {
      // Always keep the returned doc: Automerge marks the previous one outdated.
      this.#doc = this.A.loadIncremental(this.#doc, update);
    } catch (error) {
      this.#report("INVALID_UPDATE", "a received Automerge update is corrupt", error);
      return;
    }
    // Duplicates and changes still waiting for their dependencies move no heads.
    if (!sameHeads(before, this.A.getHeads(this.#doc))) {
      this.#emit(this.#changeListeners, { doc: this.#doc, local: false });
    }
  }

  #onEphemeral({ payload, from }: DocChannelEventMap["ephemeral"]): void {
    this.#emit(this.#ephemeralListeners, { payload, from });
  }

  #emit<E>(listeners: Set<Listener<E>>, event: E): void {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#report("INVALID_ARGUMENT", "a document listener threw", error);
      }
    }
  }

  #report(
    code: "INVALID_UPDATE" | "STORAGE" | "INVALID_ARGUMENT",
    message: string,
    cause: unknown,
  ): void {
    const error =
      cause instanceof WeftError
        ? cause
        : new WeftError(code, `document "${this.channel.name}": ${message}`, { cause });
    this.lastError = error;
    try {
      this.#onError(error);
    } catch {
      // A throwing error handler must not break event handling.
    }
  }
}

/** Heads are a set of change hashes; compare them as sets. */
function sameHeads(a: A.Heads, b: A.Heads): boolean {
  return a.length === b.length && a.every((h) => b.includes(h));
}
