/** The relay's metadata in PostgreSQL, for several relays sharing one database (pg is loaded only when used). */
export {
  PgMetaStore,
  type PgMetaStoreOptions,
  migratePgDatabase,
  openPgMetaStore,
} from "./pg-meta-store.js";
export { describeDatabase } from "./pg-db.js";
export { PG_MIGRATIONS, PG_SCHEMA_VERSION } from "./migrations.js";
