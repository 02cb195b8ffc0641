/** Local changes made durable: each index or document change stored with its uploads in one transaction, then queued to send. */
import type { ChunkId } from "@weft/crypto";
import * as Y from "yjs";
import type { StateOp } from "../storage/index.js";
import type { ReplicaContext } from "./context.js";
import type { Outbox } from "./outbox.js";
import type { PayloadPart } from "./payload.js";
import type { Transfers } from "./transfers.js";
import type { ChunkPlace } from "./types.js";

/** Who sends what a commit queued (the SyncEngine). */
export interface CommitSender {
  /** Seals and sends what is ready in the outbox, and starts uploads. */
  kick(): void;
}

/**
 * Makes a replica's local changes durable and queues them: runs an operation on the index in
 * the serial lane, captures the index updates it made, stores them (with a document update and
 * the chunks to upload) in one transaction, then queues them in the outbox for sending.
 */
export class LocalCommits {
  private captured: Uint8Array[] = [];

  constructor(
    private readonly ctx: ReplicaContext,
    private readonly transfers: Transfers,
    private readonly outbox: Outbox,
    private readonly sender: CommitSender,
  ) {
    ctx.index.onLocalUpdate((update) => this.captured.push(update));
  }

  /**
   * Runs a local index operation in the serial lane and stores what it changed, with the
   * chunks to upload, in one transaction; then queues it for sending. Resolves once durable.
   */
  commit<T>(
    op: () => T,
    fresh: ChunkId[] = [],
    docPart?: Extract<PayloadPart, { kind: "doc" }>,
    places?: ReadonlyMap<ChunkId, ChunkPlace>,
  ): Promise<T> {
    // The lane is held while the change is made and its ops are queued, not while they become
    // durable: commits queued meanwhile join the same store transaction (see LocalState).
    return this.ctx.serial
      .run(() => {
        this.captured = [];
        const result = op();
        const updates = this.captured;
        this.captured = [];
        const parts: PayloadPart[] = [];
        if (updates.length > 0)
          parts.push({
            kind: "index",
            update: updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates),
          });
        if (docPart) parts.push(docPart);
        if (parts.length === 0) return { result };
        const local = this.ctx.local;
        const ops: StateOp[] = [];
        for (const part of parts) {
          ops.push(
            ...local.appendOps(
              part.kind === "index" ? "index" : `${part.type}:${part.name}`,
              part.update,
            ),
          );
          ops.push(...local.outboxOps(part));
        }
        const uploads = fresh.filter((id) => !this.transfers.uploads.has(id));
        ops.push(...local.uploadOps(uploads, places));
        if (local.needsCompaction("index"))
          ops.push(...local.compactOps("index", this.ctx.index.snapshot()));
        const release = this.ctx.serial.hold();
        return {
          result,
          durable: local
            .durable(ops, (error) =>
              this.ctx.events.emit("error", {
                error,
                context: "storing a local change (waiting for space)",
              }),
            )
            .then(() => this.committed(ops, parts, uploads, fresh, updates.length > 0, places))
            .finally(release),
        };
      })
      .then(async ({ result, durable }) => {
        await durable;
        return result;
      });
  }

  /** After a commit is durable: queue its uploads and outbox parts, in commit order. */
  private committed(
    ops: StateOp[],
    parts: PayloadPart[],
    uploads: ChunkId[],
    needs: ChunkId[],
    changed: boolean,
    places?: ReadonlyMap<ChunkId, ChunkPlace>,
  ): void {
    this.transfers.queue(uploads, places);
    // Outbox keys are assigned by outboxOps in order; recover them from the ops.
    for (const op of ops) {
      if (op.op !== "save" || op.key[1] !== "outbox") continue;
      this.outbox.add(op.key[2]!, parts.shift()!, needs);
    }
    if (changed) this.ctx.events.emit("change", { origin: "local", changed: 1 });
    this.sender.kick();
  }
}
