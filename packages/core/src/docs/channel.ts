/** The contract between the Replica and a synced document: a sealed stream of updates per name. */
import type { DeviceId } from "@weft/crypto";

/**
 * Largest ephemeral payload a document may send: the protocol's 8 KiB frame payload less what
 * sealing adds (epoch, nonce, tag, the document's type and name of up to 240 bytes).
 */
export const MAX_EPHEMERAL_BYTES = 8 * 1024 - 320;

/** The CRDT a document channel carries. */
export type DocType = "yjs" | "automerge";

/** Where the channel's replica is: connected to the relay (or hub) or not. */
export type DocChannelStatus = "connecting" | "connected" | "disconnected";

/** The events of a {@link DocChannel}. */
export interface DocChannelEventMap {
  /** A verified, decrypted update another device wrote (or a snapshot section a new device loads). */
  update: { update: Uint8Array; from: DeviceId };
  /** An ephemeral message (awareness: cursors, presence) from another online device. */
  ephemeral: { payload: Uint8Array; from: DeviceId };
  /** The replica's connection changed. */
  status: { status: DocChannelStatus };
  /** The replica caught up with the log (true) or fell behind after a reconnect (false). */
  synced: { synced: boolean };
}

/**
 * One named document of a folder as the Replica carries it: every local update is persisted,
 * sealed into an envelope and appended to the folder's log; every remote one arrives here
 * verified and decrypted. The name never leaves the device in the clear.
 *
 * A document implementation (Yjs, Automerge) binds to a channel: it loads `initial`, publishes
 * its local updates, applies `update` events, and hands the channel a `state()` function so
 * the replica can compact its local storage and write folder snapshots with one entry per
 * document instead of every update.
 */
export interface DocChannel {
  /** The document's name (any non-empty string up to 255 UTF-8 bytes). */
  readonly name: string;
  /** The CRDT it carries. */
  readonly type: DocType;
  /** This device. */
  readonly device: DeviceId;
  /** The updates stored on this device when the channel opened, oldest first (a state, then deltas). */
  readonly initial: readonly Uint8Array[];
  /** Current connection status. */
  readonly status: DocChannelStatus;
  /** Whether the replica has caught up with the log since it last connected. */
  readonly synced: boolean;
  /**
   * Publishes a local update: stored locally at once (durable when the promise resolves), then
   * sealed and sent whenever the replica is connected.
   */
  publish(update: Uint8Array): Promise<void>;
  /** Sends an ephemeral payload (≤ {@link MAX_EPHEMERAL_BYTES}) to the folder's online devices; dropped when offline. */
  publishEphemeral(payload: Uint8Array): void;
  /** The whole current state as one update; the replica calls it to compact and snapshot. */
  setStateProvider(state: () => Uint8Array): void;
  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof DocChannelEventMap>(
    event: E,
    listener: (payload: DocChannelEventMap[E]) => void,
  ): () => void;
  /** Detaches the channel from the replica (the document stays stored). */
  close(): void;
}
