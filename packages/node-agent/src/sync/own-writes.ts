/**
 * The paths this agent wrote itself, for a short while: the watcher reports the agent's own
 * writes like anyone's, and a large download would otherwise make the folder be walked again
 * and again for nothing.
 */
import { isTempName } from "../materialize/index.js";

/** How long after writing a path this agent takes watcher events for it as its own. */
const OWN_WRITE_MS = 2000;
/** Entries kept before expired ones are swept. */
const SWEEP_AT = 100_000;

/** See the module comment. */
export class OwnWrites {
  private readonly at = new Map<string, number>();

  /** Notes that the agent is about to write `path` (and so touch the directories above it). */
  wrote(path: string): void {
    const now = Date.now();
    if (this.at.size > SWEEP_AT)
      for (const [p, t] of this.at) if (now - t >= OWN_WRITE_MS) this.at.delete(p);
    for (let p = path; p !== ""; p = p.slice(0, Math.max(0, p.lastIndexOf("/"))))
      this.at.set(p, now);
  }

  /** Whether a watcher event for `path` is the agent's own doing (or one of its temp files). */
  has(path: string): boolean {
    if (isTempName(path.slice(path.lastIndexOf("/") + 1))) return true;
    const t = this.at.get(path);
    return t !== undefined && Date.now() - t < OWN_WRITE_MS;
  }
}

/** Runs `task` over `items`, at most `limit` at a time. */
export async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
