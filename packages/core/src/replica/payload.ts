/** What a Replica puts inside an envelope: the signer's key and the index and document updates of one batch. */
import { MAX_ENVELOPE_PAYLOAD } from "@weft/crypto";
import * as Y from "yjs";
import type { DocType } from "../docs/channel.js";
import { WeftError } from "../errors.js";
import { ByteReader, ByteWriter } from "../model/varint.js";

/** Payload format version (first byte). */
const PAYLOAD_VERSION = 1;
const SIGN_PUBLIC_KEY_BYTES = 32;
const KIND_INDEX = 1;
const KIND_DOC = 2;
const DOC_TYPES: readonly DocType[] = ["yjs", "automerge"];
/** Longest document name, in UTF-8 bytes. */
export const MAX_DOC_NAME_BYTES = 240;

/** One update in a batch: to the folder index or to a named document. */
export type PayloadPart =
  | { kind: "index"; update: Uint8Array }
  | { kind: "doc"; name: string; type: DocType; update: Uint8Array };

/** The decrypted content of an envelope. */
export interface EnvelopePayload {
  /**
   * The writer's Ed25519 public key. A device id is a hash of this key, so the key proves
   * itself: a reader checks the hash against the envelope's device id and then the signature,
   * with no member directory. The relay checks signatures against its own member list.
   */
  signPublicKey: Uint8Array;
  /** The updates, in the order they were made. */
  parts: PayloadPart[];
}

/**
 * Encodes a payload: `version u8 ‖ signPublicKey (32) ‖ varint count ‖ parts`, each part
 * `kind u8 (1 index, 2 doc) ‖ [doc: type u8 ‖ name (varint len + UTF-8)] ‖ update (varint len + bytes)`.
 */
export function encodePayload(payload: EnvelopePayload): Uint8Array {
  const w = new ByteWriter(64 + payload.parts.reduce((n, p) => n + p.update.length + 8, 0));
  w.u8(PAYLOAD_VERSION);
  w.raw(payload.signPublicKey);
  w.uint(payload.parts.length);
  for (const part of payload.parts) {
    if (part.kind === "index") {
      w.u8(KIND_INDEX);
    } else {
      w.u8(KIND_DOC);
      w.u8(DOC_TYPES.indexOf(part.type) + 1);
      w.string(part.name);
    }
    w.bytes(part.update);
  }
  const out = w.finish();
  if (out.length > MAX_ENVELOPE_PAYLOAD)
    throw new WeftError(
      "INVALID_ARGUMENT",
      `a batch of ${out.length} bytes is over the envelope limit`,
    );
  return out;
}

/**
 * Parses {@link encodePayload} output. Only authenticated payloads reach it, but a member may
 * still be buggy or hostile, so every field is checked.
 * @throws WeftError INVALID_ENCODING
 */
export function decodePayload(bytes: Uint8Array): EnvelopePayload {
  const r = new ByteReader(bytes);
  const version = r.u8();
  if (version !== PAYLOAD_VERSION)
    throw new WeftError("INVALID_ENCODING", `unsupported payload version ${version}`);
  if (bytes.length < 1 + SIGN_PUBLIC_KEY_BYTES)
    throw new WeftError("INVALID_ENCODING", "payload truncated in the signer's key");
  const signPublicKey = bytes.slice(1, 1 + SIGN_PUBLIC_KEY_BYTES);
  r.skip(SIGN_PUBLIC_KEY_BYTES);
  const count = r.uint();
  const parts: PayloadPart[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    if (kind === KIND_INDEX) {
      parts.push({ kind: "index", update: r.bytes(MAX_ENVELOPE_PAYLOAD).slice() });
    } else if (kind === KIND_DOC) {
      const type = DOC_TYPES[r.u8() - 1];
      if (!type) throw new WeftError("INVALID_ENCODING", "unknown document type");
      const name = r.string(MAX_DOC_NAME_BYTES);
      if (name.length === 0) throw new WeftError("INVALID_ENCODING", "empty document name");
      parts.push({ kind: "doc", name, type, update: r.bytes(MAX_ENVELOPE_PAYLOAD).slice() });
    } else {
      throw new WeftError("INVALID_ENCODING", `unknown payload part kind ${kind}`);
    }
  }
  r.end();
  return { signPublicKey, parts };
}

/** Merges consecutive parts of the same stream: Yjs updates merge, Automerge changes concatenate. */
export function mergeParts(parts: PayloadPart[]): PayloadPart[] {
  const groups = new Map<string, PayloadPart[]>();
  for (const p of parts) {
    const key = p.kind === "index" ? "index" : `${p.type}:${p.name}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(p);
  }
  const out: PayloadPart[] = [];
  for (const g of groups.values()) {
    const first = g[0]!;
    if (g.length === 1) out.push(first);
    else if (first.kind === "index" || first.type === "yjs")
      out.push({ ...first, update: Y.mergeUpdates(g.map((p) => p.update)) });
    else out.push({ ...first, update: concat(g.map((p) => p.update)) });
  }
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
