/** What the protocol server sees of a client connection, of who is on it, and what it reports. */
import type { DeviceId, FolderId } from "@weft/crypto";
import type { Message } from "../protocol/messages.js";

/** Who a connection is, once authenticated. */
export interface Principal {
  /** The account: roles are per account and folder. */
  accountId: string;
  /** The device: presence, acks and envelope signatures are per device. */
  deviceId: DeviceId;
  /** When the access token it authenticated with expires, in milliseconds since the epoch. */
  expires: number;
}

/**
 * One client connection, as {@link ProtocolServer} sees it. The transport (the relay's
 * WebSocket endpoint, the test hub's in-memory links) creates one per socket, feeds its frames
 * to the server and tells it when the socket drains and closes; the server keeps its protocol
 * state in the fields below.
 */
export interface ProtocolConnection {
  send(message: Message): void;
  /**
   * Sends a message encoded already: a fan-out encodes once for every subscriber. `live` marks
   * a live `envelopes` push (the test hub may duplicate or delay those, never a replay).
   */
  sendFrame(frame: Uint8Array, live?: boolean): void;
  /** Ends the connection after what was sent (a protocol error). */
  close(code: number, reason: string): void;
  /** Bytes sent but not yet written to the network; a replay waits while this is high. */
  bufferedAmount?(): number;
  /** Called when the connection authenticates (the transport stops counting it as pre-auth). */
  authenticated?(): void;
  /**
   * Optional transport fan-out (the relay's uWebSockets.js topics): the connection joins the
   * folder's channel, and from then on a frame {@link publish}ed there reaches it, encoded and
   * handed to the transport once for every joined connection, in order with what is sent to
   * it directly. The server joins a connection once it has caught up with the folder's feed.
   */
  join?(folderId: FolderId): void;
  /** Leaves the folder's channel (a no-op if not joined or closed). */
  leave?(folderId: FolderId): void;
  /**
   * Publishes a frame to every connection that joined the folder's channel, this one included
   * only if `self` (its own append is not pushed back to it).
   */
  publish?(folderId: FolderId, frame: Uint8Array, self: boolean): void;
  greeted: boolean;
  /** The protocol version negotiated in `hello` (from 3 a connection's own appends are not pushed back to it). */
  version?: number;
  principal: Principal | undefined;
  readonly folders: Set<FolderId>;
  /** Set when the server ended the connection (token expired, signed out, removed): it is closing. */
  ended?: boolean;
}

/** A fresh {@link ProtocolConnection}'s protocol state, to spread into one. */
export function newConnectionState(): Pick<
  ProtocolConnection,
  "greeted" | "principal" | "folders"
> {
  return { greeted: false, principal: undefined, folders: new Set() };
}

/** What the server reports, for logs, metrics and the audit stream; every hook is optional. */
export interface ProtocolServerEvents {
  /**
   * An envelope was stored by this server (not a retried duplicate) under `seq`: what a bus
   * between relays publishes, for the others to `ProtocolServer.deliver`.
   */
  appended?(folderId: FolderId, seq: number, envelope: Uint8Array): void;
  /**
   * The folder gained its first local subscriber: from now on its entries appended elsewhere
   * are wanted (`ProtocolServer.deliver`). The subscriber is answered once the promise settles
   * (a bus resolves it when it listens), and what was appended meanwhile is read from the store.
   */
  watch?(folderId: FolderId): void | Promise<void>;
  /** The folder lost its last local subscriber: its entries appended elsewhere are not wanted. */
  unwatch?(folderId: FolderId): void;
  /**
   * A presence or ephemeral frame from `from` went to the folder's local subscribers: what a
   * bus publishes, for the other relays to `ProtocolServer.relayBroadcast`.
   */
  broadcast?(folderId: FolderId, from: DeviceId, frame: Uint8Array): void;
  /** An append's signature did not verify for its device. */
  signatureFailure?(principal: Principal, folderId: FolderId): void;
  /** A frame was decoded as a message of this type. */
  message?(type: string): void;
  /** A frame could not be decoded. */
  badFrame?(): void;
}
