/** Runs the relay as a command (`weft-relay`, `weft relay`, `npm start`): flags and environment, start, stop on SIGTERM/SIGINT; or `backup`/`restore`/`migrate`. */
import { WeftError } from "@weft/core";
import { runBackupCommand } from "./backup-command.js";
import { HELP, parseConfig } from "./config.js";
import { startRelay } from "./relay.js";
import { runMigrateCommand } from "./store/pg/migrate-command.js";

/**
 * Parses `argv` and `env`, starts the relay and stops it cleanly on SIGTERM or SIGINT (exit 0;
 * exit 1 if it cannot close within 5 s). `name` prefixes error lines.
 */
export async function runRelayCommand(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  name = "weft relay",
): Promise<void> {
  if (argv[0] === "backup" || argv[0] === "restore" || argv[0] === "migrate") {
    const write = (text: string): boolean => process.stdout.write(text);
    try {
      if (argv[0] === "migrate") await runMigrateCommand(argv.slice(1), env, write);
      else await runBackupCommand(argv[0], argv.slice(1), env, write);
      return;
    } catch (error) {
      process.stderr.write(`${name} ${argv[0]}: ${(error as Error).message}\n`);
      process.exit(error instanceof WeftError && error.code === "INVALID_OPTIONS" ? 2 : 1);
    }
  }
  let config;
  try {
    config = parseConfig([...argv], env);
  } catch (error) {
    process.stderr.write(`${name}: ${(error as Error).message}\n`);
    process.exit(2);
  }
  if (config === "help") {
    process.stdout.write(HELP);
    return;
  }
  const relay = await startRelay(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    // A relay that cannot close in time (a stuck disk) still exits, after saying so.
    const timer = setTimeout(() => {
      process.stderr.write(`${name}: did not stop within 5 s of ${signal}; exiting\n`);
      process.exit(1);
    }, 5000);
    timer.unref();
    relay.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${name}: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
