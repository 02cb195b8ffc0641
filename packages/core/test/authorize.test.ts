import { type ChunkId, type DeviceId, generateDeviceIdentity, ready } from "@weft/crypto";
import { beforeAll, describe, expect, test } from "vitest";
import * as Y from "yjs";
import type { Manifest } from "../src/chunking/index.js";
import { WeftError } from "../src/errors.js";
import { FolderIndex } from "../src/folder/folder-index.js";
import { ClientOwnership, authorizeIndexUpdate } from "../src/replica/authorize.js";

const manifest = (tag: number): Manifest => {
  const hex = tag.toString(16).padStart(64, "0");
  return { chunks: [{ id: hex as ChunkId, size: 10 }], size: 10, contentHash: hex };
};

let A: DeviceId;
let B: DeviceId;
let C: DeviceId;
beforeAll(async () => {
  await ready();
  [A, B, C] = [0, 1, 2].map(() => generateDeviceIdentity().deviceId) as [
    DeviceId,
    DeviceId,
    DeviceId,
  ];
});

/** An index whose local updates are collected, as a transport would seal and send them. */
function device(id: DeviceId, snapshot?: Uint8Array): { index: FolderIndex; sent: Uint8Array[] } {
  const index = new FolderIndex({ device: id }, snapshot);
  const sent: Uint8Array[] = [];
  index.onLocalUpdate((u) => sent.push(u));
  return { index, sent };
}

/** What a receiver does with a verified envelope: authorize, apply, then commit. */
function receive(
  to: FolderIndex,
  ownership: ClientOwnership,
  update: Uint8Array,
  signer: DeviceId,
): void {
  const commit = authorizeIndexUpdate(to.doc, update, signer, ownership);
  to.applyDelta(update);
  commit();
}

/** The error code `run` throws with, or "none". */
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(WeftError);
    return (e as WeftError).code;
  }
  return "none";
}

/** Every update a raw Yjs document emits while `run` edits it. */
function updatesOf(doc: Y.Doc, run: () => void): Uint8Array[] {
  const out: Uint8Array[] = [];
  const listen = (u: Uint8Array): void => void out.push(u);
  doc.on("update", listen);
  run();
  doc.off("update", listen);
  return out;
}

/** A plain Yjs document holding a copy of `from`'s state, then writing as `clientID`. */
function rawDoc(clientID: number, ...from: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc();
  for (const u of from) Y.applyUpdate(doc, u);
  // Set only after loading: Yjs gives a document a new client id when a remote update
  // carries its own one, and here the forger means to reuse another device's.
  doc.clientID = clientID;
  return doc;
}

const recordKeys = (index: FolderIndex): string[] => [...index.doc.getMap("records").keys()];

describe("authorizeIndexUpdate", () => {
  test("a map entry overwritten by its writer is encoded without parent: its origin names the key", () => {
    const a = device(A);
    a.index.writeFile("f", { manifest: manifest(1) });
    a.index.writeFile("f", { manifest: manifest(2) });
    const [first, second] = a.sent.map((u) => Y.decodeUpdate(u).structs);
    const created = first!.find((s) => s instanceof Y.Item)!;
    expect(created.parent as unknown).toBe("records");
    expect(created.parentSub).toMatch(new RegExp(`/${A}$`));
    const overwrite = second!.find((s) => s instanceof Y.Item)!;
    expect(overwrite.parent).toBeNull();
    expect(overwrite.parentSub).toBeNull();
    expect(overwrite.origin).toEqual(Y.createID(a.index.doc.clientID, created.id.clock));
    // And it is accepted for its writer, and refused to another device that would chain onto it.
    const b = device(B);
    const own = new ClientOwnership();
    receive(b.index, own, a.sent[0]!, A);
    expect(() => authorizeIndexUpdate(b.index.doc, a.sent[1]!, A, own)).not.toThrow();
    const forged = rawDoc(b.index.doc.clientID, b.index.snapshot());
    const [overB] = updatesOf(forged, () =>
      forged.getMap("records").set(created.parentSub!, new Uint8Array([1])),
    );
    expect(Y.decodeUpdate(overB!).structs[0]!).toMatchObject({ parent: null, parentSub: null });
    expect(codeOf(() => authorizeIndexUpdate(b.index.doc, overB!, B, own))).toBe(
      "UNAUTHORIZED_UPDATE",
    );
  });

  test("honest updates pass and are applied; commit records who owns each client", () => {
    const a = device(A);
    const b = device(B);
    const atB = new ClientOwnership();
    const atA = new ClientOwnership();
    let delivered = 0;
    const deliver = (): void => {
      for (; delivered < a.sent.length; delivered++) receive(b.index, atB, a.sent[delivered]!, A);
    };
    a.index.writeFile("docs/plan.md", { manifest: manifest(1) });
    for (let i = 2; i < 6; i++) a.index.writeFile("docs/plan.md", { manifest: manifest(i) });
    a.index.writeFile("docs/other.md", { manifest: manifest(9) });
    a.index.move("docs/plan.md", "archive/plan.md");
    a.index.remove("docs");
    deliver();
    expect(atB.ownerOf(a.index.doc.clientID)).toBe(A);
    expect(atB.size).toBe(1);
    const onlyA = a.index.snapshot();
    // B supersedes A's file; once A has seen it, A's compaction deletes its own slot.
    b.index.writeFile("archive/plan.md", { manifest: manifest(20) });
    b.index.move("archive/plan.md", "archive/final.md");
    for (const u of b.sent) receive(a.index, atA, u, B);
    expect(atA.ownerOf(b.index.doc.clientID)).toBe(B);
    const beforeCompact = a.sent.length;
    expect(a.index.compact()).toBeGreaterThan(0);
    const compaction = a.sent.slice(beforeCompact).map((u) => Y.decodeUpdate(u).ds.clients);
    expect(compaction.some((ds) => ds.has(a.index.doc.clientID))).toBe(true);
    deliver();
    expect(delivered).toBeGreaterThan(8);
    expect(b.index.stat("archive/final.md")!.version.manifest!.contentHash).toBe(
      manifest(20).contentHash,
    );
    expect(recordKeys(b.index).sort()).toEqual(recordKeys(a.index).sort());
    expect(b.index.rejectedSlots()).toEqual([]);
    // A whole snapshot of a document holding only A's records passes as A's; once it holds
    // B's records too, A may not relay it: each device's writes travel signed by that device.
    const c = device(C);
    const atC = new ClientOwnership();
    receive(c.index, atC, onlyA, A);
    expect(c.index.stat("archive/plan.md")).toBeDefined();
    expect(codeOf(() => authorizeIndexUpdate(c.index.doc, a.index.encodeDelta(), A, atC))).toBe(
      "UNAUTHORIZED_UPDATE",
    );
  });

  test("a restarted device: a new Yjs client of the same device deletes its earlier session's keys", () => {
    const a = device(A);
    const b = device(B);
    const atB = new ClientOwnership();
    a.index.writeFile("f", { manifest: manifest(1) });
    for (const u of a.sent) receive(b.index, atB, u, A);
    const a2 = device(A, a.index.snapshot());
    expect(a2.index.doc.clientID).not.toBe(a.index.doc.clientID);
    a2.index.writeFile("f", { manifest: manifest(2) });
    a2.index.move("f", "g");
    expect(a2.index.compact()).toBeGreaterThan(0);
    const ds = a2.sent.map((u) => [...Y.decodeUpdate(u).ds.clients.keys()]).flat();
    expect(ds).toContain(a.index.doc.clientID); // the old session's key is deleted
    for (const u of a2.sent) receive(b.index, atB, u, A);
    expect(atB.ownerOf(a2.index.doc.clientID)).toBe(A);
    expect(recordKeys(b.index)).toEqual(recordKeys(a2.index));
    // The restarted device's updates presented as C's are refused, its deletions included.
    const c = device(C);
    const atC = new ClientOwnership();
    for (const u of a.sent) receive(c.index, atC, u, A);
    receive(c.index, atC, a2.sent[0]!, A);
    for (const u of a2.sent)
      expect(codeOf(() => authorizeIndexUpdate(c.index.doc, u, C, atC))).toBe(
        "UNAUTHORIZED_UPDATE",
      );
  });

  test("another device's update presented as B's is refused", () => {
    const a = device(A);
    a.index.writeFile("f", { manifest: manifest(1) });
    a.index.writeFile("f", { manifest: manifest(2) });
    const b = device(B);
    const atB = new ClientOwnership();
    receive(b.index, atB, a.sent[0]!, A);
    // A's client is known to be A's: none of A's updates pass as B's.
    for (const u of a.sent)
      expect(codeOf(() => authorizeIndexUpdate(b.index.doc, u, B, atB))).toBe(
        "UNAUTHORIZED_UPDATE",
      );
    // Unknown client, fresh document: the keys name A.
    const c = device(C);
    expect(
      codeOf(() => authorizeIndexUpdate(c.index.doc, a.sent[0]!, B, new ClientOwnership())),
    ).toBe("UNAUTHORIZED_UPDATE");
    // Ownership not built but A's items already in the document: the document tells.
    expect(
      codeOf(() => authorizeIndexUpdate(b.index.doc, a.sent[1]!, B, new ClientOwnership())),
    ).toBe("UNAUTHORIZED_UPDATE");
    const commit = authorizeIndexUpdate(b.index.doc, a.sent[1]!, A, new ClientOwnership());
    expect(commit).toBeTypeOf("function");
    // A refused update claims nothing.
    expect(atB.size).toBe(1);
  });

  test("first claim wins: an overwrite alone names no key, so an unseen client goes to its first signer", () => {
    const a = device(A);
    a.index.writeFile("f", { manifest: manifest(1) });
    a.index.writeFile("f", { manifest: manifest(2) });
    // A receiver that has seen nothing of A's client cannot tell whose key the overwrite
    // extends; whoever signs it first gets the client, and A's own updates are refused after.
    const c = device(C);
    const atC = new ClientOwnership();
    receive(c.index, atC, a.sent[1]!, B);
    expect(atC.ownerOf(a.index.doc.clientID)).toBe(B);
    expect(codeOf(() => authorizeIndexUpdate(c.index.doc, a.sent[0]!, A, atC))).toBe(
      "UNAUTHORIZED_UPDATE",
    );
    // The overwrite waits in Yjs for the missing entry, which only B may now send: it never
    // lands in A's key here.
    expect(c.index.doc.getMap("records").size).toBe(0);
  });

  test("forged updates: another device's key, another device's client, other types, foreign deletes", () => {
    const a = device(A);
    const b = device(B);
    const atB = new ClientOwnership();
    const atA = new ClientOwnership();
    a.index.writeFile("f", { manifest: manifest(1) });
    for (const u of a.sent) receive(b.index, atB, u, A);
    b.index.writeFile("g", { manifest: manifest(2) });
    for (const u of b.sent) receive(a.index, atA, u, B);
    const aClient = a.index.doc.clientID;
    const bClient = b.index.doc.clientID;
    const aKey = recordKeys(a.index).find((k) => k.endsWith(`/${A}`))!;
    const refusedAtA = (u: Uint8Array, signer: DeviceId): string =>
      codeOf(() => authorizeIndexUpdate(a.index.doc, u, signer, atA));

    // B's client writes a key naming A.
    const d1 = rawDoc(bClient, b.index.snapshot());
    const [u1] = updatesOf(d1, () => d1.getMap("records").set(`x.0/${A}`, new Uint8Array([1])));
    expect(refusedAtA(u1!, B)).toBe("UNAUTHORIZED_UPDATE");
    expect(refusedAtA(u1!, A)).toBe("UNAUTHORIZED_UPDATE"); // and A may not use B's client

    // A's client id writing a key that names B, signed by B: forging A's clocks.
    const d2 = rawDoc(aClient, a.index.snapshot());
    const [u2] = updatesOf(d2, () => d2.getMap("records").set(`x.0/${B}`, new Uint8Array([1])));
    expect(refusedAtA(u2!, B)).toBe("UNAUTHORIZED_UPDATE");

    // Other root types, a list in place of the map, nested types, non-binary values.
    const fresh = 1_000_001;
    for (const make of [
      (d: Y.Doc) => d.getMap("other").set(`x.0/${B}`, new Uint8Array([1])),
      (d: Y.Doc) => d.getArray<Uint8Array>("records").push([new Uint8Array([1])]),
      (d: Y.Doc) => d.getMap("records").set(`y.0/${B}`, new Y.Map()),
      (d: Y.Doc) => d.getMap("records").set(`z.0/${B}`, "not a slot"),
      (d: Y.Doc) => d.getMap("records").set("not-a-bucket-key", new Uint8Array([1])),
    ]) {
      const doc = rawDoc(fresh);
      const updates = updatesOf(doc, () => make(doc));
      expect(updates).toHaveLength(1);
      expect(refusedAtA(updates[0]!, B)).toBe("UNAUTHORIZED_UPDATE");
    }
    // A child written into a nested type (its parent is an item id, not a root name).
    const nested = rawDoc(fresh);
    const inner = new Y.Map<Uint8Array>();
    nested.getMap("records").set(`n.0/${B}`, inner);
    const [child] = updatesOf(nested, () => inner.set(`n.1/${B}`, new Uint8Array([1])));
    expect((Y.decodeUpdate(child!).structs[0] as Y.Item).parent).toBeInstanceOf(Y.ID);
    expect(refusedAtA(child!, B)).toBe("UNAUTHORIZED_UPDATE");

    // B loads A's state and deletes A's key: only a delete set, naming A's client.
    const d4 = rawDoc(bClient, a.index.snapshot());
    const [u4] = updatesOf(d4, () => d4.getMap("records").delete(aKey));
    expect([...Y.decodeUpdate(u4!).ds.clients.keys()]).toEqual([aClient]);
    expect(Y.decodeUpdate(u4!).structs).toHaveLength(0);
    expect(refusedAtA(u4!, B)).toBe("UNAUTHORIZED_UPDATE");
    expect(codeOf(() => authorizeIndexUpdate(b.index.doc, u4!, B, atB))).toBe(
      "UNAUTHORIZED_UPDATE",
    );

    // B overwrites A's key: its item has no parent, its origin is A's entry.
    const d5 = rawDoc(bClient, a.index.snapshot());
    const [u5] = updatesOf(d5, () => d5.getMap("records").set(aKey, new Uint8Array([1])));
    expect(refusedAtA(u5!, B)).toBe("UNAUTHORIZED_UPDATE");
    // Even from a fresh client that B would claim.
    const d6 = rawDoc(fresh + 1, a.index.snapshot());
    const [u6] = updatesOf(d6, () => d6.getMap("records").set(aKey, new Uint8Array([1])));
    expect(refusedAtA(u6!, B)).toBe("UNAUTHORIZED_UPDATE");
    expect(atA.ownerOf(fresh + 1)).toBeUndefined();

    // Deleting items of a client nobody knows yet is refused: Yjs would hold it for later.
    const ghost = rawDoc(fresh + 2);
    ghost.getMap("records").set(`g.0/${A}`, new Uint8Array([1]));
    const d7 = rawDoc(bClient, b.index.snapshot(), Y.encodeStateAsUpdate(ghost));
    const [u7] = updatesOf(d7, () => d7.getMap("records").delete(`g.0/${A}`));
    expect(refusedAtA(u7!, B)).toBe("UNAUTHORIZED_UPDATE");

    // Nothing of this reached A's index, and A's honest traffic still passes.
    expect(recordKeys(a.index).sort()).toEqual(recordKeys(b.index).sort());
    a.index.writeFile("f", { manifest: manifest(3) });
    receive(b.index, atB, a.sent[a.sent.length - 1]!, A);
  });

  test("fromDoc recovers owners after loading a snapshot; a disputed client is refused to all", () => {
    const a = device(A);
    const b = device(B);
    const atB = new ClientOwnership();
    a.index.writeFile("f", { manifest: manifest(1) });
    a.index.writeFile("f", { manifest: manifest(2) });
    a.index.remove("f");
    for (const u of a.sent) receive(b.index, atB, u, A);
    b.index.writeFile("g", { manifest: manifest(3) });
    const loaded = FolderIndex.load(b.index.snapshot(), { device: C });
    const own = ClientOwnership.fromDoc(loaded.doc);
    expect(own.size).toBe(2);
    expect(own.ownerOf(a.index.doc.clientID)).toBe(A);
    expect(own.ownerOf(b.index.doc.clientID)).toBe(B);
    expect(own.ownerOf(12345)).toBeUndefined();
    expect(ClientOwnership.fromDoc(loaded.doc, "elsewhere").size).toBe(0);
    // learn() adds what a merged document reveals and keeps what verified updates taught.
    const partial = new ClientOwnership();
    receive(device(C).index, partial, b.sent[0]!, B);
    partial.learn(loaded.doc);
    expect(partial.size).toBe(2);
    expect(partial.ownerOf(a.index.doc.clientID)).toBe(A);
    expect(partial.ownerOf(b.index.doc.clientID)).toBe(B);
    // With it, A's next update passes as A's and not as B's.
    a.index.writeFile("h", { manifest: manifest(4) });
    const next = a.sent[a.sent.length - 1]!;
    expect(codeOf(() => authorizeIndexUpdate(loaded.doc, next, B, own))).toBe(
      "UNAUTHORIZED_UPDATE",
    );
    receive(loaded, own, next, A);
    expect(loaded.stat("h")).toBeDefined();

    // A client whose records name two devices (written before any check): nobody owns it.
    const mixed = rawDoc(777);
    mixed.getMap("records").set(`m.0/${A}`, new Uint8Array([1]));
    mixed.getMap("records").set(`m.0/${B}`, new Uint8Array([1]));
    const disputed = ClientOwnership.fromDoc(mixed);
    expect(disputed.size).toBe(1);
    expect(disputed.ownerOf(777)).toBeUndefined();
    const [more] = updatesOf(mixed, () =>
      mixed.getMap("records").set(`m.1/${A}`, new Uint8Array()),
    );
    for (const signer of [A, B])
      expect(codeOf(() => authorizeIndexUpdate(mixed, more!, signer, disputed))).toBe(
        "UNAUTHORIZED_UPDATE",
      );
  });

  test("malformed bytes are INVALID_UPDATE; an empty update passes and claims nothing", () => {
    const a = device(A);
    a.index.writeFile("f", { manifest: manifest(1) });
    const good = a.sent[0]!;
    const own = new ClientOwnership();
    for (const bad of [
      new Uint8Array([]),
      new Uint8Array([1, 2, 3, 250, 251]),
      good.subarray(0, good.length - 8),
      new Uint8Array([1, 1, 5, 0, 31, 0, 0]), // an item with an unknown content kind
    ])
      expect(codeOf(() => authorizeIndexUpdate(a.index.doc, bad, A, own))).toBe("INVALID_UPDATE");
    const empty = Y.encodeStateAsUpdate(new Y.Doc());
    authorizeIndexUpdate(a.index.doc, empty, A, own)();
    expect(own.size).toBe(0);
  });
});
