/** Temp file names, and removing the ones a killed process left behind. */
import { createHash, randomBytes } from "node:crypto";
import { readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { errnoCode, fsFailure } from "./fs-errors.js";

/** The prefix of every temp file `placeFile` writes next to its target. */
export const TEMP_PREFIX = ".weft-tmp-";

const RANDOM_BYTES = 8;
/** What tells a resumable temp file ({@link partName}) from a one-off one. */
const PART_MARK = "p";

/**
 * The temp file a large download of `contentHash` to `path` is written to: named after both,
 * so a run killed halfway leaves it where the next run looks, and that run reads the chunks
 * already there (each verified) instead of fetching them again. Never the same as a
 * {@link tempName}.
 */
export function partName(path: string, contentHash: string): string {
  const digest = createHash("sha256").update(`${path}\0${contentHash}`).digest("hex");
  return TEMP_PREFIX + PART_MARK + digest.slice(0, RANDOM_BYTES * 2);
}
const TEMP_NAME = new RegExp(
  `^${TEMP_PREFIX.replace(/[.-]/g, "\\$&")}(${PART_MARK})?[0-9a-f]{${RANDOM_BYTES * 2}}$`,
);

/** A fresh temp file name: {@link TEMP_PREFIX} and 16 random hex digits. */
export function tempName(): string {
  return TEMP_PREFIX + randomBytes(RANDOM_BYTES).toString("hex");
}

/**
 * Whether `name` is exactly the shape of a name {@link tempName} makes. The scanner and the
 * watcher skip such names; `placeFile` refuses to create a file with one (a peer could
 * otherwise send a file that {@link cleanTempFiles} would later delete).
 */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/**
 * Removes the temp files a killed process left anywhere under `root` and returns how many,
 * but those `keep` takes (by absolute path: downloads to resume, see {@link partName}).
 *
 * Only regular files whose whole name is a temp name ({@link TEMP_PREFIX} + 16 hex digits) are
 * removed, so a user's own `.weft-tmp-notes` stays. Symlinks are never followed (a link to a
 * directory elsewhere is not searched) and never removed. Call it when the folder starts,
 * before any `placeFile`: a temp file being written at the same time would be removed too.
 *
 * @throws WeftError `STORAGE` when a directory cannot be read or a temp file not removed.
 */
export async function cleanTempFiles(
  root: string,
  keep: (path: string) => boolean = () => false,
): Promise<number> {
  let removed = 0;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      const code = errnoCode(error);
      // Removed or replaced while we walked: nothing of ours can be in it.
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw fsFailure(error, `could not look for temporary files in ${dir}`);
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        pending.push(path);
      } else if (entry.isFile() && isTempName(entry.name) && !keep(path)) {
        try {
          await unlink(path);
          removed += 1;
        } catch (error) {
          if (errnoCode(error) !== "ENOENT") {
            throw fsFailure(error, `could not remove the temporary file ${path}`);
          }
        }
      }
    }
  }
  return removed;
}
