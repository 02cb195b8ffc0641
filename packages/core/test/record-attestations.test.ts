// Record attestations: a snapshot made by one member is checked, writer by writer, against what
// each writer signed. Each forgery a member holding the folder key could try is refused.
import {
  type DeviceIdentity,
  type FolderId,
  type ChunkId,
  generateDeviceIdentity,
  newFolderId,
  ready,
} from "@weft/crypto";
import { beforeAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { Manifest } from "../src/chunking/index.js";
import { FolderIndex } from "../src/folder/folder-index.js";
import { parseBucketKey } from "../src/folder/records.js";
import { RecordsDigester, signAttestation } from "../src/replica/attestation.js";
import { RecordAttestations } from "../src/replica/record-attestations.js";
import { OutgoingIndex } from "../src/replica/outgoing.js";
import { SealedRecords } from "../src/replica/sealed-records.js";

const manifest = (tag: number): Manifest => {
  const hex = tag.toString(16).padStart(64, "0");
  return { chunks: [{ id: hex as ChunkId, size: 10 }], size: 10, contentHash: hex };
};

let folder: FolderId;
let A: DeviceIdentity;
let B: DeviceIdentity;
/** B's index, holding A's records (as A sent them) and B's own. */
let shared: Uint8Array;
/** Each device's attestation of its records, signed on its own copy. */
let attestations: Uint8Array[];

beforeAll(async () => {
  await ready();
  folder = newFolderId();
  [A, B] = [generateDeviceIdentity(), generateDeviceIdentity()];
  const a = new FolderIndex({ device: A.deviceId });
  a.writeFile("contract.txt", { manifest: manifest(1) });
  a.writeFile("notes.txt", { manifest: manifest(2) });
  const b = new FolderIndex({ device: B.deviceId }, a.snapshot());
  b.writeFile("other.txt", { manifest: manifest(3) });
  shared = b.snapshot();
  const attest = (who: DeviceIdentity, index: FolderIndex) =>
    signAttestation(folder, who, 1, new RecordsDigester(index.doc).digestOf(who.deviceId)).bytes;
  attestations = [attest(A, a), attest(B, b)];
});

/** A copy of B's index as a plain Yjs document, `edit`ed by the forger, as a snapshot update. */
function forged(edit: (doc: Y.Doc, records: Y.Map<unknown>) => void, clientID?: number) {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, shared);
  if (clientID !== undefined) doc.clientID = clientID;
  edit(doc, doc.getMap("records"));
  return Y.encodeStateAsUpdate(doc);
}

/** A bucket key of A's in the shared index. */
function keyOfA(records: Y.Map<unknown>): string {
  return [...records.keys()].find((k) => parseBucketKey(k)?.device === A.deviceId)!;
}

const check = (update: Uint8Array, encoded = attestations) =>
  RecordAttestations.checkSnapshot(folder, update, encoded);

describe("a snapshot's records checked against their writers' attestations", () => {
  it("an honest snapshot passes, with every writer's attestation", () => {
    const attested = check(shared);
    expect(attested).toBeInstanceOf(Map);
    expect([...(attested as Map<string, unknown>).keys()].sort()).toEqual(
      [A.deviceId, B.deviceId].sort(),
    );
  });

  it("a record of A's changed, dropped or added by B: refused", () => {
    const changed = forged((_, r) => r.set(keyOfA(r), new Uint8Array([1, 2, 3])));
    const dropped = forged((_, r) => r.delete(keyOfA(r)));
    const added = forged((_, r) => r.set(`zz.0/${A.deviceId}`, new Uint8Array([1])));
    for (const update of [changed, dropped, added])
      expect(check(update)).toBe(`${A.deviceId}'s records are not as it signed them (envelope 1)`);
  });

  it("an item at a clock of A's Yjs client that A never wrote (pre-empting A's next write): refused", () => {
    // Live records unchanged (written and deleted again), but A's client now reaches further
    // than A signed: a receiver would drop A's real next update at those clocks.
    const doc = new Y.Doc();
    Y.applyUpdate(doc, shared);
    const clientOfA = [...doc.store.clients.keys()].find((c) =>
      doc.store.clients
        .get(c)!
        .some(
          (s) => s instanceof Y.Item && parseBucketKey(s.parentSub ?? "")?.device === A.deviceId,
        ),
    )!;
    const update = forged((d, r) => {
      d.transact(() => r.set(`zz.0/${A.deviceId}`, new Uint8Array([1])));
      d.transact(() => r.delete(`zz.0/${A.deviceId}`));
    }, clientOfA);
    expect(check(update)).toMatch(/records are not as it signed/);
  });

  it("records outside the records map, or under a key that is no device's: refused", () => {
    expect(check(forged((d) => d.getMap("other").set("x", 1)))).toMatch(/root type "other"/);
    expect(check(forged((_, r) => r.set("no-device", new Uint8Array([1]))))).toMatch(
      /record key "no-device" that is no device's/,
    );
  });

  it("no attestations (an older version's snapshot), or one missing: refused", () => {
    expect(check(shared, [])).toMatch(/no attestation of/);
    expect(check(shared, [attestations[1]!])).toBe(`no attestation of ${A.deviceId}'s records`);
  });

  it("an attestation signed for another folder, or two of one device: refused", () => {
    const elsewhere = signAttestation(newFolderId(), A, 1, new Uint8Array(32)).bytes;
    expect(check(shared, [elsewhere, attestations[1]!])).toMatch(/is not signed by it/);
    expect(check(shared, [...attestations, attestations[0]!])).toMatch(/two attestations/);
  });
});

describe("an envelope that takes only part of the outbox", () => {
  /** mulberry32: a seeded PRNG, so a failure replays. */
  const prng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  it("is attested exactly as a receiver holds the writer after applying it (seeded runs)", () => {
    let keysDeleted = 0;
    for (const seed of [1, 2, 3, 4]) {
      const rand = prng(seed);
      const pick = (n: number) => Math.floor(rand() * n);
      // An earlier run of the same device: compaction of its keys deletes map entries.
      const earlier = new FolderIndex({ device: A.deviceId });
      for (let i = 0; i < 40; i++) earlier.writeFile(`f${i}.txt`, { manifest: manifest(i + 1) });
      const writer = FolderIndex.load(earlier.snapshot(), { device: A.deviceId });
      const made: Uint8Array[] = [];
      const sealed = new SealedRecords(writer.doc, A.deviceId, new RecordsDigester(writer.doc));
      sealed.reset();
      const receiver = new Y.Doc();
      Y.applyUpdate(receiver, earlier.snapshot());
      // Another device that overwrites the writer's files, so that compaction drops the
      // writer's superseded slots and deletes the keys of buckets left empty.
      const other = new FolderIndex({ device: B.deviceId }, earlier.snapshot());
      other.onLocalUpdate((u) => writer.applyDelta(u));
      writer.onLocalUpdate((u) => {
        made.push(u);
        other.applyDelta(u);
      });
      const unsent: Uint8Array[] = [];
      const outgoing = new OutgoingIndex();
      for (let step = 0; step < 150; step++) {
        const paths = writer
          .list()
          .map((e) => e.path)
          .filter((p) => !p.includes(".sync-conflict-"));
        const r = rand();
        if (r < 0.55 || paths.length === 0)
          writer.writeFile(`f${pick(40)}.txt`, { manifest: manifest(1 + pick(1000)) });
        else if (r < 0.75) writer.remove(paths[pick(paths.length)]!);
        else if (r < 0.9) {
          const to = `g${pick(40)}.txt`;
          if (!paths.includes(to)) writer.move(paths[pick(paths.length)]!, to);
        } else if (r < 0.96) {
          // Content and place both superseded: only then may the writer drop its slot.
          for (const p of rand() < 0.5 ? paths : paths.slice(0, 1 + pick(paths.length))) {
            other.writeFile(p, { manifest: manifest(2000 + pick(1000)) });
            const to = `h${step}-${p}`;
            other.move(p, to);
          }
          writer.compact();
        }
        for (const u of made) outgoing.add(u);
        unsent.push(...made.splice(0));
        if (unsent.length === 0 || rand() > 0.3) continue;
        // Seal as the outbox does: the oldest few (merged into one part, or not), or all of
        // them as one delta of the outgoing index.
        let sent: Uint8Array[];
        let parts: Uint8Array[];
        if (rand() < 0.3) {
          const delta = outgoing.delta();
          outgoing.markSealed(delta.state);
          sent = unsent.splice(0);
          parts = [delta.update];
        } else {
          sent = unsent.splice(0, 1 + pick(unsent.length));
          const merged = Y.mergeUpdates(sent);
          outgoing.markSealed(Y.encodeStateVectorFromUpdate(merged));
          parts = rand() < 0.5 ? [merged] : sent;
        }
        const digest = sealed.sealed(parts);
        const keysBefore = receiver.getMap("records").size;
        for (const u of parts) Y.applyUpdate(receiver, u);
        if (receiver.getMap("records").size < keysBefore) keysDeleted++;
        expect(digest, `seed ${seed}, step ${step}`).toEqual(
          new RecordsDigester(receiver).digestOf(A.deviceId),
        );
      }
    }
    expect(keysDeleted).toBeGreaterThan(0); // compaction's deletes were among the sealed
  });
});
