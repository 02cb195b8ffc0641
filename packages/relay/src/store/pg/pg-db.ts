/** Connecting to the relay's PostgreSQL database (pg, loaded on demand), migrating it, and wrapping its errors. */
import { WeftError } from "@weft/core";
import type { Pool, PoolClient, PoolConfig } from "pg";
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from "./migrations.js";

/** What the store's queries run on: the pool, or one client inside a transaction. */
export type Db = Pick<PoolClient, "query">;

/** The key of the advisory lock migrations run under ("weft" + "mig" in ASCII), any value unique to Weft. */
const MIGRATION_LOCK = 0x7765_6674_6d69_67n;

/** pg's type oid of int8 (`bigint`, and `count(*)`). */
const INT8 = 20;

/**
 * `url` without its password, for messages and logs: `postgres://user@host:5432/db`.
 * Something that is not a URL comes back as `(database)`, never as itself.
 */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    u.password = "";
    u.search = "";
    return u.toString();
  } catch {
    return "(database)";
  }
}

/**
 * `url` if it is a postgres:// URL.
 * @throws WeftError INVALID_OPTIONS, never echoing the URL (it may hold a password)
 */
export function checkDatabaseUrl(url: string): string {
  let protocol = "";
  try {
    protocol = new URL(url).protocol;
  } catch {
    // not a URL
  }
  if (protocol !== "postgres:" && protocol !== "postgresql:")
    throw new WeftError(
      "INVALID_OPTIONS",
      "--database (WEFT_RELAY_DATABASE) is a PostgreSQL URL: postgres://USER@HOST:PORT/DB",
    );
  return url;
}

/**
 * A pg Pool on `url` whose `bigint` columns come back as numbers (every one the store keeps is
 * a safe integer: seqs, epochs, milliseconds). Loads pg on first use.
 * @throws WeftError INVALID_OPTIONS for a URL that is not postgres:// or postgresql://
 */
export async function createPool(
  url: string,
  options: { max?: number; onError?: (error: Error) => void } = {},
): Promise<Pool> {
  checkDatabaseUrl(url);
  const pg = (await import("pg")).default;
  const config: PoolConfig = {
    connectionString: url,
    max: options.max ?? 10,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary"): unknown =>
        oid === INT8 && format !== "binary"
          ? (value: string) => Number(value)
          : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
    },
  };
  const pool = new pg.Pool(config);
  // An idle connection that breaks (the server restarted) is an 'error' event: unhandled, it
  // would end the process. The next query gets a fresh connection.
  pool.on("error", (error) => options.onError?.(error));
  return pool;
}

/**
 * The WeftError for a failed database call: unique_violation is ALREADY_EXISTS, a foreign key
 * violation NOT_FOUND, a check violation INVALID_ARGUMENT, anything else (a lost connection, a
 * full disk) STORAGE. The message names the operation and the error code, never a value, the SQL
 * or the connection string; the pg error is the cause.
 */
export function pgError(what: string, error: unknown): WeftError {
  if (error instanceof WeftError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const where = `relay metadata store: ${what}`;
  if (code === "23505")
    return new WeftError("ALREADY_EXISTS", `${where}: already exists`, { cause: error });
  if (code === "23503")
    return new WeftError("NOT_FOUND", `${where}: refers to something unknown`, { cause: error });
  if (code === "23514")
    return new WeftError("INVALID_ARGUMENT", `${where}: a value is out of range`, { cause: error });
  if (code === "53100")
    return new WeftError("DISK_FULL", `${where} failed: the database's disk is full`, {
      cause: error,
    });
  const detail = typeof code === "string" ? ` (${code})` : "";
  return new WeftError("STORAGE", `${where} failed${detail}`, { cause: error });
}

/** Whether a transaction failed only because another one got in its way, so running it again may succeed. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "40001" || code === "40P01";
}

/**
 * Applies the pending {@link PG_MIGRATIONS} in one transaction under a transaction-level
 * advisory lock: relays starting together take turns, and each after the first finds nothing to
 * do. Returns the versions it applied.
 * @throws WeftError STORAGE if the database was migrated by a newer relay, or cannot be reached
 */
export async function migrate(pool: Pool): Promise<number[]> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw pgError("connect", error);
  }
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK.toString()]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (" +
        "version integer NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const { rows } = await client.query<{ version: number }>(
      "SELECT version FROM schema_migrations ORDER BY version",
    );
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > PG_SCHEMA_VERSION)
      throw new WeftError(
        "STORAGE",
        `relay metadata store: the database has schema version ${newest}, newer than this ` +
          `relay knows (${PG_SCHEMA_VERSION}); upgrade the relay to use it`,
      );
    const done: number[] = [];
    for (let v = 1; v <= PG_SCHEMA_VERSION; v++) {
      if (applied.has(v)) continue;
      await client.query(PG_MIGRATIONS[v - 1] as string);
      await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [v]);
      done.push(v);
    }
    await client.query("COMMIT");
    return done;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw pgError("migrate", error);
  } finally {
    client.release();
  }
}
