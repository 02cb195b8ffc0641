// Test helper: a PostgreSQL database of its own for one test file, created at the start and
// dropped at the end, so that test files running in parallel never share one.
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The server the tests use (trust auth, user postgres); WEFT_TEST_PG overrides it. */
export const PG_SERVER = process.env["WEFT_TEST_PG"] ?? "postgres://postgres@127.0.0.1:5432";

/** A fresh database `weft_test_<random hex>`: its URL, and how to drop it. */
export interface TestDatabase {
  name: string;
  url: string;
  /** Runs one statement on it (a fresh connection), for checks of what is stored. */
  query<R extends object>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Drops it, ending whatever connections are still open. */
  drop(): Promise<void>;
}

async function onServer<T>(db: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${PG_SERVER}/${db}` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a database for this test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `weft_test_${randomBytes(6).toString("hex")}`;
  await onServer("postgres", (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: `${PG_SERVER}/${name}`,
    query: <R extends object>(sql: string, params: unknown[] = []) =>
      onServer(name, async (c) => (await c.query<R>(sql, params)).rows),
    drop: async () => {
      await onServer("postgres", (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
