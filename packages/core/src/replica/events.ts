/** The events a Replica emits, with typed payloads, and the small emitter behind them. */
import type { DeviceId } from "@weft/crypto";
import type { ConflictInfo } from "../folder/folder-index.js";
import type { RefusedWrite } from "./strong-types.js";

/** A device of the folder as this replica sees it. */
export interface PeerInfo {
  /** The device. */
  deviceId: DeviceId;
  /** Whether it is connected to the relay now (as the relay last said). */
  online: boolean;
  /** When this replica last heard of it (ms since the epoch); 0 if only seen in the log. */
  lastSeen: number;
  /** The highest folder sequence number it has acknowledged. */
  ackedSeq: number;
  /**
   * How far it is behind this replica: the items (file changes and document updates) in log
   * entries this replica has and it has not acknowledged. Syncthing's "out of sync items".
   */
  behind: number;
}

/** Progress of chunk transfers. */
export interface TransferProgress {
  /** Which way. */
  direction: "upload" | "download";
  /** Chunks finished in this run of the queue. */
  done: number;
  /** Chunks in this run of the queue (grows as work is added). */
  total: number;
  /** Bytes moved in this run (sealed bytes). */
  bytes: number;
}

/** Connection state of a replica. */
export type ReplicaStatus = "stopped" | "offline" | "connecting" | "online";

/** Every event and its payload. */
export interface ReplicaEventMap {
  /** The tree or a document changed: by a local operation or by updates from other devices. */
  change: { origin: "local" | "remote"; changed: number };
  /** Files with unresolved concurrent versions after a remote change (the full current list). */
  conflict: { conflicts: ConflictInfo[] };
  /** A peer came online, went offline, or acknowledged more. */
  peer: PeerInfo;
  /** Chunks moved. */
  progress: TransferProgress;
  /**
   * Something failed that the replica got past: a refused envelope, a corrupt chunk, a failed
   * connection attempt. `context` says what it was doing, for people.
   */
  error: { error: Error; context: string };
  /**
   * A strong folder's write was refused: the file changed elsewhere first. The write is kept
   * ({@link Replica.refusedWrites}) until re-applied or discarded.
   */
  refused: RefusedWrite;
  /** The connection state changed, or the replica caught up (`synced`). */
  status: { status: ReplicaStatus; synced: boolean };
}

type Listener<T> = (payload: T) => void;

/** A typed event emitter whose listeners cannot break the emitter: a throw becomes an `error` event. */
export class Emitter<M extends { error: { error: Error; context: string } }> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  on<E extends keyof M>(event: E, listener: Listener<M[E]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<E extends keyof M>(event: E, payload: M[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<M[E]>)(payload);
      } catch (error) {
        if (event === "error") continue; // nowhere left to report it; never loop
        this.emit("error", {
          error: error instanceof Error ? error : new Error(String(error)),
          context: `a ${String(event)} listener threw`,
        });
      }
    }
  }
}
