/**
 * A folder's selection on this device (selective sync): which paths this device syncs. Kept in
 * the folder's state under WEFT_HOME, never in the folder: unlike `.weftignore` it is this
 * device's alone.
 */
import { join } from "node:path";
import type { FolderId } from "@weft/crypto";
import { normalizePath } from "@weft/core";
import { AgentError, type Home, readJson, writeJsonPrivate } from "../home/index.js";

/** The name of the selection file in the folder's state directory. */
export const SELECTION_FILE = "selection.json";

/** A selection as stored and as `weft folder select --json` prints it: at most one list. */
export interface SelectionSpec {
  /** Only these paths (and everything under them) are synced. */
  only?: string[];
  /** Everything but these paths (and everything under them) is synced. */
  except?: string[];
}

/**
 * Which paths of a folder this device syncs. Everything, or `only` some paths, or all `except`
 * some; a path names a directory (with everything under it) or a file. Paths are compared as
 * the index spells them (NFC, `/`-separated, case-sensitive).
 *
 * A path outside the selection is never downloaded, written, changed or deleted here by sync,
 * and nothing found there on disk is uploaded: this device leaves it alone. The directories
 * that lead to a selected path are synced as directories (they must exist to hold it); the
 * files directly in them are not.
 */
export class Selection {
  /** Every path: the default. */
  static readonly ALL = new Selection(undefined, []);

  private constructor(
    /** The selected paths, or undefined for "everything but {@link except}". */
    readonly only: readonly string[] | undefined,
    readonly except: readonly string[],
  ) {}

  /**
   * A selection from paths as a person typed them (folder-relative; `./` and trailing `/` are
   * fine). Duplicates and paths under another listed path are dropped.
   * @throws AgentError USAGE for an absolute path, `.`, `..`, the folder itself, or both lists
   */
  static of(spec: SelectionSpec): Selection {
    if (spec.only !== undefined && spec.except !== undefined)
      throw new AgentError("USAGE", "give --only or --except, not both");
    if (spec.only === undefined && spec.except === undefined) return Selection.ALL;
    const list = (spec.only ?? spec.except)!;
    if (spec.only !== undefined && list.length === 0)
      throw new AgentError("USAGE", "--only needs at least one directory");
    const paths = outermost(list.map(selectionPath));
    return spec.only !== undefined ? new Selection(paths, []) : new Selection(undefined, paths);
  }

  /** Whether this is the whole folder. */
  get all(): boolean {
    return this.only === undefined && this.except.length === 0;
  }

  /** The selection as stored and printed (`{}` for everything). */
  toSpec(): SelectionSpec {
    if (this.only) return { only: [...this.only] };
    return this.except.length > 0 ? { except: [...this.except] } : {};
  }

  /** Whether two selections take the same paths. */
  equals(other: Selection): boolean {
    return JSON.stringify(this.toSpec()) === JSON.stringify(other.toSpec());
  }

  /**
   * Whether this device syncs `path` (folder-relative, as the index spells it; `""` is the
   * root). A directory is also taken when a selected path lies under it.
   */
  includes(path: string, isDir: boolean): boolean {
    if (path === "") return true;
    if (this.except.some((p) => within(path, p))) return false;
    if (this.only === undefined) return true;
    return this.only.some((p) => within(path, p) || (isDir && within(p, path)));
  }

  /**
   * Whether `path` is left out of the selection (a file) or holds something left out (a
   * directory): where a scan looks for files moved out of the selection.
   */
  leavesOut(path: string, isDir: boolean): boolean {
    if (!isDir) return !this.includes(path, false);
    if (this.only !== undefined) return !this.only.some((p) => within(path, p));
    return this.except.some((p) => within(path, p) || within(p, path));
  }

  /**
   * The selection of `folderId` on this device (everything when none was chosen).
   * @throws AgentError STATE when the file is there but not a selection (edited by hand)
   */
  static async load(home: Home, folderId: FolderId): Promise<Selection> {
    const file = join(home.folderDir(folderId), SELECTION_FILE);
    const raw = await readJson<unknown>(file);
    if (raw === undefined) return Selection.ALL;
    try {
      return Selection.parse(raw);
    } catch (error) {
      throw new AgentError(
        "STATE",
        `${file} is not a selection ({"only": [paths]} or {"except": [paths]}); fix or remove it`,
        { cause: error },
      );
    }
  }

  /** A selection from its stored form ({@link toSpec}). @throws AgentError USAGE when it is not one */
  static parse(raw: unknown): Selection {
    const bad = () => new AgentError("USAGE", "not a selection");
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw bad();
    const o = raw as Record<string, unknown>;
    const list = (v: unknown): string[] | undefined => {
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw bad();
      return v;
    };
    const only = list(o["only"]);
    const except = list(o["except"]);
    return Selection.of({
      ...(only !== undefined ? { only } : {}),
      ...(except !== undefined ? { except } : {}),
    });
  }

  /** Stores this as the selection of `folderId` on this device (atomically). */
  async save(home: Home, folderId: FolderId): Promise<void> {
    await writeJsonPrivate(join(home.folderDir(folderId), SELECTION_FILE), this.toSpec());
  }
}

/** Whether `path` is `dir` or lies under it. */
function within(path: string, dir: string): boolean {
  return (
    path === dir || (path.length > dir.length && path.startsWith(dir) && path[dir.length] === "/")
  );
}

/** A path as typed, in the index's form. @throws AgentError USAGE */
function selectionPath(text: string): string {
  if (text.startsWith("/"))
    throw new AgentError(
      "USAGE",
      `a selected path is inside the folder, not an absolute one: ${JSON.stringify(text)}`,
    );
  let path: string;
  try {
    path = normalizePath(text.replace(/^(\.\/)+/, ""));
  } catch (error) {
    throw new AgentError("USAGE", (error as Error).message, { cause: error });
  }
  if (path === "")
    throw new AgentError("USAGE", "name directories inside the folder (for all of it: --all)");
  return path;
}

/** The paths sorted, without duplicates or paths under another of them. */
function outermost(paths: string[]): string[] {
  const sorted = [...new Set(paths)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && within(p, q)));
}
