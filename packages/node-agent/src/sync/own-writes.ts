/**
 * The paths this agent wrote itself, for a short while: the watcher reports the agent's own
 * writes like anyone's, and a large download would otherwise make the folder be walked again
 * and again for nothing.
 */
import { lstat } from "node:fs/promises";
import { isTempName } from "../materialize/index.js";
import { safeJoin } from "../names/index.js";

/** What this agent last knew of a path on disk (its local record), to tell its writes from others'. */
export interface KnownFile {
  kind: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

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

  /**
   * Whether watcher events for `paths` may hold a change that is not the agent's own: true
   * unless every path is a temp file, or was written by the agent a moment ago and is still
   * exactly what it wrote (`known(path)`: the local record; same size, mtime and inode; or
   * removed by the agent, so no record). A person who edits a file just after it arrived is
   * seen at once, not at the next rescan.
   */
  async othersChanged(
    root: string,
    paths: Iterable<string>,
    known: (path: string) => KnownFile | undefined,
  ): Promise<boolean> {
    for (const path of paths) {
      if (!this.has(path)) return true;
      if (isTempName(path.slice(path.lastIndexOf("/") + 1))) continue;
      const rec = known(path);
      const s = await lstat(safeJoin(root, path)).catch(() => undefined);
      if (!s) {
        if (rec) return true; // the agent placed it; someone removed it
        continue;
      }
      if (s.isDirectory()) continue; // its own entries carry the news, if any
      if (!rec || rec.size !== s.size || rec.mtimeMs !== s.mtimeMs || rec.ino !== s.ino)
        return true;
    }
    return false;
  }

  /** Whether a watcher event for `path` falls in the moment after the agent wrote it (or is one of its temp files). */
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
