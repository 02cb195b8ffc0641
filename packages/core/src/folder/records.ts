/** The records of the folder index: their stored (plain) form, their parsed form, validation. */
import type { DeviceId } from "@weft/crypto";
import type { Manifest } from "../chunking/index.js";
import { WeftError } from "../errors.js";
import { type FileId, ROOT_ID, isFileId } from "../ids.js";
import { type Hlc, compareHlc } from "../model/hlc.js";
import { ByteReader, ByteWriter } from "../model/varint.js";
import { nameProblem } from "../model/path.js";
import { StoredManifest } from "./stored-manifest.js";
import { VersionVector, cmpString } from "../model/version-vector.js";

/** What a file id names. The kind of a file id never changes; a new kind is a new file. */
export type FileKind = "file" | "dir" | "symlink";

/**
 * The content register of a file: kind, bytes (as a manifest), mode and mtime, plus the
 * versions it superseded (`history`) and unresolved concurrent versions it carries
 * (`conflicts`) so that editing the winner of a conflict does not make the conflict copy vanish.
 */
export interface ContentVersion {
  readonly kind: FileKind;
  readonly deleted: boolean;
  readonly manifest: Manifest | null;
  readonly target: string | null;
  readonly mode: number;
  readonly mtime: number;
  readonly vv: VersionVector;
  readonly hlc: Hlc;
  readonly device: DeviceId;
  readonly history: readonly VersionSnapshot[];
  readonly conflicts: readonly VersionSnapshot[];
}

/** A content version as kept in history or in a conflict list (no nested lists). */
export type VersionSnapshot = Omit<ContentVersion, "history" | "conflicts" | "deleted">;

/** The placement register of a file: where it lives in the tree. */
export interface Placement {
  readonly parent: FileId;
  readonly name: string;
  readonly vv: VersionVector;
  readonly hlc: Hlc;
  readonly device: DeviceId;
}

/**
 * One device's slot for one file: the latest content version and the latest placement that
 * this device wrote. Slots are keyed `fileId/deviceId` and only their device writes them, so
 * the Yjs map never has two concurrent writers for one key and never drops a write silently.
 */
export interface Slot {
  readonly content: ContentVersion | null;
  readonly place: Placement | null;
}

/** The snapshot kept in history or a conflict list for a content version (no lists, no flag). */
export function snapshotOf(v: VersionSnapshot): VersionSnapshot {
  return {
    kind: v.kind,
    manifest: v.manifest,
    target: v.target,
    mode: v.mode,
    mtime: v.mtime,
    vv: v.vv,
    hlc: v.hlc,
    device: v.device,
  };
}

/** Identifies one version of one register: its author and the author's counter. */
export function versionId(v: { device: DeviceId; vv: VersionVector }): string {
  return `${v.device}:${v.vv.get(v.device)}`;
}

/** Last-writer-wins order on `(hlc, device)`: positive when `a` wins. */
export function lwwCompare(
  a: { hlc: Hlc; device: string },
  b: { hlc: Hlc; device: string },
): number {
  return compareHlc(a.hlc, b.hlc) || cmpString(a.device, b.device);
}

/**
 * The Yjs map key of a bucket of one device's slots: `<session>.<bucket>/<deviceId>`, both in
 * base 36. A device keeps its slots in buckets of a few dozen rather than one key per file: a
 * Yjs map item costs microseconds and hundreds of bytes to load, which made a 100,000-file
 * index load in seconds. The session (random, new each time an index is opened) makes every
 * key have exactly one writer even across restarts: a device restarted from an older snapshot
 * must not rewrite a key that its previous run also wrote, or Yjs would keep only one of the two.
 */
export function bucketKey(session: string, bucket: number, device: DeviceId): string {
  return `${session}.${bucket.toString(36)}/${device}`;
}

const BUCKET_KEY = /^([0-9a-z]{1,13})\.([0-9a-z]{1,8})\/([^/]{1,128})$/;

/** Splits a bucket key; undefined for anything that is not one in canonical form. */
export function parseBucketKey(
  key: string,
): { session: string; bucket: number; device: DeviceId } | undefined {
  const m = BUCKET_KEY.exec(key);
  if (!m) return undefined;
  const bucket = parseInt(m[2]!, 36);
  // Canonical only ("0" not "00"): two spellings of one bucket would be two keys for one slot.
  if (bucket.toString(36) !== m[2]) return undefined;
  return { session: m[1]!, bucket, device: m[3] as DeviceId };
}

// ---- stored form: one compact binary value per slot in the Yjs map ----
//
// Binary rather than nested plain objects: Yjs decodes every string of a plain object one by
// one, which made a 100,000-file index load several times slower; a byte array is one copy.

const FORMAT = 1;
const BUCKET_FORMAT = 1;
const MAX_BUCKET_SLOTS = 1_000_000;
/** One reusable buffer for encoding: allocating buffers cost more than encoding a record. */
const scratch = new ByteWriter(4096);
const MAX_LIST = 10_000;
const MAX_DEVICE = 128;
const HEX64 = /^[0-9a-f]{64}$/;
const KINDS: readonly FileKind[] = ["file", "dir", "symlink"];

function writeVv(w: ByteWriter, vv: VersionVector): void {
  const json = vv.toJSON();
  w.uint(json.length);
  for (const [d, c] of json) {
    w.string(d);
    w.uint(c);
  }
}

function writeVersion(
  w: ByteWriter,
  v: VersionSnapshot,
  deleted: boolean,
  withDevice: boolean,
): void {
  w.u8(KINDS.indexOf(v.kind) | (deleted ? 0x80 : 0));
  w.uint(v.mode);
  w.uint(v.mtime);
  writeVv(w, v.vv);
  w.uint(v.hlc.wall);
  w.uint(v.hlc.logical);
  if (withDevice) w.string(v.device);
  if (v.manifest instanceof StoredManifest) {
    w.raw(v.manifest.encoded); // already validated when it was read
  } else if (v.manifest) {
    w.uint(v.manifest.chunks.length);
    for (const c of v.manifest.chunks) {
      if (!HEX64.test(c.id)) fail("a chunk id is 64 lower-case hex digits");
      w.hex(c.id);
      w.uint(c.size);
    }
    w.uint(v.manifest.size);
    if (!HEX64.test(v.manifest.contentHash)) fail("a content hash is 64 lower-case hex digits");
    w.hex(v.manifest.contentHash);
  } else if (v.target !== null) {
    w.string(v.target);
  }
}

/** The binary value stored in the Yjs map for a slot. */
export function encodeSlot(slot: Slot): Uint8Array {
  const w = scratch;
  w.reset();
  w.u8(FORMAT);
  w.u8((slot.content ? 1 : 0) | (slot.place ? 2 : 0));
  if (slot.content) {
    const c = slot.content;
    writeVersion(w, c, c.deleted, false);
    w.uint(c.history.length);
    for (const h of c.history) writeVersion(w, h, false, true);
    w.uint(c.conflicts.length);
    for (const h of c.conflicts) writeVersion(w, h, false, true);
  }
  if (slot.place) {
    const p = slot.place;
    w.string(p.parent);
    w.string(p.name);
    writeVv(w, p.vv);
    w.uint(p.hlc.wall);
    w.uint(p.hlc.logical);
  }
  return w.finish();
}

function fail(what: string): never {
  throw new WeftError("INVALID_RECORD", what);
}

/**
 * Vectors with one device are most of an index (a file only one device ever wrote) and are
 * immutable, so they are shared: fewer objects made a large index load faster and smaller.
 */
const singleDevice = new Map<string, Map<number, VersionVector>>();

function readVv(r: ByteReader): VersionVector {
  const n = r.uint();
  if (n > 4096) fail("version vector has too many devices");
  if (n === 1) {
    const d = r.string(MAX_DEVICE);
    const c = r.uint();
    let byCounter = singleDevice.get(d);
    if (!byCounter) {
      if (singleDevice.size >= 1024) singleDevice.clear();
      singleDevice.set(d, (byCounter = new Map<number, VersionVector>()));
    }
    let vv = byCounter.get(c);
    if (!vv) {
      vv = VersionVector.fromJSON([[d, c]]);
      if (byCounter.size >= 4096) byCounter.clear();
      byCounter.set(c, vv);
    }
    return vv;
  }
  const pairs: [string, number][] = [];
  for (let i = 0; i < n; i++) pairs.push([r.string(MAX_DEVICE), r.uint()]);
  return VersionVector.fromJSON(pairs);
}

const NONE: readonly VersionSnapshot[] = Object.freeze([]);

function readVersion(
  r: ByteReader,
  device: DeviceId | undefined,
): VersionSnapshot & { deleted: boolean } {
  const head = r.u8();
  const kind = KINDS[head & 0x7f];
  if (!kind) fail("kind must be file, dir or symlink");
  const deleted = (head & 0x80) !== 0;
  const mode = r.uint();
  const mtime = r.uint();
  const vv = readVv(r);
  const hlc = { wall: r.uint(), logical: r.uint() };
  const author = device ?? (r.string(MAX_DEVICE) as DeviceId);
  if (vv.get(author) < 1) fail("a version's vector must count its own device");
  let manifest: Manifest | null = null;
  let target: string | null = null;
  if (kind === "file" && !deleted) {
    manifest = StoredManifest.read(r);
  } else if (kind === "symlink" && !deleted) {
    target = r.string(4096);
    if (target.length === 0 || target.includes("\0"))
      fail("a symlink target is non-empty and has no NUL");
  }
  return { kind, deleted, manifest, target, mode, mtime, vv, hlc, device: author };
}

function readList(r: ByteReader): readonly VersionSnapshot[] {
  const n = r.uint();
  if (n === 0) return NONE;
  if (n > MAX_LIST) fail(`at most ${MAX_LIST} versions per list`);
  const out: VersionSnapshot[] = [];
  for (let i = 0; i < n; i++) {
    const v = readVersion(r, undefined);
    // History and conflict lists hold content: a deletion or a directory there would be a
    // "file" without a manifest once the flag is dropped.
    if (v.deleted || v.kind === "dir") fail("history and conflict entries are files or links");
    out.push(snapshotOf(v));
  }
  return out;
}

/**
 * Decodes and validates a slot value from the Yjs map. Anything malformed (a broken name, a
 * vector that does not count its author, a manifest whose sizes do not add up, stray bytes)
 * throws INVALID_RECORD; the index then refuses the slot on every replica alike.
 */
export function decodeSlot(value: unknown, device: DeviceId): Slot {
  if (!(value instanceof Uint8Array)) fail("a slot value must be bytes");
  try {
    const r = new ByteReader(value);
    if (r.u8() !== FORMAT) fail("unknown slot format");
    const flags = r.u8();
    if (flags === 0 || flags > 3) fail("a slot holds a content version, a placement, or both");
    let content: ContentVersion | null = null;
    let place: Placement | null = null;
    if (flags & 1) {
      const v = readVersion(r, device);
      // Spelled out: an object spread here was the slowest line of loading an index.
      content = {
        kind: v.kind,
        deleted: v.deleted,
        manifest: v.manifest,
        target: v.target,
        mode: v.mode,
        mtime: v.mtime,
        vv: v.vv,
        hlc: v.hlc,
        device: v.device,
        history: readList(r),
        conflicts: readList(r),
      };
      // A writer lists only versions it has seen: anything else is forged, and could hide a
      // version that is still current.
      for (const h of content.history)
        if (!v.vv.dominates(h.vv)) fail("a history entry the version has not seen");
      for (const h of content.conflicts)
        if (!v.vv.dominates(h.vv)) fail("a conflict entry the version has not seen");
    }
    if (flags & 2) {
      const parent = r.string(64);
      if (!isFileId(parent)) fail("placement parent must be a file id");
      const name = r.string(1024);
      const problem = nameProblem(name);
      if (problem) fail(`invalid name ${JSON.stringify(name)}: ${problem}`);
      const vv = readVv(r);
      if (vv.get(device) < 1) fail("a version's vector must count its own device");
      place = { parent: parent, name, vv, hlc: { wall: r.uint(), logical: r.uint() }, device };
    }
    r.end();
    return { content, place };
  } catch (error) {
    if (error instanceof WeftError && error.code === "INVALID_RECORD") throw error;
    throw new WeftError(
      "INVALID_RECORD",
      `malformed slot: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** Encodes a bucket: its slots, each as `fileId` and the slot's own bytes. */
export function encodeBucket(slots: Iterable<readonly [FileId, Uint8Array]>): Uint8Array {
  const entries = [...slots];
  const w = new ByteWriter(64 + entries.reduce((n, [, b]) => n + b.length + 32, 0));
  w.u8(BUCKET_FORMAT);
  w.uint(entries.length);
  for (const [fileId, bytes] of entries) {
    w.string(fileId);
    w.bytes(bytes);
  }
  return w.finish();
}

/** A decoded bucket: its valid slots, and the file ids whose slots were refused (and why). */
export interface DecodedBucket {
  slots: Map<FileId, Slot>;
  rejected: [FileId, string][];
}

/**
 * Decodes a bucket. A malformed bucket (framing, duplicate or invalid file ids) throws
 * INVALID_RECORD; a malformed slot inside a well-formed bucket refuses that slot only.
 */
export function decodeBucket(value: unknown, device: DeviceId): DecodedBucket {
  if (!(value instanceof Uint8Array)) fail("a bucket value must be bytes");
  const out: DecodedBucket = { slots: new Map(), rejected: [] };
  try {
    const r = new ByteReader(value);
    if (r.u8() !== BUCKET_FORMAT) fail("unknown bucket format");
    const n = r.uint();
    if (n > MAX_BUCKET_SLOTS) fail("too many slots in one bucket");
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const fileId = r.string(64);
      if (!isFileId(fileId) || fileId === ROOT_ID) fail("invalid file id in bucket");
      if (seen.has(fileId)) fail("a file appears twice in one bucket");
      seen.add(fileId);
      const bytes = r.bytes(64 * 1024 * 1024);
      try {
        out.slots.set(fileId, decodeSlot(bytes, device));
      } catch (error) {
        out.rejected.push([fileId, error instanceof Error ? error.message : String(error)]);
      }
    }
    r.end();
    return out;
  } catch (error) {
    if (error instanceof WeftError && error.code === "INVALID_RECORD") throw error;
    throw new WeftError(
      "INVALID_RECORD",
      `malformed bucket: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
