/**
 * This device's records as its sealed envelopes have them, which is what the folder's log
 * holds of it: the document's, minus local changes still waiting in the outbox.
 */
import type { DeviceId } from "@weft/crypto";
import { sha256 } from "@weft/crypto";
import * as Y from "yjs";
import { type RecordsDigester, compareKeys, digestOfLines, recordLine } from "./attestation.js";

/** One live record as sealed: the Yjs id of its newest write, and its line in the digest. */
interface SealedRecord {
  client: number;
  clock: number;
  line: Uint8Array;
}

/**
 * Tracks this device's records as sealed so far, so that an envelope that takes only part of
 * the outbox (the rest waits for its chunks to upload) can still carry a signature over
 * exactly what the log then holds of this device. Without it only an envelope that empties
 * the outbox could; a device that vanished between the two would leave every later snapshot
 * of the folder without a valid attestation of its records.
 *
 * Known (`valid`) from the first time everything is sealed ({@link reset}), not before: a
 * replica opens without walking its records (a large folder's `weft sync --once` with nothing
 * to send pays nothing), and an earlier run's unsealed changes may be waiting.
 */
export class SealedRecords {
  private readonly keys = new Map<string, SealedRecord>();
  /** The keys in digest order, kept so that a digest costs a pass, not a sort. */
  private readonly order: string[] = [];
  /** Clocks of this device's Yjs clients, as sealed. */
  private readonly states = new Map<number, number>();
  private valid = false;

  constructor(
    private readonly doc: Y.Doc,
    private readonly device: DeviceId,
    private readonly digester: RecordsDigester,
  ) {}

  /** Everything this device wrote is sealed: its records are the document's. */
  reset(): Uint8Array {
    const { keys, clients } = this.digester.own(this.device);
    this.keys.clear();
    this.states.clear();
    keys.sort((a, b) => compareKeys(a[0], b[0]));
    this.order.length = 0;
    for (const [key, item, hash] of keys) {
      this.keys.set(key, {
        client: item.id.client,
        clock: item.id.clock,
        line: recordLine(key, hash),
      });
      this.order.push(key);
    }
    for (const [client, clock] of clients) this.states.set(client, clock);
    this.valid = true;
    return this.digest()!;
  }

  /**
   * Some of the outbox was sealed: `updates`, this device's own index updates in the order
   * they were made. Returns the digest of its records as sealed now, or undefined while that
   * is unknown.
   */
  sealed(updates: readonly Uint8Array[]): Uint8Array | undefined {
    if (!this.valid) return undefined;
    for (const update of updates) this.seal(update);
    return this.digest();
  }

  /** What is sealed is unknown again (own records arrived from elsewhere, with changes unsent). */
  invalidate(): void {
    this.valid = false;
  }

  private seal(update: Uint8Array): void {
    const { structs, ds } = Y.decodeUpdate(update);
    const records = this.doc.share.get("records");
    const written = new Map<number, (Y.Item | Y.GC)[]>();
    const touched = new Set<string>();
    for (const s of structs) {
      if (s instanceof Y.Skip) continue;
      const client = s.id.client;
      let list = written.get(client);
      if (!list) written.set(client, (list = []));
      list.push(s);
      this.states.set(client, Math.max(this.states.get(client) ?? 0, s.id.clock + s.length));
      if (!(s instanceof Y.Item)) continue;
      // decodeUpdate leaves the key out when Yjs takes it from the origin: the document has it.
      const key = s.parentSub ?? Y.getItem(this.doc.store, s.id).parentSub;
      if (key !== null) touched.add(key);
    }
    for (const key of touched) {
      // The newest write to the key that is sealed: walk left past what is still unsent.
      let item = records?._map.get(key) ?? null;
      while (item && item.id.clock >= (this.states.get(item.id.client) ?? 0)) item = item.left;
      if (!item) {
        this.remove(key);
        continue;
      }
      const client = item.id.client;
      const clock = Math.min(item.id.clock + item.length, this.states.get(client)!) - 1;
      const s = written
        .get(client)
        ?.find((w) => w.id.clock <= clock && clock < w.id.clock + w.length);
      if (!s) continue; // written in an earlier update: the view has it already
      if (s instanceof Y.Item && s.content instanceof Y.ContentBinary)
        this.set(key, { client, clock, line: recordLine(key, sha256(s.content.content)) });
      else this.remove(key);
    }
    // Keys this update removed (a delete with no new write).
    for (const [client, ranges] of ds.clients) {
      for (const [key, r] of this.keys) {
        if (r.client !== client) continue;
        if (ranges.some((d) => d.clock <= r.clock && r.clock < d.clock + d.len)) this.remove(key);
      }
    }
  }

  private set(key: string, record: SealedRecord): void {
    if (!this.keys.has(key)) this.order.splice(this.position(key), 0, key);
    this.keys.set(key, record);
  }

  private remove(key: string): void {
    if (!this.keys.delete(key)) return;
    this.order.splice(this.position(key), 1);
  }

  /** Where `key` is or would go in `order` (binary search). */
  private position(key: string): number {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.order[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private digest(): Uint8Array | undefined {
    if (!this.valid) return undefined;
    return digestOfLines(
      [...this.states],
      this.order.map((key) => this.keys.get(key)!.line),
    );
  }
}
