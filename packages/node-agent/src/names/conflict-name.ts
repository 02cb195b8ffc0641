/** The name under which a local version that lost a race is kept. */
import { WeftError } from "@weft/core";

/** Longest name, in UTF-8 bytes (ext4, APFS and NTFS alike). */
const MAX_NAME_BYTES = 255;
/** Longest label kept, in code points, so that the suffix leaves room for the name. */
const MAX_LABEL_CHARS = 32;

const encoder = new TextEncoder();

/**
 * A sibling of `relPath` (same directory) for keeping the local version that lost a race:
 * `notes.txt` → `notes (conflict, laptop, 2026-11-22 19-30-05).txt`.
 *
 * - The time is `when` in UTC, with `-` between hours, minutes and seconds: the result depends
 *   only on the arguments (not on the time zone), and colons are invalid on Windows.
 * - Only the last extension is kept at the end (`archive.tar.gz` →
 *   `archive.tar (conflict, …).gz`), so the copy still opens with the same program. A dotfile
 *   (`.bashrc`), a name ending in a dot, and an "extension" that is not letters, digits, `_` or
 *   `-` (up to 16 of them: `Report v2.final draft`) have no extension: the suffix goes last.
 * - `label` (a device name) keeps letters, digits, marks, spaces, `.`, `_` and `-`; any other
 *   character becomes `-`, and it is cut to 32 characters. An empty label becomes `device`.
 * - The name is shortened (whole code points off the end of the stem) to fit 255 UTF-8 bytes.
 *
 * The caller checks that the name is free: two conflicts of one file from the same device in
 * the same second get the same name.
 *
 * @throws WeftError `INVALID_ARGUMENT` when `relPath` has no final name or `when` is invalid.
 */
export function localConflictName(relPath: string, label: string, when: Date): string {
  const slash = relPath.lastIndexOf("/");
  const dir = relPath.slice(0, slash + 1);
  const name = relPath.slice(slash + 1);
  if (name === "") {
    throw new WeftError("INVALID_ARGUMENT", `no file name in ${JSON.stringify(relPath)}`);
  }
  if (!(when instanceof Date) || Number.isNaN(when.getTime())) {
    throw new WeftError("INVALID_ARGUMENT", "the time of a conflict copy must be a valid Date");
  }
  const { stem, ext } = splitLastExtension(name);
  const suffix = ` (conflict, ${sanitizeLabel(label)}, ${stamp(when)})`;
  return dir + fit(stem, suffix, ext);
}

const EXTENSION = /^\.[\p{L}\p{N}_-]{1,16}$/u;

function splitLastExtension(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return { stem: name, ext: "" };
  const ext = name.slice(dot);
  return EXTENSION.test(ext) ? { stem: name.slice(0, dot), ext } : { stem: name, ext: "" };
}

function sanitizeLabel(label: string): string {
  const cleaned = label
    .normalize("NFC")
    .replace(/[^\p{L}\p{M}\p{N} ._-]+/gu, "-")
    .replace(/-{2,}/g, "-")
    .replace(/ {2,}/g, " ")
    .replace(/^[-. ]+|[-. ]+$/g, "");
  const cut = [...cleaned]
    .slice(0, MAX_LABEL_CHARS)
    .join("")
    .replace(/[-. ]+$/, "");
  return cut === "" ? "device" : cut;
}

function stamp(when: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, "0");
  const date = `${pad(when.getUTCFullYear(), 4)}-${pad(when.getUTCMonth() + 1)}-${pad(when.getUTCDate())}`;
  return `${date} ${pad(when.getUTCHours())}-${pad(when.getUTCMinutes())}-${pad(when.getUTCSeconds())}`;
}

// The suffix is at most 12 + 32 × 4 + 2 + 19 + 1 bytes and the extension at most 65, so an
// empty stem always fits.
function fit(stem: string, suffix: string, ext: string): string {
  const budget = MAX_NAME_BYTES - encoder.encode(suffix + ext).length;
  const chars = [...stem];
  let bytes = encoder.encode(stem).length;
  while (bytes > budget && chars.length > 0) {
    bytes -= encoder.encode(chars.pop()).length;
  }
  return chars.join("") + suffix + ext;
}
