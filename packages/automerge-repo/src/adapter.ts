/** The automerge-repo NetworkAdapter: a Repo's documents kept in a Weft folder, end to end encrypted. */
import * as A from "@automerge/automerge";
import {
  type DocumentId,
  type Message,
  NetworkAdapter,
  type PeerId,
  type PeerMetadata,
  cbor,
} from "@automerge/automerge-repo";
import type { DeviceId } from "@weft/crypto";
import { MAX_EPHEMERAL_BYTES, type Replica } from "@weft/core";
import { WeftError } from "@weft/core/errors";
import { FolderDoc, type FolderDocHost } from "./folder-doc.js";

/** What the adapter needs of a {@link Replica}: its device and its document channels. */
export type AdapterReplica = Pick<Replica, "deviceId" | "openDocChannel">;

/** Options of {@link WeftNetworkAdapter}. */
export interface WeftNetworkAdapterOptions {
  /** The replica (one device's view of one folder) that carries the documents; the app starts and stops it. */
  replica: AdapterReplica;
  /**
   * Prefix of the Weft document names (default `"automerge-repo/"`): document `id` is stored as
   * the Automerge document `prefix + id` of the folder (the stream `replica.automerge(name)`
   * reads; not through both in one replica at once: they would share, and close, one channel).
   */
  prefix?: string;
  /** Receives failures no caller can catch (a corrupt update, a failed store). Default: `console.warn`. */
  onError?: (error: WeftError) => void;
}

/** The default prefix of the Weft document names. */
export const DEFAULT_PREFIX = "automerge-repo/";

/**
 * An automerge-repo `NetworkAdapter` that syncs a Repo through a Weft folder. The Repo sees one
 * peer, the folder (`folderPeerId`), that acts like a sync server living in the same process:
 * the Repo runs Automerge's sync protocol with it, and it stores every change in the folder's
 * log (sealed and signed by the replica, so the relay sees ciphertext only) and hands the Repo
 * every change other devices wrote. Because the log is kept by the relay, a Repo that was offline
 * catches up when its replica reconnects even if no other device is online, and the folder
 * peer is there while offline too: changes made then are stored and sent later.
 *
 * Ephemeral messages (`handle.broadcast`, presence) are sealed by the replica and sent to the
 * folder's online devices only, never stored; at most {@link MAX_EPHEMERAL_BYTES} each.
 *
 * One adapter per replica. The adapter does not start or stop the replica: going offline is
 * `replica.stop()`, and the Repo keeps working against the local folder meanwhile.
 */
export class WeftNetworkAdapter extends NetworkAdapter implements FolderDocHost {
  /** The id of the peer the Repo sees: this device's copy of the folder. */
  readonly folderPeerId: PeerId;
  readonly #replica: AdapterReplica;
  readonly #prefix: string;
  readonly #onError: (error: WeftError) => void;
  readonly #docs = new Map<DocumentId, Promise<FolderDoc>>();
  #connected = false;
  /** The Repo connected once and disconnected since. */
  #disconnected = false;
  #whenReady: Promise<void>;
  #ready: () => void = () => undefined;

  constructor(options: WeftNetworkAdapterOptions) {
    super();
    this.#replica = options.replica;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#onError =
      options.onError ??
      ((error) => console.warn(`weft: automerge-repo: ${error.message}`, error.cause));
    this.folderPeerId = `weft-folder-${this.#replica.deviceId}` as PeerId;
    this.#whenReady = new Promise((resolve) => (this.#ready = resolve));
  }

  /** The Repo's peer id while connected. */
  get repoPeerId(): PeerId | undefined {
    return this.#connected ? this.peerId : undefined;
  }

  isReady(): boolean {
    return this.#connected;
  }

  whenReady(): Promise<void> {
    return this.#whenReady;
  }

  /** Called by the Repo: announces the folder peer (at once: the folder is local first). */
  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    if (this.#connected) this.disconnect();
    this.peerId = peerId;
    this.peerMetadata = peerMetadata ?? {};
    this.#connected = true;
    this.#disconnected = false;
    this.#ready();
    this.emit("peer-candidate", { peerId: this.folderPeerId, peerMetadata: {} });
  }

  /** Called by the Repo: drops the folder peer and every sync state (the documents stay stored). */
  disconnect(): void {
    if (!this.#connected) return;
    this.#connected = false;
    this.#disconnected = true;
    this.#whenReady = new Promise((resolve) => (this.#ready = resolve));
    const docs = [...this.#docs.values()];
    this.#docs.clear();
    for (const doc of docs)
      void doc.then(
        (d) => d.close(),
        () => undefined,
      );
    this.emit("peer-disconnected", { peerId: this.folderPeerId });
  }

  /** Called by the Repo: a message for the folder peer. */
  send(message: Message): void {
    if (!this.#connected || message.targetId !== this.folderPeerId) return;
    const id = message.documentId;
    if (id === undefined) return; // remote-heads subscriptions: the folder has no storage ids
    switch (message.type) {
      case "sync":
      case "request":
        this.#doc(id).then(
          (doc) => doc.fromRepo(message),
          (error: unknown) => this.report(asWeftError(error, `opening document ${id}`)),
        );
        return;
      case "ephemeral":
        // Only the Repo's own: the relay already reaches every device, so forwarding echoes.
        if (message.senderId === this.peerId) this.#sendEphemeral(id, message);
        return;
      default:
        return; // doc-unavailable and the like: the folder asks the Repo nothing
    }
  }

  /**
   * Resolves once this device's folder holds everything `handle` holds now: stored durably in
   * the replica's `StateStore`, so the replica sends it whenever it is online (`replica.syncOnce()`
   * then waits for the relay), or come back through the log from another device. The Repo hands
   * changes over on a short throttle, so an app that closes right after a change awaits this.
   */
  async whenStored(handle: { documentId: DocumentId; doc(): A.Doc<unknown> }): Promise<void> {
    // A Repo connects its adapters a moment after it is made: wait for that, not for a reconnect.
    if (!this.#connected && !this.#disconnected) await this.#whenReady;
    if (!this.#connected) throw new WeftError("CLOSED", "the adapter's Repo has disconnected");
    const heads = A.getHeads(handle.doc());
    const doc = await this.#doc(handle.documentId);
    await doc.whenStored(heads);
  }

  /** @internal For the folder's documents: hands a message to the Repo while connected. */
  deliver(message: Message): void {
    if (this.#connected) this.emit("message", message);
  }

  /** @internal For the folder's documents: reports a failure to `onError`. */
  report(error: WeftError): void {
    try {
      this.#onError(error);
    } catch {
      // A throwing error handler has nowhere left to report to.
    }
  }

  #doc(id: DocumentId): Promise<FolderDoc> {
    let doc = this.#docs.get(id);
    if (!doc) {
      doc = this.#replica.openDocChannel(this.#prefix + id, "automerge").then((channel) => {
        const folderDoc = new FolderDoc(id, channel, this);
        channel.on("ephemeral", ({ payload, from }) => this.#receiveEphemeral(id, payload, from));
        return folderDoc;
      });
      this.#docs.set(id, doc);
      doc.catch(() => this.#docs.delete(id));
    }
    return doc;
  }

  #sendEphemeral(id: DocumentId, message: Message): void {
    const { sessionId, count } = message as Message & { sessionId?: unknown; count?: unknown };
    const payload = cbor.encode({
      senderId: message.senderId,
      sessionId,
      count,
      data: message.data,
    });
    if (payload.byteLength > MAX_EPHEMERAL_BYTES) {
      this.report(
        new WeftError(
          "INVALID_ARGUMENT",
          `an ephemeral message of ${payload.byteLength} bytes exceeds ${MAX_EPHEMERAL_BYTES}; dropped`,
        ),
      );
      return;
    }
    this.#doc(id)
      .then((doc) => doc.channel.publishEphemeral(payload))
      .catch((error: unknown) => this.report(asWeftError(error, `sending to document ${id}`)));
  }

  #receiveEphemeral(id: DocumentId, payload: Uint8Array, from: DeviceId): void {
    const target = this.repoPeerId;
    if (target === undefined) return;
    let decoded: unknown;
    try {
      decoded = cbor.decode(payload);
    } catch (error) {
      this.report(asWeftError(error, `an ephemeral message from ${from} that does not decode`));
      return;
    }
    const m = decoded as {
      senderId?: unknown;
      sessionId?: unknown;
      count?: unknown;
      data?: unknown;
    };
    if (
      typeof m.senderId !== "string" ||
      typeof m.sessionId !== "string" ||
      typeof m.count !== "number" ||
      !(m.data instanceof Uint8Array)
    ) {
      this.report(
        new WeftError("INVALID_ENCODING", `an ephemeral message from ${from} is malformed`),
      );
      return;
    }
    this.deliver({
      type: "ephemeral",
      senderId: m.senderId as PeerId,
      targetId: target,
      documentId: id,
      sessionId: m.sessionId,
      count: m.count,
      data: m.data,
    } as Message);
  }
}

function asWeftError(error: unknown, context: string): WeftError {
  if (error instanceof WeftError) return error;
  return new WeftError("INVALID_ARGUMENT", `${context}: ${String(error)}`, { cause: error });
}
