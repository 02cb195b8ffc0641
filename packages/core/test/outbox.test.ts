// The outbox releases a change to peers only once the relay has its chunks, keeps commit order,
// batches changes into bounded envelopes (this run's index updates as one delta), and holds
// sealed envelopes until the relay confirms them.
import type { ChunkId } from "@weft/crypto";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { Outbox } from "../src/replica/outbox.js";
import type { PayloadPart } from "../src/replica/payload.js";

const chunk = (n: number): ChunkId => n.toString(16).padStart(64, "0") as ChunkId;
const none: ReadonlySet<ChunkId> = new Set();
/** A document update of about `bytes` bytes. */
function docPart(bytes: number): PayloadPart {
  const doc = new Y.Doc();
  doc.getText("t").insert(0, "x".repeat(bytes));
  return { kind: "doc", type: "yjs", name: "notes", update: Y.encodeStateAsUpdate(doc) };
}

/** Index updates as a replica captures them: one per local change of one Y.Doc. */
function indexUpdates(count: number, valueBytes = 8): Uint8Array[] {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on("update", (u: Uint8Array) => updates.push(u));
  for (let i = 0; i < count; i++) doc.getMap("m").set(`k${i}`, new Uint8Array(valueBytes).fill(i));
  return updates;
}

describe("Outbox", () => {
  it("releases entries in commit order, each once the chunks it needs are uploaded", () => {
    const outbox = new Outbox();
    outbox.add("1", docPart(1), [chunk(1)]);
    outbox.add("2", docPart(1), []);
    outbox.add("3", docPart(1), [chunk(3)]);
    const uploads = new Set([chunk(1), chunk(3)]);
    // The second needs nothing, but must not overtake the first.
    expect(outbox.readyCount(uploads)).toBe(0);
    expect(outbox.nextBatch(uploads)).toBeUndefined();
    uploads.delete(chunk(1));
    expect(outbox.readyCount(uploads)).toBe(2);
    uploads.delete(chunk(3));
    expect(outbox.readyCount(uploads)).toBe(3);
  });

  it("holds entries of an earlier run until no upload at all is pending", () => {
    const outbox = new Outbox();
    outbox.addLoaded("1", docPart(1));
    expect(outbox.readyCount(new Set([chunk(9)]))).toBe(0);
    expect(outbox.readyCount(none)).toBe(1);
  });

  it("batches entries up to the batch size; the rest go in the next batch", () => {
    const outbox = new Outbox({ batchBytes: 100 });
    for (let i = 0; i < 5; i++) outbox.add(String(i), docPart(60), []);
    const first = outbox.nextBatch(none)!;
    expect(first.entries.map((e) => e.key)).toEqual(["0", "1"]);
    expect(first.weight).toBe(2);
    outbox.sealed(first, 1, new Uint8Array([1]));
    expect(outbox.length).toBe(3);
    expect(outbox.nextBatch(none)!.entries.map((e) => e.key)).toEqual(["2", "3"]);
  });

  it("sends this run's index updates as one delta that rebuilds the index", () => {
    const outbox = new Outbox({ batchBytes: 10 });
    const updates = indexUpdates(20);
    updates.forEach((u, i) => outbox.add(String(i), { kind: "index", update: u }, []));
    const batch = outbox.nextBatch(none)!;
    // All taken at once despite the tiny batch size: the delta covers every one of them.
    expect(batch.entries).toHaveLength(20);
    expect(batch.parts).toHaveLength(1);
    const peer = new Y.Doc();
    Y.applyUpdate(peer, batch.parts[0]!.update);
    expect(Object.keys(peer.getMap("m").toJSON())).toHaveLength(20);
    outbox.sealed(batch, 1, new Uint8Array([1]));
    expect(outbox.length).toBe(0);
  });

  it("falls back to bounded batches when the delta is too large for one envelope", () => {
    const outbox = new Outbox({ batchBytes: 200, deltaBytes: 100 });
    const updates = indexUpdates(10, 50);
    updates.forEach((u, i) => outbox.add(String(i), { kind: "index", update: u }, []));
    const peer = new Y.Doc();
    let seq = 0;
    while (outbox.length > 0) {
      const batch = outbox.nextBatch(none)!;
      expect(batch.entries.length).toBeLessThan(10);
      for (const part of batch.parts) Y.applyUpdate(peer, part.update);
      outbox.sealed(batch, ++seq, new Uint8Array([seq]));
    }
    expect(seq).toBeGreaterThan(1);
    expect(Object.keys(peer.getMap("m").toJSON())).toHaveLength(10);
  });

  it("keeps sealed envelopes pending until confirmed, and resends them oldest first", () => {
    const outbox = new Outbox();
    outbox.addUnconfirmed(7, new Uint8Array([7]));
    outbox.add("a", docPart(1), []);
    outbox.add("b", docPart(1), []);
    expect(outbox.pending).toBe(3);
    const batch = outbox.nextBatch(none)!;
    outbox.sealed(batch, 8, new Uint8Array([8]));
    expect(outbox.length).toBe(0);
    expect(outbox.pending).toBe(2);
    expect(outbox.weightOf(8)).toBe(2);
    expect(outbox.weightOf(7)).toBeUndefined(); // sealed by an earlier run
    expect(outbox.toResend().map(([seq]) => seq)).toEqual([7, 8]);
    outbox.confirmed(7);
    expect(outbox.isUnconfirmed(7)).toBe(false);
    expect(outbox.isUnconfirmed(8)).toBe(true);
    expect(outbox.pending).toBe(1);
  });
});
