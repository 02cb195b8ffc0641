/**
 * What this run of the device has written to the index, kept in a document of its own so that
 * a batch of local changes can be sent as one compact update: a value overwritten ten times
 * travels once, the older nine as tombstones of a few bytes, where merging the ten captured
 * updates (`Y.mergeUpdates`) would carry all ten values.
 */
import * as Y from "yjs";

/** A delete set: per client, sorted disjoint `[clock, clock + len)` ranges. */
type Ranges = Map<number, { clock: number; len: number }[]>;

/** This run's own index changes in a document of their own, so a batch is sent as one compact update (an overwritten value travels once). */
export class OutgoingIndex {
  private readonly doc = new Y.Doc();
  /** The state vector of what has been sealed so far. */
  private sealed: Uint8Array = new Uint8Array([0]);
  /** The deletions sealed so far. */
  private sealedDeletes: Ranges = new Map();
  /** The last {@link delta}'s state and deletions, until it is sealed. */
  private offered: { state: Uint8Array; deletes: Ranges } | undefined;

  /** Records a local update of the index (in the order they were made). */
  add(update: Uint8Array): void {
    // Only this run's own updates come here, and each chains only to this run's earlier items
    // (a new run writes new bucket keys), so nothing waits as pending except deletions of
    // earlier runs' items, which encodeStateAsUpdate carries along.
    Y.applyUpdate(this.doc, update);
  }

  /**
   * Everything recorded since the last {@link markSealed}: this run's new items (overwritten
   * values as tombstones) and the deletions not sealed yet. Returns the state to pass to
   * `markSealed`.
   *
   * `encodeStateAsUpdate` always appends the document's whole delete set, and every file
   * written here deletes the bucket value it replaced: each envelope of a bulk upload carried
   * every deletion of the run so far, so the bytes sent (and the work of every receiver) grew
   * with the square of the files (bench:sync: 2.4 KB per file at 2,205 files, 12 KB at 22,041).
   * The delete set is the update's tail and is encoded the same on its own (an update with no
   * new structs), so it is cut off and replaced with the deletions not sealed before. Deletions
   * are idempotent and every peer applies this device's envelopes in order, so none is lost.
   * When the document holds pending updates (deletions of items of earlier runs), Yjs merges
   * them into the result and the tail is not the delete set alone: then the whole update goes.
   */
  delta(): { update: Uint8Array; state: Uint8Array } {
    const state = Y.encodeStateVector(this.doc);
    const full = Y.encodeStateAsUpdate(this.doc, this.sealed);
    const deletes = deleteSetOf(this.doc);
    this.offered = { state, deletes };
    // The delete set alone: an update of no structs ("0 clients") followed by it.
    const tail = Y.encodeStateAsUpdate(this.doc, state).subarray(1);
    if (tail.length > full.length || !endsWith(full, tail)) return { update: full, state };
    const fresh = encodeDeleteSet(subtract(deletes, this.sealedDeletes));
    const update = new Uint8Array(full.length - tail.length + fresh.length);
    update.set(full.subarray(0, full.length - tail.length));
    update.set(fresh, full.length - tail.length);
    return { update, state };
  }

  /** Records that the delta up to `state` is sealed (in a stored envelope). */
  markSealed(state: Uint8Array): void {
    this.sealed = state;
    // Sealed without a delta (updates one by one): what they deleted is not tracked, so later
    // deltas carry it again, which is harmless.
    if (this.offered?.state === state) this.sealedDeletes = this.offered.deletes;
    this.offered = undefined;
  }
}

function deleteSetOf(doc: Y.Doc): Ranges {
  const out: Ranges = new Map();
  for (const [client, items] of Y.createDeleteSetFromStructStore(doc.store).clients)
    out.set(
      client,
      items.map(({ clock, len }) => ({ clock, len })),
    );
  return out;
}

/** `a` minus `b`, range by range (both sorted and disjoint per client, as Yjs keeps them). */
function subtract(a: Ranges, b: Ranges): Ranges {
  const out: Ranges = new Map();
  for (const [client, ranges] of a) {
    const minus = b.get(client) ?? [];
    const kept: { clock: number; len: number }[] = [];
    let j = 0;
    for (const r of ranges) {
      let from = r.clock;
      const to = r.clock + r.len;
      while (j < minus.length && minus[j]!.clock + minus[j]!.len <= from) j++;
      for (let k = j; k < minus.length && minus[k]!.clock < to; k++) {
        const m = minus[k]!;
        if (m.clock > from) kept.push({ clock: from, len: m.clock - from });
        from = Math.max(from, m.clock + m.len);
      }
      if (from < to) kept.push({ clock: from, len: to - from });
    }
    if (kept.length > 0) out.set(client, kept);
  }
  return out;
}

/** A delete set in Yjs's update format (v1): clients from the highest id, as Yjs writes them. */
function encodeDeleteSet(ds: Ranges): Uint8Array {
  const bytes: number[] = [];
  const uint = (n: number): void => {
    while (n > 0x7f) {
      bytes.push(0x80 | (n & 0x7f));
      n = Math.floor(n / 128);
    }
    bytes.push(n);
  };
  const clients = [...ds.entries()].sort((x, y) => y[0] - x[0]);
  uint(clients.length);
  for (const [client, ranges] of clients) {
    uint(client);
    uint(ranges.length);
    for (const { clock, len } of ranges) {
      uint(clock);
      uint(len);
    }
  }
  return Uint8Array.from(bytes);
}

function endsWith(bytes: Uint8Array, tail: Uint8Array): boolean {
  const at = bytes.length - tail.length;
  for (let i = 0; i < tail.length; i++) if (bytes[at + i] !== tail[i]) return false;
  return true;
}
