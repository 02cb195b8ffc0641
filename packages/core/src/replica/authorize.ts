/** Refuses a verified folder-index update that touches what its signing device does not own. */
import type { DeviceId } from "@weft/crypto";
import * as Y from "yjs";
import { WeftError } from "../errors.js";
import { parseBucketKey } from "../folder/records.js";

/** The root map of a folder index (see `FolderIndex`): the only type an update may write to. */
const RECORDS = "records";

/**
 * Owner of each Yjs client id; `null` marks a client whose items in a document name several
 * devices. Such a client is refused to everyone: no device can be trusted to extend it.
 */
type Owners = Map<number, DeviceId | null>;

/** Module-private access to a {@link ClientOwnership}'s map, so only this module can write it. */
let ownersOf: (o: ClientOwnership) => Owners;

/**
 * Who wrote which Yjs client ids of an index document; learnt from verified updates.
 *
 * A Yjs item is identified by `(client, clock)` and Yjs keeps the first struct it sees for an id,
 * so a client id must stay with the device that first used it: otherwise another member could
 * pre-empt that device's clocks, or chain items and deletions onto that device's items.
 */
export class ClientOwnership {
  readonly #owners: Owners = new Map();

  static {
    ownersOf = (o) => o.#owners;
  }

  /**
   * Rebuilds ownership from a document's existing items (e.g. after loading a local snapshot).
   * Items whose key is a bucket key tell their client's device; a client whose items name two
   * devices is recorded as owned by no one and refused to every signer.
   */
  static fromDoc(doc: Y.Doc, recordsMapName: string = RECORDS): ClientOwnership {
    const ownership = new ClientOwnership();
    ownership.learn(doc, recordsMapName);
    return ownership;
  }

  /**
   * Adds the clients of `doc` not known yet, as {@link fromDoc} reads them (e.g. after merging
   * a snapshot). Known clients keep their owner: it was learnt from a verified update.
   */
  learn(doc: Y.Doc, recordsMapName: string = RECORDS): void {
    const records = doc.share.get(recordsMapName);
    if (!records) return;
    for (const [client, structs] of doc.store.clients) {
      if (this.#owners.has(client)) continue;
      const owner = ownerInDoc(structs, records);
      if (owner !== undefined) this.#owners.set(client, owner);
    }
  }

  /** The device that owns a Yjs client id; undefined when unknown or disputed. */
  ownerOf(client: number): DeviceId | undefined {
    return this.#owners.get(client) ?? undefined;
  }

  /** Number of clients known (disputed ones included). */
  get size(): number {
    return this.#owners.size;
  }
}

/**
 * The device a client's items in a document name: undefined if none of them is a record with a
 * bucket key, null if they name more than one device.
 */
function ownerInDoc(
  structs: readonly (Y.Item | Y.GC)[],
  records: unknown,
): DeviceId | null | undefined {
  let owner: DeviceId | undefined;
  for (const s of structs) {
    if (!(s instanceof Y.Item) || s.parent !== records || s.parentSub === null) continue;
    const device = parseBucketKey(s.parentSub)?.device;
    if (device === undefined || device === owner) continue;
    if (owner !== undefined) return null;
    owner = device;
  }
  return owner;
}

const unauthorized = (message: string): WeftError => new WeftError("UNAUTHORIZED_UPDATE", message);

const NOTHING_TO_COMMIT = (): void => {};

/**
 * Checks, before it is applied to `doc`, that a Yjs v1 update signed by `signer` only writes
 * `signer`'s own records. Throws WeftError("UNAUTHORIZED_UPDATE") unless the update only:
 *  - inserts items directly into the root map "records" under bucket keys whose device is
 *    `signer`, with binary (or deleted) content; an item whose parent Yjs left out (it has an
 *    origin: a map entry overwriting an earlier entry of its key) takes the key of that origin,
 *    so the origin must lie in a client of `signer`'s. GC and Skip structs carry no content;
 *  - uses Yjs client ids that are unknown (they become `signer`'s on commit) or `signer`'s;
 *  - deletes only in clients owned by `signer` or claimed by this update.
 * Throws WeftError("INVALID_UPDATE") if the update cannot be decoded.
 *
 * Returns `commit()`, which records the clients this update claims for `signer` into
 * `ownership`: call it only once the update has been applied. Authorize, apply and commit
 * without yielding in between, so two updates cannot claim the same client.
 *
 * An update carrying other devices' items (a whole-document delta relayed by a peer) is refused:
 * each device's writes must travel in envelopes signed by that device.
 */
export function authorizeIndexUpdate(
  doc: Y.Doc,
  update: Uint8Array,
  signer: DeviceId,
  ownership: ClientOwnership,
): () => void {
  let decoded: ReturnType<typeof Y.decodeUpdate>;
  try {
    decoded = Y.decodeUpdate(update);
  } catch (cause) {
    throw new WeftError("INVALID_UPDATE", "malformed index update", { cause });
  }
  const owners = ownersOf(ownership);
  /** Clients this update introduces: the signer's once committed. */
  let claims: Set<number> | undefined;
  /** Origins in clients other than their item's own, checked once every claim is known. */
  let foreign: number[] | undefined;

  /** True when `client` is known to be the signer's (learning it from `doc` if needed). */
  const isSigners = (client: number): boolean => {
    const owner = owners.get(client);
    if (owner !== undefined) return owner === signer;
    if (claims?.has(client)) return true;
    // Not in `ownership` but already in the document (e.g. applied before this ownership was
    // built): the document's own records say whose it is; never hand it to a new claimant.
    if (Y.getState(doc.store, client) > 0) {
      const records = doc.share.get(RECORDS);
      const structs = doc.store.clients.get(client);
      if (!records || !structs || ownerInDoc(structs, records) !== signer) return false;
      (claims ??= new Set()).add(client);
      return true;
    }
    return false;
  };

  // Structs come grouped by client: each client is checked once, not once per struct.
  let checked = -1;
  for (const s of decoded.structs) {
    // A Skip only marks a gap in a merged update: Yjs never integrates it, it claims nothing.
    if (s instanceof Y.Skip) continue;
    const client = s.id.client;
    if (client !== checked) {
      if (!isSigners(client)) {
        if (owners.has(client) || Y.getState(doc.store, client) > 0)
          throw unauthorized(`update by ${signer} uses Yjs client ${client} of another device`);
        (claims ??= new Set()).add(client);
      }
      checked = client;
    }
    if (s instanceof Y.GC) continue;
    if (!(s instanceof Y.Item)) throw new WeftError("INVALID_UPDATE", "unknown struct in update");
    // decodeUpdate leaves the parent as read from the wire: a root type's name, a nested
    // type's item id, or null when Yjs will copy parent and key from the origin item.
    const parent = s.parent as unknown as string | Y.ID | null;
    if (parent === null) {
      // One writer per key: an honest device only chains onto its own entries of its own keys.
      const { origin, rightOrigin } = s;
      if (origin === null && rightOrigin === null)
        throw new WeftError("INVALID_UPDATE", "index update item without parent or origin");
      if (origin && origin.client !== client) (foreign ??= []).push(origin.client);
      if (rightOrigin && rightOrigin.client !== client) (foreign ??= []).push(rightOrigin.client);
    } else {
      if (parent !== RECORDS || s.parentSub === null)
        throw unauthorized(`update by ${signer} writes outside the records map`);
      if (parseBucketKey(s.parentSub)?.device !== signer)
        throw unauthorized(`update by ${signer} writes key ${s.parentSub} it does not own`);
    }
    // Records are binary slot blobs; nested types or subdocuments would open other writers.
    if (!(s.content instanceof Y.ContentBinary || s.content instanceof Y.ContentDeleted))
      throw unauthorized(`update by ${signer} writes a record that is not binary`);
  }
  if (foreign) {
    for (const client of foreign) {
      if (!isSigners(client))
        throw unauthorized(`update by ${signer} extends an entry of Yjs client ${client}`);
    }
  }
  // Deletes of a client nobody here knows yet are refused too: Yjs would keep them pending and
  // apply them to whichever items later arrive under that id.
  for (const client of decoded.ds.clients.keys()) {
    if (!isSigners(client))
      throw unauthorized(`update by ${signer} deletes items of Yjs client ${client}`);
  }
  if (!claims) return NOTHING_TO_COMMIT;
  const claimed = claims;
  return () => {
    // First claim wins: a client recorded in the meantime is not reassigned.
    for (const client of claimed) if (!owners.has(client)) owners.set(client, signer);
  };
}
