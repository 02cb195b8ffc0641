/** What the parts of a Replica share: identity, keys, index, stores, counters, events, the clock and the one serial lane. */
import type { DeviceIdentity, FolderId } from "@weft/crypto";
import type { Clock } from "../clock.js";
import type { FolderIndex } from "../folder/folder-index.js";
import type { BlobStore } from "../storage/index.js";
import type { ChunkKeys } from "./chunk-codec.js";
import type { Emitter, ReplicaEventMap } from "./events.js";
import type { LocalState, ReplicaMeta } from "./local-state.js";
import type { RecordAttestations } from "./record-attestations.js";

/**
 * One lane for everything that changes the index or the stored counters: local operations,
 * remote batches, sealing. Yjs is synchronous, but persisting is not; without the lane a remote
 * batch could land between a local change and its transaction, and the transaction would
 * store the wrong update under the wrong counters.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  private depth = 0;

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.tail.then(async () => {
      this.depth++;
      try {
        return await fn();
      } finally {
        this.depth--;
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Whether something is running or queued, or work it handed on is unfinished. */
  get busy(): boolean {
    return this.depth > 0 || this.queued > 0 || this.held > 0;
  }

  private held = 0;

  /**
   * Counts work a task hands on past the lane (a commit waiting to be durable) as busy until
   * the returned function is called, so that nobody takes the replica for idle meanwhile.
   */
  hold(): () => void {
    this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
    };
  }

  private queued = 0;

  /** Like `run`, counting the task as queued until it starts (for idle checks). */
  track<T>(fn: () => T | Promise<T>): Promise<T> {
    this.queued++;
    return this.run(() => {
      this.queued--;
      return fn();
    });
  }
}

/** The shared state of one Replica. */
export interface ReplicaContext {
  readonly folderId: FolderId;
  readonly identity: DeviceIdentity;
  readonly keys: ChunkKeys;
  readonly index: FolderIndex;
  readonly local: LocalState;
  /** The newest record attestation of each device, and this device's own (snapshots need them). */
  readonly attestations: RecordAttestations;
  readonly blobs: BlobStore;
  readonly meta: ReplicaMeta;
  readonly events: Emitter<ReplicaEventMap>;
  readonly serial: Serial;
  /** Every timer and timestamp of the replica (ReplicaOptions.time). */
  readonly clock: Clock;
}
