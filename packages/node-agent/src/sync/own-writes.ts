/**
 * The paths this agent wrote itself, for a short while: the watcher reports the agent's own
 * writes like anyone's, and a large download would otherwise make the folder be walked again
 * and again for nothing.
 */
import { lstat } from "node:fs/promises";
import { isTempName } from "../materialize/index.js";
import { safeJoin } from "../names/index.js";
import { type Clock, systemClock } from "./clock.js";

/** What this agent last knew of a path on disk (its disk state), to tell its writes from others'. */
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

/**
 * How long after the agent replaced a file the watcher may not see it change. chokidar watches
 * each file by its inode; a file the agent renames into place is a new inode, watched only once
 * chokidar has noticed the rename, and a person's edit in that moment is never reported (seen:
 * an edit 17 ms after a placement, missed until the next rescan a minute later).
 */
export const WATCH_BLIND_MS = 1000;

/** The paths this agent wrote itself, kept for a short while, so that the watcher's reports of them do not trigger another walk of the folder. */
export class OwnWrites {
  private readonly at = new Map<string, number>();
  /** Paths written and not yet looked at again after `WATCH_BLIND_MS`. */
  private readonly unchecked = new Map<string, number>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Notes that the agent is about to write `path` (and so touch the directories above it). */
  wrote(path: string): void {
    const now = this.clock.now();
    if (this.at.size > SWEEP_AT)
      for (const [p, t] of this.at) if (now - t >= OWN_WRITE_MS) this.at.delete(p);
    for (let p = path; p !== ""; p = p.slice(0, Math.max(0, p.lastIndexOf("/"))))
      this.at.set(p, now);
    this.unchecked.set(path, now);
  }

  /** Whether some written path still waits for {@link OwnWrites.changedSinceWritten}. */
  get pendingCheck(): boolean {
    return this.unchecked.size > 0;
  }

  /**
   * The paths the agent wrote at least `WATCH_BLIND_MS` ago that are no longer what it wrote
   * (`known`: the disk state), which the watcher may have missed: the caller scans them. The
   * paths looked at are not looked at again; younger ones wait for the next call.
   */
  async changedSinceWritten(
    root: string,
    known: (path: string) => KnownFile | undefined,
  ): Promise<string[]> {
    const now = this.clock.now();
    const due: string[] = [];
    for (const [path, t] of this.unchecked)
      if (now - t >= WATCH_BLIND_MS) {
        due.push(path);
        this.unchecked.delete(path);
      }
    const changed: string[] = [];
    for (const path of due) if (await this.differs(root, path, known)) changed.push(path);
    return changed;
  }

  /** Whether `path` on disk is not what the agent last recorded of it. */
  private async differs(
    root: string,
    path: string,
    known: (path: string) => KnownFile | undefined,
  ): Promise<boolean> {
    const rec = known(path);
    const s = await lstat(safeJoin(root, path)).catch(() => undefined);
    if (!s) return rec !== undefined; // the agent placed it; someone removed it
    if (s.isDirectory()) return false; // its own entries carry the news, if any
    return !rec || rec.size !== s.size || rec.mtimeMs !== s.mtimeMs || rec.ino !== s.ino;
  }

  /**
   * Whether watcher events for `paths` may hold a change that is not the agent's own: true
   * unless every path is a temp file, or was written by the agent a moment ago and is still
   * exactly what it wrote (`known(path)`: the disk state; same size, mtime and inode; or
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
      if (await this.differs(root, path, known)) return true;
    }
    return false;
  }

  /** Whether a watcher event for `path` falls in the moment after the agent wrote it (or is one of its temp files). */
  has(path: string): boolean {
    if (isTempName(path.slice(path.lastIndexOf("/") + 1))) return true;
    const t = this.at.get(path);
    return t !== undefined && this.clock.now() - t < OWN_WRITE_MS;
  }
}
