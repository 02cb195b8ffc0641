/**
 * What `weft ls` and `weft get` read from a Replica, wherever it is open: a remote folder's own
 * (no synced copy), a synced folder's in this command, or a running daemon's. One shape for all.
 */
import { basename } from "node:path";
import { type Replica, WeftError } from "@weft/core";
import type { FolderId } from "@weft/crypto";
import { AgentError } from "../home/index.js";

/** An entry as `weft ls --json` prints it. */
export interface EntryJson {
  path: string;
  name: string;
  kind: "file" | "dir" | "symlink";
  size: number;
  /** null for a directory. */
  contentHash: string | null;
  /** ms; null where the index keeps none (a directory). */
  mtime: number | null;
  mode: number | null;
}

/**
 * DIR's entries (`""`: the folder's top), with `recursive` everything under it, sorted by path.
 * @throws AgentError NOT_FOUND, CONFLICT (not a directory)
 */
export function listEntries(
  replica: Replica,
  folderId: FolderId,
  dir: string,
  recursive: boolean,
): EntryJson[] {
  const all = onPath(folderId, () => replica.list(dir));
  const depth = dir === "" ? 0 : dir.split("/").length;
  const shown = recursive ? all : all.filter((e) => e.path.split("/").length === depth + 1);
  return shown.map((e) => {
    const version = replica.index.stat(e.path)?.version;
    return {
      path: e.path,
      name: basename(e.path),
      kind: e.kind,
      size: e.size,
      contentHash: e.contentHash ?? null,
      mtime: version?.mtime ?? null,
      mode: version ? version.mode & 0o777 : null,
    };
  });
}

/** Runs a Replica operation, its refusals turned into the agent's codes. */
export function onPath<T>(folderId: FolderId, op: () => T): T {
  try {
    const result = op();
    return result instanceof Promise ? (result.catch((e) => rethrow(folderId, e)) as T) : result;
  } catch (error) {
    return rethrow(folderId, error);
  }
}

function rethrow(folderId: FolderId, error: unknown): never {
  if (!(error instanceof WeftError) || error instanceof AgentError) throw error;
  const code =
    error.code === "NOT_FOUND"
      ? "NOT_FOUND"
      : error.code === "INVALID_PATH" || error.code === "UNSAFE_PATH"
        ? "USAGE"
        : error.code === "ALREADY_EXISTS" ||
            error.code === "IS_A_DIRECTORY" ||
            error.code === "NOT_A_DIRECTORY" ||
            error.code === "MOVE_INTO_SELF"
          ? "CONFLICT"
          : undefined;
  if (!code) throw error;
  throw new AgentError(code, `${error.message} (in folder ${folderId})`, { cause: error });
}
