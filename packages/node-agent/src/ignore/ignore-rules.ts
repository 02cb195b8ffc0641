/**
 * The ignore rules of one synced folder: a fixed list of OS junk and the agent's own files,
 * followed by the folder's root `.weftignore` (gitignore syntax, via the `ignore` package).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { WeftError } from "@weft/core";
import ignore from "ignore";

/** Name of the ignore file at the root of a synced folder. */
export const WEFTIGNORE = ".weftignore";

/** Prefix of the temp files the agent downloads into before renaming them into place. */
export const AGENT_TEMP_PREFIX = ".weft-tmp-";

/** Suffix of a download the agent has not finished (kept so an interrupted one can resume). */
export const AGENT_PARTIAL_SUFFIX = ".weft-partial";

/**
 * Patterns (gitignore syntax) that are ignored in every folder before its `.weftignore` is
 * read, so a `!pattern` line there can take one back (e.g. `!*.swp` to sync Vim swap files),
 * except the agent's temp files (see `isAgentTempName`), which nothing can un-ignore.
 *
 * - `.DS_Store`, `._*` (AppleDouble resource forks on non-Mac disks), `.Trashes`: macOS.
 * - `Thumbs.db`, `desktop.ini`, `$RECYCLE.BIN`, `System Volume Information`: Windows.
 * - `.Trash-*`: the freedesktop trash on removable and secondary volumes.
 * - `~$*` (Microsoft Office) and `.~lock.*#` (LibreOffice): lock files that say "someone has
 *   this document open here"; synced, they would make every other device think so too.
 * - `*.swp`, `*.swo`, `*.swx`: Vim swap files. Ignored, as Dropbox and most sync tools do in
 *   effect: they are per-session crash-recovery state, rewritten every few seconds while
 *   editing (upload churn), and a copy arriving on another device makes Vim there warn that
 *   the file is being edited. `*.swx` is the probe Vim creates when it starts. `.swo` is the
 *   second swap file when two sessions edit one file; rarer letters are left to `.weftignore`.
 * - `.weft-tmp-*`, `*.weft-partial`: the agent's own download files.
 */
export const DEFAULT_IGNORES: readonly string[] = Object.freeze([
  ".DS_Store",
  "._*",
  ".Trashes",
  "Thumbs.db",
  "desktop.ini",
  "$RECYCLE.BIN",
  "System Volume Information",
  ".Trash-*",
  "~$*",
  ".~lock.*#",
  "*.swp",
  "*.swo",
  "*.swx",
  `${AGENT_TEMP_PREFIX}*`,
  `*${AGENT_PARTIAL_SUFFIX}`,
]);

/**
 * Whether `name` (one path component) is one of the agent's own download files:
 * `.weft-tmp-*` or `*.weft-partial`. These are never synced, whatever `.weftignore` says.
 */
export function isAgentTempName(name: string): boolean {
  return name.startsWith(AGENT_TEMP_PREFIX) || name.endsWith(AGENT_PARTIAL_SUFFIX);
}

/** Answers an {@link IgnoreRules} keeps before it starts again (a folder's paths, about). */
const MAX_ANSWERS = 250_000;

/**
 * Which paths of a folder the agent leaves alone: never scanned, uploaded, or deleted.
 *
 * Rules, in order (the last matching line wins, as in gitignore):
 * 1. {@link DEFAULT_IGNORES};
 * 2. the lines of the folder's root `.weftignore`, so `!pattern` there un-ignores a default.
 *
 * Two things no pattern changes: the agent's temp files are always ignored, and the root
 * `.weftignore` itself is never ignored (it syncs to every device so they all share the rules).
 *
 * Only the root `.weftignore` is read. A `.weftignore` in a subfolder is an ordinary file: it
 * syncs, but its patterns do not apply (anchor patterns in the root file instead, e.g.
 * `/sub/build/`). As in gitignore, a path under an ignored directory cannot be un-ignored.
 *
 * Matching is case-insensitive (the `ignore` package's default, like git on macOS and
 * Windows): the same rules then give the same answer on every device, and on the
 * case-insensitive file systems most devices use, `Thumbs.db` and `thumbs.db` are one file.
 */
export class IgnoreRules {
  /** The `.weftignore` text these rules were built from (`""` when there is none). */
  readonly source: string;
  private readonly matcher: ignore.Ignore;
  /**
   * Answers given, by path (a directory's with a trailing `/`): a daemon asks about every path
   * of the tree on each pass that writes to disk, and the matcher takes ~50 µs a path.
   */
  private readonly answers = new Map<string, boolean>();

  private constructor(source: string) {
    this.source = source;
    this.matcher = ignore({ ignoreCase: true }).add(DEFAULT_IGNORES).add(source);
  }

  /**
   * Reads `<root>/.weftignore`. A missing file means only the defaults apply.
   * @throws WeftError STORAGE when the file exists but cannot be read (permissions, a
   * directory by that name, an I/O error), naming the file; the cause is the system error
   */
  static async load(root: string): Promise<IgnoreRules> {
    const file = join(root, WEFTIGNORE);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new IgnoreRules("");
      const code = (err as NodeJS.ErrnoException).code ?? "unknown error";
      throw new WeftError("STORAGE", `cannot read the ignore file ${file} (${code})`, {
        cause: err,
      });
    }
    return IgnoreRules.parse(text);
  }

  /** Rules from `.weftignore` text already in hand (an editor's buffer, a test). */
  static parse(source: string): IgnoreRules {
    // A byte-order mark (some Windows editors add one) would glue itself to the first pattern.
    return new IgnoreRules(source.startsWith("\uFEFF") ? source.slice(1) : source);
  }

  /**
   * Whether the agent ignores `relPath`: a folder-relative, `/`-separated path with no
   * leading `/` (the folder root itself, `""`, is never ignored). A path is also ignored when
   * one of its parent directories is. Directories are matched with a trailing slash, so a
   * pattern like `build/` matches the directory and not a file named `build`.
   */
  ignores(relPath: string, isDir: boolean): boolean {
    const key = isDir ? `${relPath}/` : relPath;
    let answer = this.answers.get(key);
    if (answer === undefined) {
      if (this.answers.size >= MAX_ANSWERS) this.answers.clear();
      answer = this.match(relPath, isDir);
      this.answers.set(key, answer);
    }
    return answer;
  }

  private match(relPath: string, isDir: boolean): boolean {
    const path = relPath.replace(/^\/+/, "").replace(/\/+$/, "");
    if (path === "") return false;
    if (path.split("/").some(isAgentTempName)) return true;
    if (path === WEFTIGNORE && !isDir) return false;
    return this.matcher.ignores(isDir ? `${path}/` : path);
  }
}
