/** One automerge-repo document as the folder peer keeps it: an Automerge copy on a Weft doc channel. */
import * as A from "@automerge/automerge";
import type { DocumentId, Message, PeerId } from "@automerge/automerge-repo";
import type { DocChannel } from "@weft/core";
import { WeftError, type WeftErrorCode } from "@weft/core/errors";

/** What a `FolderDoc` needs from its adapter. */
export interface FolderDocHost {
  /** The folder peer's id (the sender of everything the folder doc says). */
  readonly folderPeerId: PeerId;
  /** The Repo's peer id, or undefined when the Repo is not connected. */
  readonly repoPeerId: PeerId | undefined;
  /** Hands a message to the Repo. */
  deliver(message: Message): void;
  /** Reports a failure nobody's caller can receive. */
  report(error: WeftError): void;
}

/**
 * The folder peer's side of one document. It runs Automerge's sync protocol with the Repo (one
 * sync state, reset with the connection), stores whatever the Repo sends it on the Weft channel
 * (sealed into the folder's log, so every device and every later session gets it), and turns
 * what other devices wrote into sync messages for the Repo.
 *
 * Every operation is serialized on `chain`: a sync message must be applied before the next one
 * is answered, and a publish must be durable before the Repo is told the folder has it.
 */
export class FolderDoc {
  #doc: A.Doc<unknown>;
  #sync = A.initSyncState();
  /** The Repo asked for the document while the folder had none: answer once caught up. */
  #wanted = false;
  /** A publish failed: the next one sends the whole document so no change is left behind. */
  #resendAll = false;
  #chain: Promise<void> = Promise.resolve();
  /** Callers of `whenStored` waiting for heads the folder does not hold yet. */
  #waiters: { heads: A.Heads; resolve: () => void; reject: (error: Error) => void }[] = [];
  readonly #offChannel: (() => void)[];

  constructor(
    readonly documentId: DocumentId,
    readonly channel: DocChannel,
    private readonly host: FolderDocHost,
  ) {
    let doc = A.init<unknown>();
    for (const update of channel.initial) {
      try {
        doc = A.loadIncremental(doc, update);
      } catch (error) {
        host.report(this.#error("a stored Automerge update is corrupt", error));
      }
    }
    this.#doc = doc;
    this.#offChannel = [
      channel.on("update", ({ update }) => {
        void this.#enqueue(() => this.#fromFolder(update));
      }),
      channel.on("synced", ({ synced }) => {
        if (synced) void this.#enqueue(() => this.#answerWanted());
      }),
    ];
    channel.setStateProvider(() => A.save(this.#doc));
  }

  /** Applies a `sync` or `request` message from the Repo and answers it. */
  fromRepo(message: Message): Promise<void> {
    return this.#enqueue(() => this.#fromRepo(message));
  }

  /**
   * Resolves once the folder holds `heads`: published (durable on this device, sent whenever
   * online) or come back through the log (then already on the relay). Rejects with a `WeftError` (`CLOSED`) if the Repo disconnects
   * first.
   */
  whenStored(heads: A.Heads): Promise<void> {
    if (A.hasHeads(this.#doc, heads)) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ heads, resolve, reject }));
  }

  /** Forgets the sync state (the Repo reconnected and starts afresh) and the channel. */
  close(): void {
    for (const off of this.#offChannel.splice(0)) off();
    for (const w of this.#waiters.splice(0))
      w.reject(new WeftError("CLOSED", `document ${this.documentId}: disconnected before stored`));
    this.channel.close();
  }

  /** Runs `step` after the steps before it; never rejects (failures go to the host). */
  #enqueue(step: () => Promise<void> | void): Promise<void> {
    const next = this.#chain.then(step).catch((error: unknown) => {
      this.host.report(
        error instanceof WeftError ? error : this.#error("a sync step failed", error),
      );
    });
    this.#chain = next;
    return next;
  }

  async #fromRepo(message: Message): Promise<void> {
    if (!(message.data instanceof Uint8Array)) return;
    const before = A.getHeads(this.#doc);
    let doc: A.Doc<unknown>;
    let sync: A.SyncState;
    try {
      [doc, sync] = A.receiveSyncMessage(this.#doc, this.#sync, message.data);
    } catch (error) {
      throw this.#error("the Repo sent a sync message that does not decode", error);
    }
    this.#doc = doc;
    this.#sync = sync;
    if (!sameHeads(before, A.getHeads(doc))) await this.#publish(before);
    if (message.type === "request" && A.getHeads(doc).length === 0) {
      this.#wanted = true;
      this.#answerWanted();
      return;
    }
    this.#flush();
  }

  #fromFolder(update: Uint8Array): void {
    const before = A.getHeads(this.#doc);
    try {
      // Always keep the returned doc: Automerge marks the previous one outdated.
      this.#doc = A.loadIncremental(this.#doc, update);
    } catch (error) {
      throw this.#error("a received Automerge update is corrupt", error);
    }
    // Duplicates and changes still waiting for their dependencies move no heads.
    if (sameHeads(before, A.getHeads(this.#doc))) return;
    this.#wanted = false;
    // The Repo's own changes may come back this way first (another device got them live and
    // put them in the log): they are in the relay's log then, and the Repo, seeing the folder
    // has them, publishes nothing more here.
    this.#release();
    this.#flush();
  }

  /** Says "unavailable" to a Repo that asked for a document the folder does not hold, once sure. */
  #answerWanted(): void {
    const target = this.host.repoPeerId;
    if (!this.#wanted || target === undefined) return;
    if (A.getHeads(this.#doc).length > 0) {
      this.#wanted = false;
      this.#flush();
      return;
    }
    // Before the replica has caught up with the log, another device may still have written it.
    if (!this.channel.synced) return;
    this.#wanted = false;
    this.host.deliver({
      type: "doc-unavailable",
      senderId: this.host.folderPeerId,
      targetId: target,
      documentId: this.documentId,
    });
  }

  async #publish(before: A.Heads): Promise<void> {
    const payload = this.#resendAll ? A.save(this.#doc) : A.saveSince(this.#doc, before);
    try {
      await this.channel.publish(payload);
      this.#resendAll = false;
      this.#release();
    } catch (error) {
      // Later changes depend on this one: without it other devices would queue them forever.
      this.#resendAll = true;
      throw this.#error("storing the Repo's changes in the folder failed", error, "STORAGE");
    }
  }

  /** Resolves the `whenStored` callers whose heads the folder now holds. */
  #release(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!A.hasHeads(this.#doc, w.heads)) return true;
      w.resolve();
      return false;
    });
  }

  /** Sends the Repo every sync message the protocol has for it now. */
  #flush(): void {
    const target = this.host.repoPeerId;
    if (target === undefined) return;
    for (;;) {
      const [sync, data] = A.generateSyncMessage(this.#doc, this.#sync);
      this.#sync = sync;
      if (data === null) return;
      this.host.deliver({
        type: "sync",
        senderId: this.host.folderPeerId,
        targetId: target,
        documentId: this.documentId,
        data,
      });
    }
  }

  #error(message: string, cause: unknown, code: WeftErrorCode = "INVALID_UPDATE"): WeftError {
    return new WeftError(code, `document ${this.documentId}: ${message}`, { cause });
  }
}

function sameHeads(a: A.Heads, b: A.Heads): boolean {
  return a.length === b.length && a.every((h, i) => h === b[i]);
}
