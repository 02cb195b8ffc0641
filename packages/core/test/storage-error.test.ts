// storageError: one policy for every storage adapter's failures (relay and agent alike).
import { describe, expect, test } from "vitest";
import { WeftError, storageError } from "../src/index.js";

/** An error as better-sqlite3 raises it: SQLite's message (which can quote SQL and values), a code. */
function sqliteError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("storageError", () => {
  test("names the operation and the code, never the driver's message; the error stays the cause", () => {
    const cause = sqliteError(
      "near \"SELECT secret FROM t WHERE v = 'x'\": syntax error",
      "SQLITE_ERROR",
    );
    const error = storageError("store /data/meta.db: read", cause);
    expect(error).toBeInstanceOf(WeftError);
    expect(error.code).toBe("STORAGE");
    expect(error.message).toBe("store /data/meta.db: read failed (SQLITE_ERROR)");
    expect(error.cause).toBe(cause);
  });

  test("a full disk is DISK_FULL, with the caller's hint", () => {
    for (const code of ["SQLITE_FULL", "ENOSPC"]) {
      const error = storageError("store: put", sqliteError("database or disk is full", code), {
        diskFullHint: "free some space",
      });
      expect(error.code).toBe("DISK_FULL");
      expect(error.message).toBe("store: put failed: the disk is full; free some space");
    }
    expect(storageError("store: put", sqliteError("quota", "EDQUOT")).message).toBe(
      "store: put failed: the disk quota is exceeded",
    );
  });

  test("constraints another writer broke keep their meaning; WeftErrors pass through", () => {
    expect(
      storageError("add", sqliteError("UNIQUE failed: t.k", "SQLITE_CONSTRAINT_UNIQUE")).code,
    ).toBe("ALREADY_EXISTS");
    expect(
      storageError("add", sqliteError("FOREIGN KEY", "SQLITE_CONSTRAINT_FOREIGNKEY")).code,
    ).toBe("NOT_FOUND");
    const own = new WeftError("CLOSED", "the store is closed");
    expect(storageError("read", own)).toBe(own);
    expect(storageError("read", "not an Error").message).toBe("read failed");
  });
});
