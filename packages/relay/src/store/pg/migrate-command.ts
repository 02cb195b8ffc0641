/** `weft relay migrate`: applies the PostgreSQL schema's pending migrations, then exits. */
import { WeftError } from "@weft/core";
import { UsageError, parseCommandLine } from "@weft/core/cli";
import { PG_SCHEMA_VERSION } from "./migrations.js";
import { checkDatabaseUrl, describeDatabase } from "./pg-db.js";

const MIGRATE_HELP = `weft relay migrate — brings a relay's PostgreSQL database to this relay's schema.

Usage: weft relay migrate [--database URL]

Applies the pending migrations in one transaction, under a lock, so relays starting at the same
time (which also migrate on start) wait for each other. URL defaults to WEFT_RELAY_DATABASE;
prefer that variable (or PGPASSWORD, ~/.pgpass) for a password: argv is visible to every user.

Example:
  WEFT_RELAY_DATABASE=postgres://weft@db.internal:5432/weft weft relay migrate
`;

/**
 * Runs `weft relay migrate` with `argv` (the words after it); output goes to `write`.
 * @throws WeftError INVALID_OPTIONS for bad usage (exit 2), others for failures (exit 1)
 */
export async function runMigrateCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  write: (text: string) => void,
): Promise<void> {
  let parsed;
  try {
    parsed = parseCommandLine(
      argv,
      {
        database: { type: "string", value: "URL", env: "WEFT_RELAY_DATABASE", description: "" },
        help: { type: "boolean", short: "h", description: "" },
      },
      { positionals: false },
    );
  } catch (error) {
    if (error instanceof UsageError)
      throw new WeftError("INVALID_OPTIONS", `${error.message} (see weft relay migrate --help)`);
    throw error;
  }
  if (parsed.values["help"]) {
    write(MIGRATE_HELP);
    return;
  }
  const given = parsed.values["database"];
  const url = typeof given === "string" ? given : env["WEFT_RELAY_DATABASE"];
  if (url === undefined || url === "")
    throw new WeftError(
      "INVALID_OPTIONS",
      "weft relay migrate needs --database URL (or WEFT_RELAY_DATABASE)",
    );
  checkDatabaseUrl(url);
  const { migratePgDatabase } = await import("./pg-meta-store.js");
  const applied = await migratePgDatabase(url);
  const where = describeDatabase(url);
  write(
    applied.length === 0
      ? `${where} is up to date (schema version ${PG_SCHEMA_VERSION})\n`
      : `${where}: applied migration${applied.length > 1 ? "s" : ""} ${applied.join(", ")} ` +
          `(schema version ${PG_SCHEMA_VERSION})\n`,
  );
}
