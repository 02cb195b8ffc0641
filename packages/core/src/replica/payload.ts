/** What a Replica puts inside an envelope: the signer's key and the index and document updates of one batch. */
import { MAX_ENVELOPE_PAYLOAD } from "@weft/crypto";
import * as Y from "yjs";
import type { DocType } from "../docs/channel.js";
import { WeftError } from "../errors.js";
import { ByteReader, ByteWriter } from "../model/varint.js";
import { MAX_ATTESTATION_BYTES } from "./attestation.js";

/** Payload format version (first byte): 2 adds record attestations after the parts. */
const PAYLOAD_VERSION = 1;
const PAYLOAD_VERSION_ATTESTED = 2;
/** Most attestations one payload carries (a snapshot: one per device that wrote records). */
const MAX_ATTESTATIONS = 100_000;
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
  /**
   * Encoded record attestations (see attestation.ts): in a log entry the writer's own, when
   * the entry brings its records up to date; in a snapshot one per device with records.
   */
  attestations?: readonly Uint8Array[];
}

/**
 * Encodes a payload: `version u8 ‖ signPublicKey (32) ‖ varint count ‖ parts`, each part
 * `kind u8 (1 index, 2 doc) ‖ [doc: type u8 ‖ name (varint len + UTF-8)] ‖ update (varint len + bytes)`;
 * version 2 (with attestations) then `varint count ‖ attestations (varint len + bytes)`.
 */
export function encodePayload(payload: EnvelopePayload): Uint8Array {
  const attestations = payload.attestations ?? [];
  const w = new ByteWriter(
    64 +
      payload.parts.reduce((n, p) => n + p.update.length + 8, 0) +
      attestations.length * (MAX_ATTESTATION_BYTES + 2),
  );
  w.u8(attestations.length > 0 ? PAYLOAD_VERSION_ATTESTED : PAYLOAD_VERSION);
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
  if (attestations.length > 0) {
    w.uint(attestations.length);
    for (const a of attestations) w.bytes(a);
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
  if (version !== PAYLOAD_VERSION && version !== PAYLOAD_VERSION_ATTESTED)
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
  const attestations: Uint8Array[] = [];
  if (version === PAYLOAD_VERSION_ATTESTED) {
    const n = r.uint();
    if (n === 0 || n > MAX_ATTESTATIONS)
      throw new WeftError("INVALID_ENCODING", `${n} attestations in one payload`);
    for (let i = 0; i < n; i++) attestations.push(r.bytes(MAX_ATTESTATION_BYTES).slice());
  }
  r.end();
  return { signPublicKey, parts, attestations };
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
