// `weft relay migrate` and `--database`, as a user runs them: the relay's command in a process of
// its own, against a PostgreSQL database of this file's own.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "../src/config.js";
import { PG_SCHEMA_VERSION } from "../src/store/pg/index.js";
import { type TestDatabase, createTestDatabase } from "@weft/test-support";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

/** Runs `weft-relay ...args`; resolves with its exit code and output. */
function relayCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      { env: { PATH: process.env["PATH"] ?? "", ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe("weft relay migrate", () => {
  test("applies the schema once; run again (here from WEFT_RELAY_DATABASE) it is up to date", async () => {
    const first = await relayCommand(["migrate", "--database", db.url]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied migrations? 1\b/);
    const tables = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'log'",
    );
    expect(tables[0]?.n).toBe(1);
    const again = await relayCommand(["migrate"], { WEFT_RELAY_DATABASE: db.url });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`up to date (schema version ${PG_SCHEMA_VERSION})`);
  });

  test("an unreachable database fails with exit 1, the password nowhere in the output", async () => {
    const url = "postgres://weft:hunter2-secret@127.0.0.1:1/weft";
    const run = await relayCommand(["migrate"], { WEFT_RELAY_DATABASE: url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("127.0.0.1:1");
    expect(run.stderr + run.stdout).not.toContain("hunter2");
    const usage = await relayCommand(["migrate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--database");
  });
});

describe("--database", () => {
  test("comes from the flag or WEFT_RELAY_DATABASE; anything but postgres:// is refused unechoed", () => {
    const url = "postgres://weft@db:5432/weft";
    expect(parseConfig(["--database", url], {})).toMatchObject({ database: url });
    expect(parseConfig([], { WEFT_RELAY_DATABASE: url })).toMatchObject({ database: url });
    expect(parseConfig([], {})).not.toHaveProperty("database");
    expect(() => parseConfig(["--database", "mysql://u:pw-xyz@h/d"], {})).toThrow(/PostgreSQL URL/);
    expect(() => parseConfig(["--database", "mysql://u:pw-xyz@h/d"], {})).not.toThrow(/pw-xyz/);
  });
});
