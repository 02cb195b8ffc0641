/** MemoryStateStore: a StateStore held in a Map, for tests and apps with no disk. */
import type { StorageKey } from "./keys.js";
import {
  copyBytes,
  checkStorageData,
  checkStorageKey,
  checkStoragePrefix,
  compareStorageKeys,
  keyHasPrefix,
} from "./keys.js";
import { closedError, settle } from "./settle.js";
import type { StateEntry, StateOp, StateStore } from "./state-store.js";
import { checkStateOps } from "./state-store.js";

interface Entry {
  key: string[];
  data: Uint8Array;
}

/**
 * A {@link StateStore} in memory: real (validation, order, copies, all-or-none transactions as
 * any adapter), but gone when the process ends. `loadRange` sorts on each call, which is fine
 * for the thousands of keys a device keeps, not for millions.
 */
export class MemoryStateStore implements StateStore {
  // Parts have no NUL, so joining on NUL names each key uniquely.
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    return settle(() => {
      this.checkOpen();
      checkStorageKey(key);
      const data = this.entries.get(mapKey(key))?.data;
      return data && copyBytes(data);
    });
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkStorageKey(key);
      checkStorageData(data);
      this.apply({ op: "save", key, data });
    });
  }

  remove(key: StorageKey): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkStorageKey(key);
      this.apply({ op: "remove", key });
    });
  }

  loadRange(prefix: StorageKey): Promise<StateEntry[]> {
    return settle(() => {
      this.checkOpen();
      checkStoragePrefix(prefix);
      const found: StateEntry[] = [];
      for (const e of this.entries.values())
        if (keyHasPrefix(e.key, prefix)) found.push({ key: [...e.key], data: copyBytes(e.data) });
      return found.sort((a, b) => compareStorageKeys(a.key, b.key));
    });
  }

  removeRange(prefix: StorageKey): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkStoragePrefix(prefix);
      this.apply({ op: "removeRange", prefix });
    });
  }

  transaction(ops: readonly StateOp[]): Promise<void> {
    return settle(() => {
      this.checkOpen();
      // Validating every op first is what makes this all-or-none: applying cannot fail.
      checkStateOps(ops);
      for (const op of ops) this.apply(op);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private apply(op: StateOp): void {
    switch (op.op) {
      case "save":
        // Copy in, so the caller's later changes to its array do not reach the store.
        this.entries.set(mapKey(op.key), { key: [...op.key], data: copyBytes(op.data) });
        return;
      case "remove":
        this.entries.delete(mapKey(op.key));
        return;
      case "removeRange":
        for (const [k, e] of this.entries)
          if (keyHasPrefix(e.key, op.prefix)) this.entries.delete(k);
        return;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw closedError("MemoryStateStore");
  }
}

function mapKey(key: StorageKey): string {
  return key.join("\0");
}
