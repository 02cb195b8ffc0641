/** Path and name rules at the model boundary: NFC, `/` separators, nothing that escapes. */
import { WeftError } from "../errors.js";

/** Longest name, in UTF-8 bytes (the limit of ext4, APFS and NTFS alike). */
export const MAX_NAME_BYTES = 255;
/** Longest path, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

const encoder = new TextEncoder();
// eslint-disable-next-line no-control-regex -- the ASCII range is the point
const ASCII = /^[\x00-\x7f]*$/;

/** Why `name` is not a valid single path component, or `undefined` when it is. */
export function nameProblem(name: string): string | undefined {
  if (typeof name !== "string") return "a name must be a string";
  if (name.length === 0) return "a name must not be empty";
  if (name === "." || name === "..") return `"${name}" is not a valid name`;
  if (name.includes("/")) return "a name must not contain '/'";
  if (name.includes("\0")) return "a name must not contain NUL";
  // Pure ASCII is already NFC and one byte per character: skipping normalize() and the
  // encoder for it made decoding a large index markedly faster.
  const ascii = ASCII.test(name);
  if (!ascii && name.normalize("NFC") !== name) return "a name must be in Unicode NFC";
  if ((ascii ? name.length : encoder.encode(name).length) > MAX_NAME_BYTES) {
    return `a name must not exceed ${MAX_NAME_BYTES} bytes`;
  }
  return undefined;
}

/** Throws INVALID_PATH unless `name` is a valid single path component. */
export function checkName(name: string): string {
  const problem = nameProblem(name);
  if (problem)
    throw new WeftError("INVALID_PATH", `invalid name ${JSON.stringify(name)}: ${problem}`);
  return name;
}

/**
 * Splits a folder-relative path into components. Accepts what a user would type (a leading
 * or trailing `/` is not an error, NFD input is normalised to NFC) and refuses what could
 * escape the folder: `..`, `.`, empty components, NUL, backslash-free traversal tricks.
 */
export function splitPath(path: string): string[] {
  if (typeof path !== "string") throw new WeftError("INVALID_PATH", "a path must be a string");
  const ascii = ASCII.test(path);
  const normalized = ascii ? path : path.normalize("NFC");
  if ((ascii ? path.length : encoder.encode(normalized).length) > MAX_PATH_BYTES) {
    throw new WeftError("INVALID_PATH", `path exceeds ${MAX_PATH_BYTES} bytes`);
  }
  const trimmed = normalized.replace(/^\/+/, "").replace(/\/+$/, "");
  if (trimmed === "") return [];
  const parts = trimmed.split("/");
  for (const part of parts) {
    const problem = nameProblem(part);
    if (problem)
      throw new WeftError("INVALID_PATH", `invalid path ${JSON.stringify(path)}: ${problem}`);
  }
  return parts;
}

/** The canonical form of a folder-relative path: NFC, no leading or trailing `/`. */
export function normalizePath(path: string): string {
  return splitPath(path).join("/");
}

/** Splits a file name into stem and extension the way Syncthing names conflict copies. */
export function splitExtension(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return { stem: name, ext: "" };
  return { stem: name.slice(0, dot), ext: name.slice(dot) };
}

/** `stem + suffix + ext`, shortening the stem (by whole code points) to fit MAX_NAME_BYTES. */
export function fitName(stem: string, suffix: string, ext: string): string {
  // A very long "extension" is not one worth keeping; shorten it with the stem.
  if (encoder.encode(ext).length > 32) {
    stem += ext;
    ext = "";
  }
  let chars = [...stem];
  let name = stem + suffix + ext;
  while (encoder.encode(name).length > MAX_NAME_BYTES && chars.length > 1) {
    chars = chars.slice(0, -1);
    name = chars.join("") + suffix + ext;
  }
  return name;
}
