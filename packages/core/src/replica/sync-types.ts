/** The interfaces between a Replica's SyncEngine and the parts around it, and what it shows of the connection. */
import type { DeviceId } from "@weft/crypto";
import type { DocChannelStatus } from "../docs/channel.js";
import type { Transport } from "../protocol/transport.js";
import type { BlobStore } from "../storage/index.js";
import type { ReplicaStatus } from "./events.js";
import type { PayloadPart } from "./payload.js";

/** How the engine reaches the documents of the replica. */
export interface DocRouter {
  /** A verified document update from another device (already queued for storage by the engine). */
  remote(part: Extract<PayloadPart, { kind: "doc" }>, from: DeviceId): void;
  /** An ephemeral message from another device. */
  ephemeral(payload: Uint8Array, from: DeviceId): void;
  /** The whole state of every document, as parts (for snapshots). */
  states(): Promise<PayloadPart[]>;
  /** The connection or sync state changed. */
  statusChanged(): void;
}

/** The session documents travel over (the SyncEngine): how to send, and how it stands. */
export interface DocSession {
  /** Sends a sealed ephemeral message when online (dropped otherwise: it would be stale later). */
  postEphemeral(sealed: Uint8Array): void;
  /** The connection as a document sees it. */
  readonly docStatus: DocChannelStatus;
  /** Whether the replica has caught up with the log since it last connected. */
  readonly synced: boolean;
}

/** How the engine reaches the relay (see ReplicaOptions for the documentation of each). */
export interface SyncConfig {
  connect: (() => Transport) | undefined;
  token: (refused?: string) => string | Promise<string>;
  /** The relay's chunk store; transfers run while online. */
  remoteBlobs: BlobStore | undefined;
  snapshotEvery: number;
  reconnectDelayMs: { min: number; max: number };
  keepaliveMs: number;
  /** Adds to the keyring the keys this device was given since (see ReplicaOptions.refreshKeys). */
  refreshKeys?: () => Promise<void>;
  /** Numbers envelopes from the clock (see ReplicaOptions.clockDeviceSeq). */
  clockDeviceSeq?: boolean;
}

/** The two moments of the session the replica around the engine acts on. */
export interface SyncHost {
  /** Log entries (or a snapshot) from other devices changed `changed` items here. */
  remoteApplied(changed: number): void;
  /** The session is online (again): a moment to check what the relay lost meanwhile. */
  cameOnline(): void;
}

/** The session with the relay as people see it: `weft status` and the dashboard show this. */
export interface ConnectionState {
  /** The connection state. */
  status: ReplicaStatus;
  /** When it entered that state (ms since the epoch). */
  since: number;
  /** Why the last connection attempt failed or the last connection ended, and when. */
  lastError?: { message: string; time: number };
  /** When the next connection attempt is due (ms since the epoch), while one is scheduled. */
  nextRetryAt?: number;
}
