/**
 * What this run of the device has written to the index, kept in a document of its own so that
 * a batch of local changes can be sent as one compact update: a value overwritten ten times
 * travels once, the older nine as tombstones of a few bytes, where merging the ten captured
 * updates (`Y.mergeUpdates`) would carry all ten values.
 */
import * as Y from "yjs";

/** This run's own index changes in a document of their own, so a batch is sent as one compact update (an overwritten value travels once). */
export class OutgoingIndex {
  private readonly doc = new Y.Doc();
  /** The state vector of what has been sealed so far. */
  private sealed: Uint8Array = new Uint8Array([0]);

  /** Records a local update of the index (in the order they were made). */
  add(update: Uint8Array): void {
    // Only this run's own updates come here, and each chains only to this run's earlier items
    // (a new run writes new bucket keys), so nothing waits as pending except deletions of
    // earlier runs' items, which encodeStateAsUpdate carries along.
    Y.applyUpdate(this.doc, update);
  }

  /**
   * Everything recorded since the last {@link markSealed}: this run's new items (overwritten
   * values as tombstones) and its deletions. Returns the state to pass to `markSealed`.
   */
  delta(): { update: Uint8Array; state: Uint8Array } {
    return {
      update: Y.encodeStateAsUpdate(this.doc, this.sealed),
      state: Y.encodeStateVector(this.doc),
    };
  }

  /** Records that the delta up to `state` is sealed (in a stored envelope). */
  markSealed(state: Uint8Array): void {
    this.sealed = state;
  }
}
