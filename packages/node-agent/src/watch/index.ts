/** Watches a folder for changes (chokidar) and turns bursts of events into one call, so the scanner runs once per burst. */
import { relative, sep } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import type { IgnoreRules } from "../ignore/index.js";

/** A running watch. */
export interface FolderWatch {
  /** Resolves once the initial crawl is done and events are live. */
  ready: Promise<void>;
  /**
   * Stops watching until {@link resume}: the agent is about to write many files itself. chokidar
   * reads a directory again, an lstat per entry, each time something in it changes; a download
   * of N files into one directory then costs ~N²/2 lstats (a 2,000-file download into 10
   * directories: 61,000 lstats, a third of the receiver's CPU). What changes meanwhile is found
   * by the scan the caller runs after resuming.
   */
  pause(): Promise<void>;
  /** Watches again (a fresh crawl); resolves once events are live. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Calls `onChange` at most once per `debounceMs` after files under `root` change, with the
 * folder-relative paths the burst touched. Events can be missed (an overflowing inotify queue, a
 * sleeping laptop, a pause): callers also rescan periodically.
 */
export function watchFolder(
  root: string,
  ignore: () => IgnoreRules,
  onChange: (paths: ReadonlySet<string>) => void,
  onError: (error: Error) => void,
  debounceMs = 20,
  /**
   * Paths this device syncs (selective sync; default all). Others are not watched: a large
   * unselected tree costs no inotify watches and its changes start no scan. Read at each crawl,
   * so a new selection needs a {@link FolderWatch.pause} and resume.
   */
  selected?: () => (path: string, isDir: boolean) => boolean,
): FolderWatch {
  let timer: NodeJS.Timeout | undefined;
  let paths = new Set<string>();
  const fire = (_event: string, path: string) => {
    paths.add(relative(root, path).split(sep).join("/"));
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      const burst = paths;
      paths = new Set();
      onChange(burst);
    }, debounceMs);
  };
  const start = (): { watcher: FSWatcher; ready: Promise<void> } => {
    const watcher = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      persistent: true,
      ignored: (path, stats) => {
        const rel = relative(root, path).split(sep).join("/");
        if (rel === "" || rel.startsWith("..")) return false;
        // Without stats (chokidar asks first by name), taken as a directory: one that leads to
        // a selected path must be watched.
        if (selected && !selected()(rel, stats?.isDirectory() ?? true)) return true;
        return ignore().ignores(rel, stats?.isDirectory() ?? false);
      },
    });
    watcher.on("all", fire);
    watcher.on("error", (error) => onError(error as Error));
    const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
    return { watcher, ready };
  };
  let current: FSWatcher | undefined;
  const first = start();
  current = first.watcher;
  // Pauses, resumes and the close run one after the other, in the order asked.
  let turn: Promise<void> = first.ready;
  const next = (step: () => Promise<void>): Promise<void> => {
    const run = turn.then(step, step);
    turn = run.catch(() => undefined);
    return run;
  };
  let closed = false;
  return {
    ready: first.ready,
    pause: () =>
      next(async () => {
        const w = current;
        current = undefined;
        await w?.close();
      }),
    resume: () =>
      next(async () => {
        if (current || closed) return;
        const started = start();
        current = started.watcher;
        await started.ready;
      }),
    // At once, not after a crawl in progress: a resume in flight sees `closed` or is closed here.
    close: async () => {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const w = current;
      current = undefined;
      await w?.close();
      await turn;
      const late = current as FSWatcher | undefined;
      current = undefined;
      await late?.close();
    },
  };
}
