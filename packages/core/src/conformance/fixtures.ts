/** What a conformance suite needs from an adapter's test file, and small helpers the suites share. */
import { afterEach, beforeEach, expect } from "vitest";
import { WeftError } from "../errors.js";
import type { WeftErrorCode } from "../errors.js";

/**
 * One fresh, empty store for one test, made by the `setup` a suite is given.
 *
 * The suite closes whatever store is current before calling `reopen` and before `teardown`, so
 * neither needs to (closing twice is allowed anyway).
 */
export interface StoreFixture<S> {
  /** A fresh, empty store. */
  store: S;
  /**
   * Opens the same data again after the suite closed the store, as a restarted process would.
   * Omit it for a store that keeps nothing (memory): the tests of persistence are then skipped.
   */
  reopen?: () => Promise<S>;
  /** Removes what setup made (files, directories). Runs after every test, passed or failed. */
  teardown: () => Promise<void>;
}

/** Makes a {@link StoreFixture}; called before every test of a suite. */
export type StoreSetup<S> = () => Promise<StoreFixture<S>>;

/** `n` bytes of a pattern that depends on `seed`, so that two values differ everywhere. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 101 + (i >>> 8)) & 0xff;
  return out;
}

/** Asserts that `promise` rejects with a WeftError of `code`. */
export async function expectWeftError(
  promise: Promise<unknown>,
  code: WeftErrorCode,
): Promise<void> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  expect(outcome.resolved, `expected a WeftError ${code}, but the call resolved`).toBe(false);
  if (outcome.resolved) return;
  expect(outcome.error).toBeInstanceOf(WeftError);
  expect((outcome.error as WeftError).code).toBe(code);
}

/**
 * Asserts that `actual` holds exactly the bytes of `expected`. For large values: `toEqual`
 * compares element by element through generic equality, seconds per MiB.
 */
export function expectSameBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  if (!(actual instanceof Uint8Array)) return;
  expect(actual.length, "byte length").toBe(expected.length);
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      at = i;
      break;
    }
  }
  expect(at, "index of the first differing byte").toBe(-1);
}

/** The current store of a suite, and the way to reopen it; see {@link useStoreFixture}. */
export interface StoreHandle<S> {
  /** The store of the running test (a new object after `reopen`). */
  readonly store: S;
  /** Closes the store and opens its data again, as a restarted process would. */
  reopen(): Promise<void>;
  /** False for an adapter that keeps nothing (no `reopen` in its fixture). */
  canReopen(): boolean;
}

/**
 * Registers the per-test life cycle every suite shares: `setup` before each test, then after
 * it (passed or failed) the store is closed and the fixture torn down.
 */
export function useStoreFixture<S extends { close(): Promise<void> }>(
  setup: StoreSetup<S>,
): StoreHandle<S> {
  let fixture: StoreFixture<S> | undefined;
  let store: S | undefined;
  beforeEach(async () => {
    fixture = await setup();
    store = fixture.store;
  });
  afterEach(async () => {
    const f = fixture;
    const s = store;
    fixture = undefined;
    store = undefined;
    if (f === undefined) return;
    try {
      await s?.close();
    } finally {
      await f.teardown();
    }
  });
  return {
    get store(): S {
      if (store === undefined) throw new Error("the store is used outside a test");
      return store;
    },
    async reopen(): Promise<void> {
      const again = fixture?.reopen;
      if (again === undefined) throw new Error("reopen() called without fixture.reopen");
      await store?.close();
      store = await again();
    },
    canReopen: () => fixture?.reopen !== undefined,
  };
}
