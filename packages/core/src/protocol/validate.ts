/** Runtime validation of messages: the one definition of "valid", used by encoder and decoder. */
import { MAX_EPOCH, isChunkId, isDeviceId, isFolderId } from "@weft/crypto";
import type { ChunkId, DeviceId, FolderId } from "@weft/crypto";
import { ProtocolError, isProtocolErrorCode } from "./errors.js";
import { HEAD_DIGEST_BYTES, frameLimits } from "./limits.js";
import type { Message, PresenceStatus, SequencedEnvelope, SoftwareInfo } from "./messages.js";

// Software names end up in logs and a token in an HTTP header: printable ASCII keeps control
// characters (log injection, header splitting) out of both.
const PRINTABLE_ASCII = { re: /^[\x20-\x7e]+$/, what: "printable ASCII" };
const TOKEN_CHARS = { re: /^[\x21-\x7e]+$/, what: "printable ASCII without spaces" };
// With the `u` flag a surrogate pair is one code point, so only lone surrogates match; they
// have no UTF-8 form and would not survive an encode/decode round trip.
const LONE_SURROGATE = /\p{Cs}/u;
const PRESENCE: readonly PresenceStatus[] = ["online", "away", "offline"];

/**
 * Checks every field of `value` against the protocol's rules and returns it typed.
 *
 * The encoder calls this before writing and the decoder after reading, so a frame that one end
 * produces is exactly a frame the other accepts, and a decoded message is never invalid.
 *
 * @throws ProtocolError `too_large` when a field, array or byte string exceeds its limit in
 * `frameLimits`; `bad_frame` for anything else (wrong type, bad id, order, range). The message
 * names the field, e.g. `envelopes.items[3].seq`.
 */
export function validateMessage(value: unknown): Message {
  const m = object(value, "message");
  const type = m["type"];
  switch (type) {
    case "hello": {
      const versions = object(m["versions"], "hello.versions");
      const min = uint(versions["min"], "hello.versions.min", 1, frameLimits.maxProtocolVersion);
      const max = uint(versions["max"], "hello.versions.max", 1, frameLimits.maxProtocolVersion);
      if (min > max) throw bad("hello.versions", `min ${min} is above max ${max}`);
      software(m["client"], "hello.client");
      break;
    }
    case "welcome":
      uint(m["version"], "welcome.version", 1, frameLimits.maxProtocolVersion);
      software(m["server"], "welcome.server");
      break;
    case "auth":
      uint(m["requestId"], "auth.requestId");
      // The message names the rule, never the value: this field is a secret.
      text(m["token"], "auth.token", frameLimits.maxTokenBytes, 1, TOKEN_CHARS);
      break;
    case "ok":
    case "ping":
      uint(m["requestId"], `${type}.requestId`);
      break;
    case "error":
      if (!isProtocolErrorCode(m["code"])) throw bad("error.code", "is not a known error code");
      text(m["message"], "error.message", frameLimits.maxErrorMessageBytes, 0);
      if (m["requestId"] !== undefined) uint(m["requestId"], "error.requestId");
      break;
    case "subscribe":
      uint(m["requestId"], "subscribe.requestId");
      folderId(m["folderId"], "subscribe.folderId");
      uint(m["afterSeq"], "subscribe.afterSeq");
      break;
    case "subscribed":
      uint(m["requestId"], "subscribed.requestId");
      folderId(m["folderId"], "subscribed.folderId");
      uint(m["headSeq"], "subscribed.headSeq");
      break;
    case "unsubscribe":
    case "snapshotGet":
      uint(m["requestId"], `${type}.requestId`);
      folderId(m["folderId"], `${type}.folderId`);
      break;
    case "append":
      uint(m["requestId"], "append.requestId");
      folderId(m["folderId"], "append.folderId");
      bytes(m["envelope"], "append.envelope", frameLimits.maxEnvelopeBytes, 1);
      break;
    case "appendIf": {
      uint(m["requestId"], "appendIf.requestId");
      folderId(m["folderId"], "appendIf.folderId");
      bytes(m["envelope"], "appendIf.envelope", frameLimits.maxEnvelopeBytes, 1);
      const claims = array(m["claims"], "appendIf.claims", frameLimits.maxHeadClaims, 1);
      const seen = new Set<string>();
      claims.forEach((raw, i) => {
        const c = object(raw, `appendIf.claims[${i}]`);
        bytes(c["handle"], `appendIf.claims[${i}].handle`, HEAD_DIGEST_BYTES, HEAD_DIGEST_BYTES);
        for (const f of ["base", "next"]) {
          const field = `appendIf.claims[${i}].${f}`;
          bytes(c[f], field, HEAD_DIGEST_BYTES, 0);
          const length = (c[f] as Uint8Array).length;
          if (length !== 0 && length !== HEAD_DIGEST_BYTES)
            throw bad(field, `must be empty or ${HEAD_DIGEST_BYTES} bytes`);
        }
        const key = hexOf(c["handle"] as Uint8Array);
        if (seen.has(key)) throw bad(`appendIf.claims[${i}].handle`, "is claimed twice");
        seen.add(key);
      });
      break;
    }
    case "stale": {
      uint(m["requestId"], "stale.requestId");
      folderId(m["folderId"], "stale.folderId");
      const handles = array(m["handles"], "stale.handles", frameLimits.maxHeadClaims, 1);
      handles.forEach((h, i) =>
        bytes(h, `stale.handles[${i}]`, HEAD_DIGEST_BYTES, HEAD_DIGEST_BYTES),
      );
      break;
    }
    case "appended":
      uint(m["requestId"], "appended.requestId");
      folderId(m["folderId"], "appended.folderId");
      uint(m["seq"], "appended.seq", 1);
      uint(m["deviceSeq"], "appended.deviceSeq");
      break;
    case "envelopes": {
      folderId(m["folderId"], "envelopes.folderId");
      const items = array(m["items"], "envelopes.items", frameLimits.maxEnvelopesPerBatch, 1);
      let previous = 0;
      items.forEach((raw, i) => {
        const item = object(raw, `envelopes.items[${i}]`) as Partial<SequencedEnvelope>;
        const seq = uint(item.seq, `envelopes.items[${i}].seq`, 1);
        if (seq <= previous) {
          throw bad(`envelopes.items[${i}].seq`, `${seq} does not follow ${previous}`);
        }
        previous = seq;
        bytes(item.envelope, `envelopes.items[${i}].envelope`, frameLimits.maxEnvelopeBytes, 1);
      });
      break;
    }
    case "ack":
      folderId(m["folderId"], "ack.folderId");
      uint(m["seq"], "ack.seq");
      break;
    case "snapshotPut":
      uint(m["requestId"], "snapshotPut.requestId");
      folderId(m["folderId"], "snapshotPut.folderId");
      snapshotFields(m, "snapshotPut");
      break;
    case "snapshot":
      uint(m["requestId"], "snapshot.requestId");
      folderId(m["folderId"], "snapshot.folderId");
      if (m["snapshot"] !== null)
        snapshotFields(object(m["snapshot"], "snapshot.snapshot"), "snapshot.snapshot");
      break;
    case "haveCheck":
      uint(m["requestId"], "haveCheck.requestId");
      folderId(m["folderId"], "haveCheck.folderId");
      chunkIds(m["chunkIds"], "haveCheck.chunkIds", 1);
      break;
    case "haveResult":
      uint(m["requestId"], "haveResult.requestId");
      chunkIds(m["missing"], "haveResult.missing", 0);
      break;
    case "presence":
      folderId(m["folderId"], "presence.folderId");
      deviceId(m["deviceId"], "presence.deviceId");
      if (!PRESENCE.includes(m["status"] as PresenceStatus)) {
        throw bad("presence.status", `must be one of ${PRESENCE.join(", ")}`);
      }
      uint(m["ackedSeq"], "presence.ackedSeq");
      if (m["payload"] !== undefined) {
        bytes(m["payload"], "presence.payload", frameLimits.maxPresencePayloadBytes, 0);
      }
      break;
    case "presenceList": {
      folderId(m["folderId"], "presenceList.folderId");
      const items = array(m["items"], "presenceList.items", frameLimits.maxPresenceListItems, 1);
      const seen = new Set<string>();
      items.forEach((raw, i) => {
        const item = object(raw, `presenceList.items[${i}]`);
        const field = `presenceList.items[${i}]`;
        const device = deviceId(item["deviceId"], `${field}.deviceId`);
        if (seen.has(device)) throw bad(`${field}.deviceId`, "is listed twice");
        seen.add(device);
        if (!PRESENCE.includes(item["status"] as PresenceStatus))
          throw bad(`${field}.status`, `must be one of ${PRESENCE.join(", ")}`);
        uint(item["ackedSeq"], `${field}.ackedSeq`);
        if (item["payload"] !== undefined)
          bytes(item["payload"], `${field}.payload`, frameLimits.maxPresencePayloadBytes, 0);
      });
      break;
    }
    case "ephemeral":
      folderId(m["folderId"], "ephemeral.folderId");
      deviceId(m["deviceId"], "ephemeral.deviceId");
      bytes(m["payload"], "ephemeral.payload", frameLimits.maxEphemeralBytes, 1);
      break;
    default:
      throw bad("message.type", `${describe(type)} is not a message type`);
  }
  return value as Message;
}

/** Length in bytes of `s` as UTF-8 (lone surrogates count as the 3-byte U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function bad(field: string, what: string): ProtocolError {
  return new ProtocolError("bad_frame", `${field} ${what}`);
}

function tooLarge(field: string, what: string): ProtocolError {
  return new ProtocolError("too_large", `${field} ${what}`);
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value.slice(0, 40)) : typeof value;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw bad(field, "must be an object");
  }
  return value as Record<string, unknown>;
}

function uint(value: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function text(
  value: unknown,
  field: string,
  maxBytes: number,
  minBytes: number,
  chars?: { re: RegExp; what: string },
): void {
  if (typeof value !== "string") throw bad(field, "must be a string");
  const length = utf8Length(value);
  if (length > maxBytes) throw tooLarge(field, `is ${length} bytes, over the limit of ${maxBytes}`);
  if (length < minBytes) throw bad(field, `must be at least ${minBytes} byte(s)`);
  if (LONE_SURROGATE.test(value)) throw bad(field, "contains a lone surrogate (not valid UTF-8)");
  if (chars && length > 0 && !chars.re.test(value))
    throw bad(field, `may only contain ${chars.what}`);
}

function software(value: unknown, field: string): SoftwareInfo {
  const info = object(value, field);
  text(info["name"], `${field}.name`, frameLimits.maxSoftwareInfoBytes, 1, PRINTABLE_ASCII);
  text(info["version"], `${field}.version`, frameLimits.maxSoftwareInfoBytes, 1, PRINTABLE_ASCII);
  return value as SoftwareInfo;
}

function bytes(value: unknown, field: string, maxBytes: number, minBytes: number): void {
  if (!(value instanceof Uint8Array)) throw bad(field, "must be a Uint8Array");
  if (value.length > maxBytes) {
    throw tooLarge(field, `is ${value.length} bytes, over the limit of ${maxBytes}`);
  }
  if (value.length < minBytes) throw bad(field, `must be at least ${minBytes} byte(s)`);
}

function array(value: unknown, field: string, max: number, min: number): readonly unknown[] {
  if (!Array.isArray(value)) throw bad(field, "must be an array");
  if (value.length > max)
    throw tooLarge(field, `has ${value.length} items, over the limit of ${max}`);
  if (value.length < min) throw bad(field, `must have at least ${min} item(s)`);
  return value as readonly unknown[];
}

function folderId(value: unknown, field: string): FolderId {
  if (!isFolderId(value)) throw bad(field, "must be a folder id (26 lower-case base32 characters)");
  return value;
}

function deviceId(value: unknown, field: string): DeviceId {
  if (!isDeviceId(value))
    throw bad(field, "must be a canonical device id (XXXX-XXXX-…, 39 characters)");
  return value;
}

function chunkIds(value: unknown, field: string, min: number): readonly ChunkId[] {
  const ids = array(value, field, frameLimits.maxChunkIdsPerCheck, min);
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (!isChunkId(id))
      throw bad(`${field}[${i}]`, "must be a chunk id (64 lower-case hex characters)");
    // Duplicates would let one request cost the relay more lookups than distinct ids.
    if (seen.has(id)) throw bad(`${field}[${i}]`, "repeats an earlier chunk id");
    seen.add(id);
  });
  return ids as readonly ChunkId[];
}

function snapshotFields(m: Record<string, unknown>, field: string): void {
  uint(m["epoch"], `${field}.epoch`, 0, MAX_EPOCH);
  uint(m["coversSeq"], `${field}.coversSeq`);
  bytes(m["ciphertext"], `${field}.ciphertext`, frameLimits.maxSnapshotBytes, 1);
}

/** Hex of a short byte string (a map key); not @weft/crypto's toHex, which needs libsodium ready. */
function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
