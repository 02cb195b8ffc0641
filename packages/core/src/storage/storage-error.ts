/** One policy for a storage adapter's failures: a clear message without internals, the cause kept. */
import { WeftError } from "../errors.js";

/** Options of {@link storageError}. */
export interface StorageErrorOptions {
  /**
   * Appended to the message of a full disk, e.g. "free some space and weft carries on". Without
   * it the message says only that the disk is full.
   */
  diskFullHint?: string;
}

/**
 * `error`, raised while a storage adapter did `what` (e.g. "relay metadata store FILE: open"),
 * as a WeftError whose message a person can read and a log can keep:
 *
 * - a WeftError passes through unchanged (bad input, a closed store, a refusal of its own);
 * - a full disk (SQLITE_FULL, ENOSPC, EDQUOT) is `DISK_FULL`;
 * - a uniqueness or foreign-key constraint that the adapter's own checks did not catch (another
 *   process wrote in between) keeps its meaning as `ALREADY_EXISTS` or `NOT_FOUND`;
 * - anything else is `STORAGE`, naming the operation and the error's code.
 *
 * The message never quotes the underlying error's own message: SQLite's can hold SQL and the
 * values bound to it. That error stays the `cause`, for logs.
 */
export function storageError(
  what: string,
  error: unknown,
  options: StorageErrorOptions = {},
): WeftError {
  if (error instanceof WeftError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT") {
    const full = code === "EDQUOT" ? "the disk quota is exceeded" : "the disk is full";
    const hint = options.diskFullHint ? `; ${options.diskFullHint}` : "";
    return new WeftError("DISK_FULL", `${what} failed: ${full}${hint}`, { cause: error });
  }
  if (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY")
    return new WeftError("ALREADY_EXISTS", `${what}: already exists`, { cause: error });
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY")
    return new WeftError("NOT_FOUND", `${what}: refers to something unknown`, { cause: error });
  const detail = typeof code === "string" ? ` (${code})` : "";
  return new WeftError("STORAGE", `${what} failed${detail}`, { cause: error });
}
