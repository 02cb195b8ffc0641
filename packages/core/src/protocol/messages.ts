/** Every message of the relay ⇄ device protocol, defined once as a discriminated union. */
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import { ProtocolError } from "./errors.js";
import type { ProtocolErrorCode } from "./errors.js";
import { frameLimits } from "./limits.js";

// Conventions, so the types need no repetition:
// - `requestId` is chosen by the sender of a request (any safe integer ≥ 0, unique among its
//   requests in flight on one connection) and echoed by the response (`ok`, `error` or the
//   specific reply), because responses may arrive out of order.
// - Sequence numbers (`seq`) are assigned by the relay per folder, starting at 1; 0 means
//   "none yet". Every sequence number is a safe integer ≥ 0.
// - Byte fields are ciphertext or opaque to the protocol; the relay never sees plaintext.

/** A contiguous range of protocol versions a peer supports, `min ≤ max`. */
export interface VersionRange {
  /** Lowest supported version (≥ 1). */
  min: number;
  /** Highest supported version. */
  max: number;
}

/** A piece of software, for logs and diagnostics: printable ASCII, 1–64 bytes each. */
export interface SoftwareInfo {
  /** E.g. `"weft-agent"`. */
  name: string;
  /** E.g. `"0.1.0"`. */
  version: string;
}

/** Device → relay, first frame on a connection: what it speaks and who it is. */
export interface HelloMessage {
  type: "hello";
  /** Protocol versions the device supports. */
  versions: VersionRange;
  /** The device's software. */
  client: SoftwareInfo;
}

/** Relay → device, answer to `hello`: the version both will use from now on. */
export interface WelcomeMessage {
  type: "welcome";
  /** The negotiated protocol version (see `negotiateVersion`). */
  version: number;
  /** The relay's software. */
  server: SoftwareInfo;
}

/** Device → relay: authenticates the connection. Answered by `ok` or `error` (`unauthorized`). */
export interface AuthMessage {
  type: "auth";
  /** Matches the answer. */
  requestId: number;
  /**
   * The access token (printable ASCII, no spaces, ≤ 8 KiB).
   * @remarks **Secret.** Never log it, never copy it into an error message.
   */
  token: string;
}

/**
 * Device → relay, after `auth`: is this connection still alive? Answered by `ok`. A device
 * sends one when it has heard nothing for a while, so a connection that hangs (a stalled
 * network, a half-open TCP connection) is found and replaced instead of waited on forever.
 */
export interface PingMessage {
  type: "ping";
  /** Matches the answer. */
  requestId: number;
}

/** Success answer to a request whose success carries no data (`auth`, `ping`, `unsubscribe`, `snapshotPut`). */
export interface OkMessage {
  type: "ok";
  /** The request being answered. */
  requestId: number;
}

/** Either direction: a refusal or failure. A connection-level error is followed by a close. */
export interface ErrorMessage {
  type: "error";
  /** The reason. */
  code: ProtocolErrorCode;
  /** For people (≤ 1 KiB of UTF-8). Not for branching. */
  message: string;
  /** The request that failed; absent for errors about the connection itself. */
  requestId?: number;
}

/** Device → relay: push this folder's envelopes with `seq > afterSeq`, now and as they arrive. */
export interface SubscribeMessage {
  type: "subscribe";
  /** Matches the `subscribed` or `error` answer. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
  /**
   * The last sequence number the device already has (0 for none). Exclusive, so a resuming
   * device passes its last acknowledged sequence number as it is.
   */
  afterSeq: number;
}

/** Relay → device, answer to `subscribe`: the subscription is live. */
export interface SubscribedMessage {
  type: "subscribed";
  /** The `subscribe` being answered. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
  /** The folder's highest sequence number now (0 if empty): caught up once it has arrived. */
  headSeq: number;
}

/** Device → relay: stop pushing this folder. Answered by `ok`. */
export interface UnsubscribeMessage {
  type: "unsubscribe";
  /** Matches the answer. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
}

/** Device → relay: append one envelope to the folder's log. Answered by `appended` or `error`. */
export interface AppendMessage {
  type: "append";
  /** Matches the answer. */
  requestId: number;
  /** The folder; the relay checks it equals the envelope's own folder id. */
  folderId: FolderId;
  /** `encodeEnvelope` output from @weft/crypto, carried opaque (the relay verifies it). */
  envelope: Uint8Array;
}

/**
 * One compare-and-set of a strong-consistency folder's append: the relay keeps, per handle, the
 * token of the last write it accepted, and takes the append only if `base` still is that token.
 * Handles and tokens are opaque keyed digests (32 bytes) made by the devices: the relay learns
 * which appends touch the same file, never which file.
 */
export interface HeadClaim {
  /** The file's handle: a keyed digest of its id under the folder's handle key. */
  handle: Uint8Array;
  /** The head token the write replaces; empty for a file the relay has no head of (a new file). */
  base: Uint8Array;
  /** The head token once the write is accepted; empty to leave the handle with no head. */
  next: Uint8Array;
}

/**
 * Device → relay (protocol 4): `append` that the relay stores only if every claim's base is
 * still its handle's head, then moves the heads to the claims' `next`, in one step. Answered by
 * `appended`, `stale` or `error`. A retry of a stored envelope is `appended` again, whatever
 * the heads are now.
 */
export interface AppendIfMessage {
  type: "appendIf";
  /** Matches the answer. */
  requestId: number;
  /** The folder; the relay checks it equals the envelope's own folder id. */
  folderId: FolderId;
  /** `encodeEnvelope` output, as for `append`. */
  envelope: Uint8Array;
  /** At least one, each handle once. */
  claims: HeadClaim[];
}

/** Relay → device, answer to `appendIf`: nothing was stored; these handles' heads moved on. */
export interface StaleMessage {
  type: "stale";
  /** The `appendIf` being answered. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
  /** The handles whose base was not the head (at least one). */
  handles: Uint8Array[];
}

/** Relay → device, answer to `append`: the envelope is durable at `seq`. */
export interface AppendedMessage {
  type: "appended";
  /** The `append` being answered. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
  /** The folder sequence number the relay assigned (≥ 1). */
  seq: number;
  /** The envelope's own device sequence number, echoed so the device can mark it sent. */
  deviceSeq: number;
}

/** One envelope of a folder's log with the sequence number the relay gave it. */
export interface SequencedEnvelope {
  /** Folder sequence number (≥ 1). */
  seq: number;
  /** `encodeEnvelope` output, opaque. */
  envelope: Uint8Array;
}

/** Relay → device: log entries of a subscribed folder, in order. */
export interface EnvelopesMessage {
  type: "envelopes";
  /** The folder. */
  folderId: FolderId;
  /** 1 to `maxEnvelopesPerBatch` entries with strictly increasing `seq`. */
  items: readonly SequencedEnvelope[];
}

/** Device → relay: everything up to `seq` is applied and durable here. No answer. */
export interface AckMessage {
  type: "ack";
  /** The folder. */
  folderId: FolderId;
  /** Highest sequence number applied. */
  seq: number;
}

/** Device → relay: store an encrypted snapshot of the folder index. Answered by `ok`. */
export interface SnapshotPutMessage {
  type: "snapshotPut";
  /** Matches the answer. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
  /** Key epoch the snapshot is sealed under (u32). */
  epoch: number;
  /** The snapshot reflects every envelope with `seq ≤ coversSeq`. */
  coversSeq: number;
  /** The sealed snapshot, opaque. */
  ciphertext: Uint8Array;
}

/** Device → relay: ask for the newest snapshot. Answered by `snapshot`. */
export interface SnapshotGetMessage {
  type: "snapshotGet";
  /** Matches the answer. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
}

/** A stored snapshot as `snapshot` returns it. */
export interface SnapshotData {
  /** Key epoch (u32). */
  epoch: number;
  /** Covers every envelope with `seq ≤ coversSeq`. */
  coversSeq: number;
  /** The sealed snapshot, opaque. */
  ciphertext: Uint8Array;
}

/** Relay → device, answer to `snapshotGet`. */
export interface SnapshotMessage {
  type: "snapshot";
  /** The `snapshotGet` being answered. */
  requestId: number;
  /** The folder. */
  folderId: FolderId;
  /** The newest snapshot, or null when the folder has none. */
  snapshot: SnapshotData | null;
}

/** Device → relay: which of these chunks does the relay lack? Answered by `haveResult`. */
export interface HaveCheckMessage {
  type: "haveCheck";
  /** Matches the answer. */
  requestId: number;
  /** The folder the chunks belong to. */
  folderId: FolderId;
  /** 1 to `maxChunkIdsPerCheck` distinct chunk ids. */
  chunkIds: readonly ChunkId[];
}

/** Relay → device, answer to `haveCheck`. */
export interface HaveResultMessage {
  type: "haveResult";
  /** The `haveCheck` being answered. */
  requestId: number;
  /** The asked-for chunk ids the relay does not hold (distinct; may be empty). */
  missing: readonly ChunkId[];
}

/** A device's connection state as peers see it. */
export type PresenceStatus = "online" | "away" | "offline";

/**
 * Either direction: a device's presence in a folder. A device sends its own; the relay checks
 * `deviceId` against the authenticated device and fans it out to the folder's other members.
 */
export interface PresenceMessage {
  type: "presence";
  /** The folder. */
  folderId: FolderId;
  /** The device the presence is about. */
  deviceId: DeviceId;
  /** Online, away (connected but idle) or offline. */
  status: PresenceStatus;
  /** The device's highest acknowledged sequence number: how far behind it is. */
  ackedSeq: number;
  /** Optional app-level awareness (cursors…), sealed by the app; ≤ 1 KiB, opaque. */
  payload?: Uint8Array;
}

/** One device's presence in a {@link PresenceListMessage}: a `presence` message's fields. */
export type PresenceItem = Omit<PresenceMessage, "type" | "folderId">;

/**
 * Relay → device (protocol 5): the presence of several devices of a folder at once, each item
 * read as a `presence` message of its own. A subscriber that has caught up gets the folder's
 * online devices in one (or, past `maxPresenceListItems`, a few); later changes arrive batched
 * the same way, a short while after they happen. An item may be about the receiving device
 * itself (another of its connections): the device ignores those.
 */
export interface PresenceListMessage {
  type: "presenceList";
  /** The folder. */
  folderId: FolderId;
  /** At least one; each device at most once. */
  items: PresenceItem[];
}

/**
 * Either direction: a short-lived message to a folder's online devices (awareness: cursors,
 * "is typing"); never stored, so a device that is offline when it is sent never sees it.
 * Device → relay: `deviceId` must be the authenticated device (the relay checks it, as for
 * `presence`) and the relay fans it out to the folder's other subscribers; relay → device: as
 * sent.
 */
export interface EphemeralMessage {
  type: "ephemeral";
  /** The folder whose online devices receive it. */
  folderId: FolderId;
  /** The sending device. */
  deviceId: DeviceId;
  /** 1 to `maxEphemeralBytes` (8 KiB), sealed by the sender, opaque to the relay. */
  payload: Uint8Array;
}

/** Every protocol message. Narrow on `type`. */
export type Message =
  | HelloMessage
  | WelcomeMessage
  | AuthMessage
  | PingMessage
  | OkMessage
  | ErrorMessage
  | SubscribeMessage
  | SubscribedMessage
  | UnsubscribeMessage
  | AppendMessage
  | AppendIfMessage
  | AppendedMessage
  | StaleMessage
  | EnvelopesMessage
  | AckMessage
  | SnapshotPutMessage
  | SnapshotGetMessage
  | SnapshotMessage
  | HaveCheckMessage
  | HaveResultMessage
  | PresenceMessage
  | PresenceListMessage
  | EphemeralMessage;

/** The `type` of a {@link Message}. */
export type MessageType = Message["type"];

/** The message of one type, e.g. `MessageOf<"append">`. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/**
 * The `error` message to send for `error`: a {@link ProtocolError} keeps its code and message;
 * anything else becomes `internal` with a fixed text, because an unexpected error's message
 * may reveal internals (paths, SQL) to the peer. Log the original on your side.
 */
export function errorMessageFor(error: unknown, requestId?: number): ErrorMessage {
  const out: ErrorMessage =
    error instanceof ProtocolError
      ? { type: "error", code: error.wireCode, message: fitText(error.message) }
      : { type: "error", code: "internal", message: "internal error" };
  if (requestId !== undefined) out.requestId = requestId;
  return out;
}

/** The {@link ProtocolError} a received `error` message stands for, to reject a pending request. */
export function protocolErrorFrom(message: ErrorMessage): ProtocolError {
  return new ProtocolError(message.code, `peer reported ${message.code}: ${message.message}`);
}

/**
 * `text` made encodable as an error message: lone surrogates become U+FFFD (they have no UTF-8
 * form) and the text is cut at a code point boundary to `maxErrorMessageBytes`, so turning an
 * error into a message can never itself fail.
 */
function fitText(text: string): string {
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const isLoneSurrogate = cp >= 0xd800 && cp <= 0xdfff;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > frameLimits.maxErrorMessageBytes) break;
    out += isLoneSurrogate ? "\ufffd" : ch;
    bytes += size;
  }
  return out;
}
