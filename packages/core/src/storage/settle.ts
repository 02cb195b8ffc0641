/** Runs synchronous store work as a Promise, so that every failure is a rejection. */
import { WeftError } from "../errors.js";

/**
 * `fn()` as a Promise: its result, or a rejection with whatever it threw. The stores' contract
 * is that a method never throws synchronously, so a caller's `.catch` or `await` always sees it.
 */
export function settle<T>(fn: () => T): Promise<T> {
  // A throw inside the executor becomes the rejection.
  return new Promise<T>((resolve) => resolve(fn()));
}

/** The error every store method rejects with after `close()`. */
export function closedError(store: string): WeftError {
  return new WeftError("STORAGE", `${store} is closed`);
}
