/** Watches a folder for changes (chokidar) and turns bursts of events into one call, so the scanner runs once per burst. */
import { relative, sep } from "node:path";
import { watch } from "chokidar";
import type { IgnoreRules } from "../ignore/index.js";

/** A running watch. */
export interface FolderWatch {
  /** Resolves once the initial crawl is done and events are live. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Calls `onChange` at most once per `debounceMs` after files under `root` change, with the
 * folder-relative paths the burst touched. Events can be missed (an overflowing inotify queue, a
 * sleeping laptop): callers also rescan periodically.
 */
export function watchFolder(
  root: string,
  ignore: () => IgnoreRules,
  onChange: (paths: ReadonlySet<string>) => void,
  onError: (error: Error) => void,
  debounceMs = 20,
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
  const watcher = watch(root, {
    ignoreInitial: true,
    followSymlinks: false,
    persistent: true,
    ignored: (path, stats) => {
      const rel = relative(root, path).split(sep).join("/");
      if (rel === "" || rel.startsWith("..")) return false;
      return ignore().ignores(rel, stats?.isDirectory() ?? false);
    },
  });
  watcher.on("all", fire);
  watcher.on("error", (error) => onError(error as Error));
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    close: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
