/** IndexedDbStateStore: a StateStore in the browser's IndexedDB, so a page's Replica survives a reload. */
import type { StateEntry, StateOp, StateStore, StorageKey } from "@weft/core/storage";
import { WeftError } from "@weft/core/errors";
import {
  checkStateOps,
  checkStorageData,
  checkStorageKey,
  checkStoragePrefix,
} from "@weft/core/storage";
import type { IndexedDbOptions } from "./idb.js";
import { STATE, inTransaction, openDatabase } from "./idb.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A {@link StateStore} in IndexedDB: one object store `state` in the database named at
 * {@link IndexedDbStateStore.open}, which an {@link IndexedDbBlobStore} may share. Every write is
 * one IndexedDB transaction with `durability: "strict"`, so its Promise resolves once the entry
 * is on disk, and a `transaction()` is all or none.
 *
 * A key is stored as an array of its parts in UTF-8 (binary keys). IndexedDB orders arrays part
 * by part with a prefix first, and binary parts byte by byte: exactly `compareStorageKeys` (`@weft/core/storage`).
 * String keys would not do: IndexedDB compares strings by UTF-16 code unit, which puts U+10000
 * and above before U+E000–U+FFFF.
 */
export class IndexedDbStateStore implements StateStore {
  private closed = false;

  private constructor(private readonly db: IDBDatabase) {
    // Another tab deleting or upgrading the database: let it, and refuse further calls here.
    db.onversionchange = () => void this.close();
  }

  /**
   * Opens the state store of database `name` (created on first use). One name per device and
   * folder, e.g. `weft-<folderId>`.
   * @throws WeftError INVALID_OPTIONS without IndexedDB; STORAGE if the browser refuses it
   */
  static async open(name: string, options: IndexedDbOptions = {}): Promise<IndexedDbStateStore> {
    return new IndexedDbStateStore(await openDatabase(name, options, "IndexedDbStateStore"));
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    this.checkOpen();
    checkStorageKey(key);
    const value = await this.read((store) => store.get(encodeKey(key)), "load");
    return value === undefined ? undefined : new Uint8Array(value as ArrayBuffer);
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.checkOpen();
    checkStorageKey(key);
    checkStorageData(data);
    await this.write([{ op: "save", key, data }], "save");
  }

  async remove(key: StorageKey): Promise<void> {
    this.checkOpen();
    checkStorageKey(key);
    await this.write([{ op: "remove", key }], "remove");
  }

  async loadRange(prefix: StorageKey): Promise<StateEntry[]> {
    this.checkOpen();
    checkStoragePrefix(prefix);
    const range = prefixRange(prefix);
    let keys: IDBRequest<IDBValidKey[]> | undefined;
    let values: IDBRequest<unknown[]> | undefined;
    await inTransaction(this.db, [STATE], "readonly", "IndexedDbStateStore: loadRange", (tx) => {
      const store = tx.objectStore(STATE);
      // Two requests in one transaction see the same entries, both in key order.
      keys = store.getAllKeys(range);
      values = store.getAll(range);
    });
    const k = keys?.result ?? [];
    const v = values?.result ?? [];
    return k.map((key, i) => ({
      key: decodeKey(key),
      data: new Uint8Array(v[i] as ArrayBuffer),
    }));
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    this.checkOpen();
    checkStoragePrefix(prefix);
    await this.write([{ op: "removeRange", prefix }], "removeRange");
  }

  async transaction(ops: readonly StateOp[]): Promise<void> {
    this.checkOpen();
    // Every op is checked before the IndexedDB transaction starts, so a bad one changes nothing.
    checkStateOps(ops);
    if (ops.length === 0) return;
    await this.write(ops, "transaction");
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      // IndexedDB finishes the transactions already started before it closes.
      this.db.close();
    }
    return Promise.resolve();
  }

  private async read(
    request: (store: IDBObjectStore) => IDBRequest,
    what: string,
  ): Promise<unknown> {
    let req: IDBRequest | undefined;
    await inTransaction(this.db, [STATE], "readonly", `IndexedDbStateStore: ${what}`, (tx) => {
      req = request(tx.objectStore(STATE));
    });
    return req?.result as unknown;
  }

  private write(ops: readonly StateOp[], what: string): Promise<void> {
    return inTransaction(this.db, [STATE], "readwrite", `IndexedDbStateStore: ${what}`, (tx) => {
      const store = tx.objectStore(STATE);
      // Requests in one transaction run in the order they were made.
      for (const op of ops) {
        if (op.op === "save") store.put(copyBuffer(op.data), encodeKey(op.key));
        else if (op.op === "remove") store.delete(encodeKey(op.key));
        else if (op.prefix.length === 0) store.clear();
        else store.delete(prefixRange(op.prefix) as IDBKeyRange);
      }
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new WeftError("STORAGE", "IndexedDbStateStore is closed");
  }
}

/** A key as IndexedDB stores it: its parts as UTF-8 bytes. */
function encodeKey(key: StorageKey): ArrayBuffer[] {
  return key.map((part) => copyBuffer(encoder.encode(part)));
}

function decodeKey(key: IDBValidKey): string[] {
  return (key as ArrayBuffer[]).map((part) => decoder.decode(part));
}

/**
 * Every key that starts with `prefix`: from `prefix` itself up to `[...prefix, []]`, since an
 * array sorts after every binary part and so after every longer key with this prefix, and
 * before any key that differs within the prefix. Undefined for the empty prefix (everything).
 */
function prefixRange(prefix: StorageKey): IDBKeyRange | undefined {
  if (prefix.length === 0) return undefined;
  const lower = encodeKey(prefix);
  return IDBKeyRange.bound(lower, [...lower, []]);
}

/** The bytes of `data` in an ArrayBuffer of their own (a view's neighbours are not stored). */
function copyBuffer(data: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return copy.buffer;
}
