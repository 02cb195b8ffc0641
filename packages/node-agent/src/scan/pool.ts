/** A small worker pool: runs an async task over many items with at most `limit` in flight. */

/**
 * Calls `task` on every item with at most `limit` calls pending at once, and resolves when all
 * are done. The first rejection stops the workers from taking new items and is rethrown once
 * the calls in flight have settled, so nothing keeps running after the pool has rejected.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure !== undefined) throw failure.error;
}
