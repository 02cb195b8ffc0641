/** Worker pools: an async task over many items, at most `limit` calls in flight at once. */

/** Options of {@link mapLimited} and {@link forEachLimited}: what a failure does, said by every caller. */
export interface LimitedOptions {
  /**
   * - `"stop"`: after the first failure no new item starts; it is rethrown once the calls in
   *   flight have settled, so nothing keeps running after the pool has rejected. For items that
   *   succeed or fail as one (a scan, a batch request, a transfer run that is retried whole).
   * - `"finish"`: every item still runs; the first failure is rethrown after all have settled.
   *   For independent items, where one failure must not keep the others from happening.
   */
  onFailure: "stop" | "finish";
}

/**
 * `task(item, index)` for every item, at most `limit` (at least 1) pending at once; resolves with
 * the results in the items' order. A failure ends the pool as `options.onFailure` says.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  options: LimitedOptions,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && (failure === undefined || options.onFailure === "finish")) {
      const index = next++;
      try {
        results[index] = await task(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** {@link mapLimited} without results. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  options: LimitedOptions,
  task: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  await mapLimited(items, limit, options, task);
}
