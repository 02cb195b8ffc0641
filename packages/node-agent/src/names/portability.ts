/** Names that work here but not everywhere: case-insensitive clashes and Windows' rules. */

/**
 * The key under which two paths would name the same file on a case-insensitive file system
 * (macOS APFS/HFS+ by default, Windows NTFS): the path in Unicode NFC, lower-cased.
 *
 * NFC first, so that the composed and decomposed forms of `é` meet (APFS and HFS+ also treat
 * them as one name). `toLowerCase` is simple, locale-independent lower-casing, not Unicode full
 * case folding: `ß` and `SS`, or Greek final sigma `ς` and `σ`, get different keys here, and
 * neither macOS nor Windows uses exactly this mapping (each file system has its own table).
 * The key is for warnings, not a promise: it catches the clashes that happen in practice.
 */
export function clashKey(relPath: string): string {
  // Lower-casing can decompose (`İ` becomes `i` + U+0307), so normalise again after it.
  return relPath.normalize("NFC").toLowerCase().normalize("NFC");
}

/**
 * The groups of two or more distinct paths that share a {@link clashKey}: each group sorted,
 * groups ordered by their first path (by code unit, so the result does not depend on locale).
 *
 * Only the paths given are compared: `Docs/a.txt` and `docs/b.txt` do not clash as files, but
 * their directories `Docs` and `docs` do, and are reported when the directories are in `paths`.
 */
export function findClashes(paths: Iterable<string>): string[][] {
  const byKey = new Map<string, Set<string>>();
  for (const path of paths) {
    const key = clashKey(path);
    let group = byKey.get(key);
    if (group === undefined) byKey.set(key, (group = new Set()));
    group.add(path);
  }
  const groups: string[][] = [];
  for (const group of byKey.values()) {
    if (group.size >= 2) groups.push([...group].sort(byCodeUnit));
  }
  return groups.sort((a, b) => byCodeUnit(a[0] as string, b[0] as string));
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Windows also reserves COM and LPT with superscript digits 1, 2 and 3.
const RESERVED = /^(con|prn|aux|nul|com[1-9\u00b9\u00b2\u00b3]|lpt[1-9\u00b9\u00b2\u00b3])$/i;
// eslint-disable-next-line no-control-regex -- control characters are invalid on Windows
const FORBIDDEN = /[<>:"|?*\\\u0000-\u001f]/;

/**
 * Why `name` (one path component) cannot be created on Windows, or null when it can.
 *
 * Checks the characters `< > : " | ? * \` and control characters, the reserved device names
 * `CON PRN AUX NUL COM1-9 LPT1-9` with any extension and in any case (`con.txt`, `Nul.tar.gz`),
 * a trailing dot or space (Windows silently strips them), and the 255-character limit of a
 * name. Meant for warnings: such a file still syncs between devices that can hold it.
 */
export function windowsProblem(name: string): string | null {
  if (name === "") return "the name is empty";
  if (name === "." || name === "..") return `"${name}" is not a file name`;
  const bad = FORBIDDEN.exec(name);
  if (bad) {
    const char = bad[0];
    const shown = char < " " ? `U+${char.charCodeAt(0).toString(16).padStart(4, "0")}` : char;
    return `Windows does not allow the character ${shown} in a name`;
  }
  // Windows ignores trailing spaces before the extension too: "CON .txt" is still CON.
  const base = (name.split(".")[0] as string).replace(/ +$/, "");
  if (RESERVED.test(base)) return `"${base}" is a reserved device name on Windows`;
  if (name.endsWith(".")) return "Windows does not allow a name to end with a dot";
  if (name.endsWith(" ")) return "Windows does not allow a name to end with a space";
  if (name.length > 255) return "Windows does not allow a name longer than 255 characters";
  return null;
}
