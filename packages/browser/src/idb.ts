/** The IndexedDB plumbing both stores share: one database schema, requests as Promises, errors as WeftErrors. */
import { WeftError } from "@weft/core/errors";
import { storageError } from "@weft/core/storage";

/** The object stores of a Weft database: a StateStore's entries, and a BlobStore's chunks and their sizes. */
export const STATE = "state";
/** Chunk id → the chunk's bytes (an ArrayBuffer). */
export const CHUNKS = "chunks";
/** Chunk id → the chunk's length, so `size()` and `delete()` never read a chunk's bytes. */
export const CHUNK_SIZES = "chunk-sizes";

// Version 1 creates every object store, so a StateStore and a BlobStore may share one database
// name and whichever opens first creates both.
const VERSION = 1;

/** Options of `IndexedDbStateStore.open` and `IndexedDbBlobStore.open`. */
export interface IndexedDbOptions {
  /** The IndexedDB factory. Default: `globalThis.indexedDB` (every browser, and web workers). */
  indexedDB?: IDBFactory;
}

/**
 * Opens (and on first use creates) the Weft database `name`.
 * @throws WeftError INVALID_OPTIONS for an empty name or when there is no IndexedDB; STORAGE when
 * the browser refuses to open it (private mode in some browsers, storage disabled)
 */
export async function openDatabase(
  name: string,
  options: IndexedDbOptions,
  what: string,
): Promise<IDBDatabase> {
  if (typeof name !== "string" || name.length === 0)
    throw new WeftError("INVALID_OPTIONS", `${what}: the database name must be a non-empty string`);
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (factory === undefined)
    throw new WeftError(
      "INVALID_OPTIONS",
      `${what}: there is no IndexedDB here (not a browser?); pass options.indexedDB`,
    );
  let request: IDBOpenDBRequest;
  try {
    request = factory.open(name, VERSION);
  } catch (error) {
    throw idbError(`${what}: open`, error);
  }
  request.onupgradeneeded = () => {
    const db = request.result;
    for (const store of [STATE, CHUNKS, CHUNK_SIZES])
      if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
  };
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(idbError(`${what}: open`, request.error));
    request.onblocked = () =>
      reject(
        new WeftError(
          "STORAGE",
          `${what}: open is blocked by an older version of this database open in another tab`,
        ),
      );
  });
  return db;
}

/**
 * A failure of IndexedDB as a WeftError: a full quota is DISK_FULL (the browser's storage for
 * this origin is used up), anything else STORAGE naming the DOMException's name; the message
 * never quotes the browser's own text, which is kept as the cause.
 */
export function idbError(what: string, error: unknown): WeftError {
  if (error instanceof WeftError) return error;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === "QuotaExceededError")
    return new WeftError(
      "DISK_FULL",
      `${what} failed: the browser's storage quota for this site is used up`,
      { cause: error },
    );
  if (typeof name === "string")
    return new WeftError("STORAGE", `${what} failed (${name})`, { cause: error });
  return storageError(what, error);
}

/**
 * Runs `work` in one transaction over `stores` and resolves with what it returns once the
 * transaction has committed (for a write: durably, `durability: "strict"`), or rejects and
 * leaves the database as it was. `work` only issues requests; it reads their results later, in
 * their `onsuccess` callbacks or after this resolves.
 */
export function inTransaction<T>(
  db: IDBDatabase,
  stores: string[],
  mode: IDBTransactionMode,
  what: string,
  work: (tx: IDBTransaction) => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let tx: IDBTransaction;
    let result: T;
    try {
      tx =
        mode === "readwrite"
          ? db.transaction(stores, mode, { durability: "strict" })
          : db.transaction(stores, mode);
    } catch (error) {
      reject(idbError(what, error));
      return;
    }
    tx.oncomplete = () => resolve(result);
    // An abort follows a failed request; report the request's error, which says more.
    tx.onabort = () => reject(idbError(what, tx.error ?? new Error("transaction aborted")));
    try {
      result = work(tx);
    } catch (error) {
      try {
        tx.abort();
      } catch {
        // Already finished: the abort handler, if any, has the error.
      }
      reject(idbError(what, error));
    }
  });
}
