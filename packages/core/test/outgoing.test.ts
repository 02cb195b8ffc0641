// The outgoing document sends each deletion once: deltas applied in order rebuild the writer's
// index, and a delta after many overwrites does not carry the deletions sealed before it.
import { expect, test } from "vitest";
import * as Y from "yjs";
import { OutgoingIndex } from "../src/replica/outgoing.js";

test("deltas in order rebuild the document; sealed deletions are not sent again", () => {
  const source = new Y.Doc();
  const outgoing = new OutgoingIndex();
  source.on("update", (u: Uint8Array) => outgoing.add(u));
  const peer = new Y.Doc();
  const map = source.getMap("m");
  const sizes: number[] = [];
  for (let round = 0; round < 20; round++) {
    // Each round overwrites every key (as a bucket rewrite does) and adds new ones.
    for (let k = 0; k < 50 + round * 10; k++) map.set(`k${k}`, new Uint8Array([round, k & 255]));
    if (round % 3 === 0) map.delete(`k${round}`);
    const { update, state } = outgoing.delta();
    outgoing.markSealed(state);
    Y.applyUpdate(peer, update);
    sizes.push(update.length);
    expect(peer.getMap("m").toJSON()).toEqual(map.toJSON());
  }
  // A fresh replica that applies every delta in order, and a snapshot of the source, agree.
  const fresh = new Y.Doc();
  Y.applyUpdate(fresh, Y.encodeStateAsUpdate(peer));
  expect(fresh.getMap("m").toJSON()).toEqual(map.toJSON());
  expect(Y.encodeStateVector(peer)).toEqual(Y.encodeStateVector(source));
  // Every round deletes ~(50 + 10·round) values; with the whole delete set each time the last
  // delta would carry every deletion since the start (several thousand).
  const deletions = (u: Uint8Array) =>
    [...Y.decodeUpdate(u).ds.clients.values()].reduce(
      (n, items) => n + items.reduce((m, i) => m + i.len, 0),
      0,
    );
  const last = outgoing.delta();
  expect(deletions(last.update)).toBe(0);
  expect(sizes.at(-1)!).toBeLessThan(sizes.reduce((a, b) => a + b, 0) / 4);
});

test("a delta not sealed is offered again in full, deletions included", () => {
  const source = new Y.Doc();
  const outgoing = new OutgoingIndex();
  source.on("update", (u: Uint8Array) => outgoing.add(u));
  const map = source.getMap("m");
  map.set("a", 1);
  map.set("a", 2);
  outgoing.delta(); // offered, never sealed (the store failed, say)
  map.set("b", 3);
  const peer = new Y.Doc();
  Y.applyUpdate(peer, outgoing.delta().update);
  expect(peer.getMap("m").toJSON()).toEqual({ a: 2, b: 3 });
  expect(Y.decodeUpdate(outgoing.delta().update).ds.clients.size).toBe(1);
});
