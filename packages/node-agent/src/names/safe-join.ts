/** Turning an untrusted folder-relative path into an absolute one that stays inside the folder. */
import { isAbsolute, relative, resolve, sep } from "node:path";
import { WeftError } from "@weft/core";

// C0 controls, DEL and C1 controls: legal on Linux, but a name holding them can rewrite a
// terminal (U+009B is a one-character CSI) and most of them are invalid on Windows.
// eslint-disable-next-line no-control-regex -- control characters are what this matches
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why a folder-relative path is unsafe to write, or null when it is fine. */
function pathProblem(relPath: string): string | null {
  if (typeof relPath !== "string") return "a path must be a string";
  if (relPath === "") return "the path is empty";
  if (relPath.startsWith("/")) return "the path is absolute";
  if (relPath.includes("\\")) return "the path contains a backslash";
  const control = CONTROL.exec(relPath);
  if (control) {
    const hex = control[0].charCodeAt(0).toString(16).padStart(4, "0");
    return `the path contains the control character U+${hex}`;
  }
  for (const part of relPath.split("/")) {
    if (part === "") return "the path has an empty segment";
    if (part === "." || part === "..") return `the path has a "${part}" segment`;
    // On Windows a colon names a drive ("C:x") or an alternate data stream ("a.txt:s").
    if (process.platform === "win32" && part.includes(":")) return "the path contains ':'";
  }
  return null;
}

/**
 * The absolute path of `relPath` (a `/`-separated path relative to the folder) under `root`.
 *
 * Paths come from other devices, so they are untrusted: an empty path, an absolute path, a
 * `.` or `..` segment, an empty segment (`a//b`, a trailing `/`), NUL or any other control
 * character, and a backslash (a separator on Windows) are all refused, and so is a result
 * that `path.resolve` would place outside `root` (a last line of defence). Symlinks are not
 * looked at here: `materialize/` checks every existing component on disk before writing.
 *
 * @throws WeftError `UNSAFE_PATH` with the reason.
 */
export function safeJoin(root: string, relPath: string): string {
  const problem = pathProblem(relPath);
  if (problem !== null) {
    throw new WeftError("UNSAFE_PATH", `refusing path ${JSON.stringify(relPath)}: ${problem}`);
  }
  const base = resolve(root);
  const full = resolve(base, ...relPath.split("/"));
  const rel = relative(base, full);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new WeftError(
      "UNSAFE_PATH",
      `refusing path ${JSON.stringify(relPath)}: it resolves outside the folder`,
    );
  }
  return full;
}
