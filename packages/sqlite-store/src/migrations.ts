/** The SQLite state file's schema, as numbered migrations applied on open. */

/**
 * Migration `i + 1` is `MIGRATIONS[i]`; `PRAGMA user_version` records how many are applied. Only
 * ever append: a released migration never changes, so every file converges on one schema.
 */
export const MIGRATIONS: readonly string[] = [
  // 1. One table of keys and values. STRICT so a key can only be a BLOB: a TEXT key would sort
  // by another rule and fall outside the BLOB range queries. A rowid table rather than WITHOUT
  // ROWID because values (index snapshots) can be megabytes, which WITHOUT ROWID handles badly.
  `CREATE TABLE state (
     key  BLOB NOT NULL PRIMARY KEY,
     data BLOB NOT NULL
   ) STRICT;`,
];

/** The schema version this build writes: the number of {@link MIGRATIONS}. */
export const SCHEMA_VERSION = MIGRATIONS.length;
