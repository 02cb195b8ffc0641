/** Identifiers of the model: stable file ids and the root directory. */

/** A stable file identifier: survives renames and moves, so history follows the file. */
export type FileId = string & { readonly __brand: "FileId" };

/** The folder's root directory. It has no record of its own. */
export const ROOT_ID = "root" as FileId;

const FILE_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** True for a syntactically valid file id (URL-safe, no `/`, so it can be part of a key). */
export function isFileId(value: unknown): value is FileId {
  return typeof value === "string" && FILE_ID_RE.test(value);
}

/** A random 128-bit file id, base64url. Uses Web Crypto, present in Node ≥ 19 and browsers. */
export function randomFileId(): FileId {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") as FileId;
}
