/** The binary codec: `encodeMessage` and `decodeMessage`, the only way a message meets bytes. */
import type { DeviceId } from "@weft/crypto";
import { ByteWriter } from "../model/varint.js";
import { ProtocolError } from "./errors.js";
import { CHUNK_ID_BYTES, FrameReader } from "./frame-reader.js";
import { HEAD_DIGEST_BYTES, frameLimits, messageFrameLimits } from "./limits.js";
import type {
  ErrorMessage,
  HeadClaim,
  Message,
  MessageType,
  PresenceItem,
  PresenceMessage,
  SequencedEnvelope,
} from "./messages.js";
import {
  CODE_BY_NUMBER,
  ERROR_CODE_NUMBERS,
  FRAME_FORMAT,
  MESSAGE_TAGS,
  PRESENCE_BY_NUMBER,
  PRESENCE_NUMBERS,
  TYPE_BY_TAG,
} from "./tags.js";
import { validateMessage } from "./validate.js";

const HEADER_BYTES = 2;
// The smallest encoding of one batch item: a 1-byte seq and a 1-byte length with 1 byte of data.
const MIN_ITEM_BYTES = 3;

/**
 * The frame for `message`.
 * @throws ProtocolError `bad_frame` or `too_large` (naming the field) when the message is not
 * valid: an invalid frame is never produced, so the peer never has to refuse one of ours
 */
export function encodeMessage(message: Message): Uint8Array {
  const m = validateMessage(message);
  const w = new ByteWriter(capacityHint(m));
  w.u8(FRAME_FORMAT);
  w.u8(MESSAGE_TAGS[m.type]);
  switch (m.type) {
    case "hello":
      w.uint(m.versions.min);
      w.uint(m.versions.max);
      w.string(m.client.name);
      w.string(m.client.version);
      break;
    case "welcome":
      w.uint(m.version);
      w.string(m.server.name);
      w.string(m.server.version);
      break;
    case "auth":
      w.uint(m.requestId);
      w.string(m.token);
      break;
    case "ok":
    case "ping":
      w.uint(m.requestId);
      break;
    case "error":
      w.u8(ERROR_CODE_NUMBERS[m.code]);
      w.string(m.message);
      optionalUint(w, m.requestId);
      break;
    case "subscribe":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.uint(m.afterSeq);
      break;
    case "subscribed":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.uint(m.headSeq);
      break;
    case "unsubscribe":
    case "snapshotGet":
      w.uint(m.requestId);
      w.string(m.folderId);
      break;
    case "append":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.bytes(m.envelope);
      break;
    case "appended":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.uint(m.seq);
      w.uint(m.deviceSeq);
      break;
    case "appendIf":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.bytes(m.envelope);
      w.uint(m.claims.length);
      for (const c of m.claims) {
        w.bytes(c.handle);
        w.bytes(c.base);
        w.bytes(c.next);
      }
      break;
    case "stale":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.uint(m.handles.length);
      for (const h of m.handles) w.bytes(h);
      break;
    case "envelopes":
      w.string(m.folderId);
      w.uint(m.items.length);
      for (const item of m.items) {
        w.uint(item.seq);
        w.bytes(item.envelope);
      }
      break;
    case "ack":
      w.string(m.folderId);
      w.uint(m.seq);
      break;
    case "snapshotPut":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.uint(m.epoch);
      w.uint(m.coversSeq);
      w.bytes(m.ciphertext);
      break;
    case "snapshot":
      w.uint(m.requestId);
      w.string(m.folderId);
      w.u8(m.snapshot === null ? 0 : 1);
      if (m.snapshot !== null) {
        w.uint(m.snapshot.epoch);
        w.uint(m.snapshot.coversSeq);
        w.bytes(m.snapshot.ciphertext);
      }
      break;
    case "haveCheck":
      w.uint(m.requestId);
      w.string(m.folderId);
      chunkIds(w, m.chunkIds);
      break;
    case "haveResult":
      w.uint(m.requestId);
      chunkIds(w, m.missing);
      break;
    case "presence":
      w.string(m.folderId);
      w.string(m.deviceId);
      w.u8(PRESENCE_NUMBERS[m.status]);
      w.uint(m.ackedSeq);
      w.u8(m.payload === undefined ? 0 : 1);
      if (m.payload !== undefined) w.bytes(m.payload);
      break;
    case "presenceList":
      w.string(m.folderId);
      w.uint(m.items.length);
      for (const item of m.items) {
        w.string(item.deviceId);
        w.u8(PRESENCE_NUMBERS[item.status]);
        w.uint(item.ackedSeq);
        w.u8(item.payload === undefined ? 0 : 1);
        if (item.payload !== undefined) w.bytes(item.payload);
      }
      break;
    case "ephemeral":
      w.string(m.folderId);
      w.string(m.deviceId);
      w.bytes(m.payload);
      break;
  }
  const frame = w.finish();
  // Validation bounds every field, and the per-type limits are set above the largest valid
  // message (tested); this guards the two tables against drifting apart.
  if (frame.length > messageFrameLimits[m.type]) {
    throw new ProtocolError(
      "too_large",
      `${m.type} frame of ${frame.length} bytes is over its limit`,
    );
  }
  return frame;
}

/**
 * The message in `frame`, fully validated.
 *
 * Untrusted input is expected here: every length is checked against its limit and against the
 * bytes actually present before anything is copied, so the memory a frame can make the decoder
 * allocate is bounded by the frame's own size (plus one small object per array item, and items
 * are capped too). A 10-byte frame claiming a 1 GiB field fails without allocating it.
 *
 * @throws ProtocolError, and nothing else: `too_large` when the frame or a field exceeds its
 * limit, `unsupported_version` when byte 0 is not a known frame format, `bad_frame` for
 * everything else (truncation, trailing bytes, unknown tag, invalid field). Messages name the
 * field.
 */
export function decodeMessage(frame: Uint8Array): Message {
  try {
    return decode(frame);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    // Every expected failure is already a ProtocolError; this keeps the promise to callers in
    // socket callbacks (a throw of another type is treated as a bug and could kill the process)
    // while the cause still shows what went wrong.
    throw new ProtocolError("bad_frame", "frame could not be decoded", { cause: error });
  }
}

function decode(frame: Uint8Array): Message {
  if (!(frame instanceof Uint8Array)) {
    throw new ProtocolError("bad_frame", "frame must be a Uint8Array");
  }
  if (frame.length > frameLimits.maxFrameBytes) {
    throw new ProtocolError(
      "too_large",
      `frame of ${frame.length} bytes is over the limit of ${frameLimits.maxFrameBytes}`,
    );
  }
  if (frame.length < HEADER_BYTES) {
    throw new ProtocolError("bad_frame", `frame of ${frame.length} bytes has no header`);
  }
  const format = frame[0]!;
  if (format !== FRAME_FORMAT) {
    throw new ProtocolError(
      "unsupported_version",
      `frame format ${format} is not supported (this side speaks format ${FRAME_FORMAT})`,
    );
  }
  const tag = frame[1]!;
  const type = TYPE_BY_TAG.get(tag);
  if (type === undefined) {
    throw new ProtocolError(
      "bad_frame",
      `unknown message tag 0x${tag.toString(16).padStart(2, "0")}`,
    );
  }
  const limit = messageFrameLimits[type];
  if (frame.length > limit) {
    throw new ProtocolError(
      "too_large",
      `${type} frame of ${frame.length} bytes is over its limit of ${limit}`,
    );
  }
  const r = new FrameReader(frame, type);
  const message = readBody(r, type);
  r.end();
  return validateMessage(message);
}

function readBody(r: FrameReader, type: MessageType): Message {
  switch (type) {
    case "hello": {
      const versions = { min: r.uint("versions.min"), max: r.uint("versions.max") };
      return { type, versions, client: r.software("client") };
    }
    case "welcome":
      return { type, version: r.uint("version"), server: r.software("server") };
    case "auth":
      return {
        type,
        requestId: r.uint("requestId"),
        token: r.string("token", frameLimits.maxTokenBytes),
      };
    case "ok":
    case "ping":
      return { type, requestId: r.uint("requestId") };
    case "error": {
      const code = r.enumeration("code", CODE_BY_NUMBER);
      const message = r.string("message", frameLimits.maxErrorMessageBytes);
      const out: ErrorMessage = { type, code, message };
      if (r.flag("requestId")) out.requestId = r.uint("requestId");
      return out;
    }
    case "subscribe":
      return {
        type,
        requestId: r.uint("requestId"),
        folderId: r.folderId(),
        afterSeq: r.uint("afterSeq"),
      };
    case "subscribed":
      return {
        type,
        requestId: r.uint("requestId"),
        folderId: r.folderId(),
        headSeq: r.uint("headSeq"),
      };
    case "unsubscribe":
    case "snapshotGet":
      return { type, requestId: r.uint("requestId"), folderId: r.folderId() };
    case "append":
      return {
        type,
        requestId: r.uint("requestId"),
        folderId: r.folderId(),
        envelope: r.bytes("envelope", frameLimits.maxEnvelopeBytes),
      };
    case "appended":
      return {
        type,
        requestId: r.uint("requestId"),
        folderId: r.folderId(),
        seq: r.uint("seq"),
        deviceSeq: r.uint("deviceSeq"),
      };
    case "appendIf": {
      const requestId = r.uint("requestId");
      const folderId = r.folderId();
      const envelope = r.bytes("envelope", frameLimits.maxEnvelopeBytes);
      const count = r.count("claims", frameLimits.maxHeadClaims, 3);
      const claims: HeadClaim[] = [];
      for (let i = 0; i < count; i++)
        claims.push({
          handle: r.bytes(`claims[${i}].handle`, HEAD_DIGEST_BYTES),
          base: r.bytes(`claims[${i}].base`, HEAD_DIGEST_BYTES),
          next: r.bytes(`claims[${i}].next`, HEAD_DIGEST_BYTES),
        });
      return { type, requestId, folderId, envelope, claims };
    }
    case "stale": {
      const requestId = r.uint("requestId");
      const folderId = r.folderId();
      const count = r.count("handles", frameLimits.maxHeadClaims, 1);
      const handles: Uint8Array[] = [];
      for (let i = 0; i < count; i++) handles.push(r.bytes(`handles[${i}]`, HEAD_DIGEST_BYTES));
      return { type, requestId, folderId, handles };
    }
    case "envelopes": {
      const folderId = r.folderId();
      const count = r.count("items", frameLimits.maxEnvelopesPerBatch, MIN_ITEM_BYTES);
      const items: SequencedEnvelope[] = [];
      for (let i = 0; i < count; i++) {
        const seq = r.uint(`items[${i}].seq`);
        items.push({
          seq,
          envelope: r.bytes(`items[${i}].envelope`, frameLimits.maxEnvelopeBytes),
        });
      }
      return { type, folderId, items };
    }
    case "ack":
      return { type, folderId: r.folderId(), seq: r.uint("seq") };
    case "snapshotPut":
      return {
        type,
        requestId: r.uint("requestId"),
        folderId: r.folderId(),
        epoch: r.uint("epoch"),
        coversSeq: r.uint("coversSeq"),
        ciphertext: r.bytes("ciphertext", frameLimits.maxSnapshotBytes),
      };
    case "snapshot": {
      const requestId = r.uint("requestId");
      const folderId = r.folderId();
      if (!r.flag("snapshot")) return { type, requestId, folderId, snapshot: null };
      const epoch = r.uint("snapshot.epoch");
      const coversSeq = r.uint("snapshot.coversSeq");
      const ciphertext = r.bytes("snapshot.ciphertext", frameLimits.maxSnapshotBytes);
      return { type, requestId, folderId, snapshot: { epoch, coversSeq, ciphertext } };
    }
    case "haveCheck":
      return {
        type,
        requestId: r.uint("requestId"),
        folderId: r.folderId(),
        chunkIds: r.chunkIds("chunkIds"),
      };
    case "haveResult":
      return { type, requestId: r.uint("requestId"), missing: r.chunkIds("missing") };
    case "presence": {
      const folderId = r.folderId();
      const deviceId = r.string("deviceId", 39) as DeviceId;
      const status = r.enumeration("status", PRESENCE_BY_NUMBER);
      const ackedSeq = r.uint("ackedSeq");
      const out: PresenceMessage = { type, folderId, deviceId, status, ackedSeq };
      if (r.flag("payload")) out.payload = r.bytes("payload", frameLimits.maxPresencePayloadBytes);
      return out;
    }
    case "presenceList": {
      const folderId = r.folderId();
      const count = r.count("items", frameLimits.maxPresenceListItems, MIN_ITEM_BYTES);
      const items: PresenceItem[] = [];
      for (let i = 0; i < count; i++) {
        const deviceId = r.string(`items[${i}].deviceId`, 39) as DeviceId;
        const status = r.enumeration(`items[${i}].status`, PRESENCE_BY_NUMBER);
        const ackedSeq = r.uint(`items[${i}].ackedSeq`);
        const item: PresenceItem = { deviceId, status, ackedSeq };
        if (r.flag(`items[${i}].payload`))
          item.payload = r.bytes(`items[${i}].payload`, frameLimits.maxPresencePayloadBytes);
        items.push(item);
      }
      return { type, folderId, items };
    }
    case "ephemeral":
      return {
        type,
        folderId: r.folderId(),
        deviceId: r.string("deviceId", 39) as DeviceId,
        payload: r.bytes("payload", frameLimits.maxEphemeralBytes),
      };
  }
}

function optionalUint(w: ByteWriter, value: number | undefined): void {
  w.u8(value === undefined ? 0 : 1);
  if (value !== undefined) w.uint(value);
}

function chunkIds(w: ByteWriter, ids: readonly string[]): void {
  w.uint(ids.length);
  for (const id of ids) w.hex(id);
}

/** Roughly the frame's size, so a 16 MiB envelope is not copied through every doubling. */
function capacityHint(m: Message): number {
  switch (m.type) {
    case "append":
      return m.envelope.length + 64;
    case "appendIf":
      return m.envelope.length + m.claims.length * 99 + 64;
    case "stale":
      return m.handles.length * 33 + 64;
    case "envelopes":
      return m.items.reduce((sum, item) => sum + item.envelope.length + 16, 64);
    case "snapshotPut":
      return m.ciphertext.length + 64;
    case "snapshot":
      return (m.snapshot?.ciphertext.length ?? 0) + 64;
    case "haveCheck":
      return m.chunkIds.length * CHUNK_ID_BYTES + 64;
    case "haveResult":
      return m.missing.length * CHUNK_ID_BYTES + 64;
    case "ephemeral":
      return m.payload.length + 96;
    case "presenceList":
      return m.items.reduce((sum, item) => sum + (item.payload?.length ?? 0) + 64, 64);
    default:
      return 256;
  }
}
