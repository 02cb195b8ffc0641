/** `weft relay backup` and `weft relay restore`: the data directory copied while the relay runs, and put back. */
import { WeftError } from "@weft/core";
import { DEFAULTS } from "./config.js";
import { backupRelay, restoreRelay } from "./store/backup.js";

const BACKUP_HELP = `weft relay backup — a consistent copy of a relay's data, also while it runs.

Usage: weft relay backup [--data DIR] OUT

Copies the database (SQLite's online backup API), then the chunks and the JWT secret, into the
new directory OUT (made as OUT.partial and renamed when complete), and prints what it holds.
DIR defaults to WEFT_RELAY_DATA, then ${DEFAULTS.dataDir}.

Example:
  weft relay backup --data /var/lib/weft-relay /backups/weft-relay-$(date +%F)
`;

const RESTORE_HELP = `weft relay restore — a backup into a new data directory, to start a relay on.

Usage: weft relay restore BACKUP --data DIR

Checks the backup (its database, and that this relay knows its schema), then copies it into
DIR, which must not exist or be empty. Then start the relay with --data DIR.

Example:
  weft relay restore /backups/weft-relay-2026-01-31 --data /var/lib/weft-relay
`;

/**
 * Runs `backup` or `restore` with `argv` (the words after it); output goes to `write`.
 * @throws WeftError INVALID_OPTIONS for bad usage (exit 2), others for failures (exit 1)
 */
export async function runBackupCommand(
  which: "backup" | "restore",
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  write: (text: string) => void,
): Promise<void> {
  let data: string | undefined;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      write(which === "backup" ? BACKUP_HELP : RESTORE_HELP);
      return;
    }
    if (arg === "--data" || arg.startsWith("--data=")) {
      data = arg === "--data" ? argv[++i] : arg.slice("--data=".length);
      if (data === undefined || data === "")
        throw new WeftError("INVALID_OPTIONS", "--data needs a directory");
    } else if (arg.startsWith("-"))
      throw new WeftError(
        "INVALID_OPTIONS",
        `unknown option ${arg} (see weft relay ${which} --help)`,
      );
    else positionals.push(arg);
  }
  if (positionals.length !== 1)
    throw new WeftError(
      "INVALID_OPTIONS",
      which === "backup"
        ? "weft relay backup needs one OUT directory (see --help)"
        : "weft relay restore needs one BACKUP directory (see --help)",
    );
  const target = positionals[0]!;
  if (which === "backup") {
    const dir = data ?? (env["WEFT_RELAY_DATA"] || DEFAULTS.dataDir);
    const s = await backupRelay(dir, target);
    write(
      `backed up ${dir} to ${target}: schema ${s.schemaVersion}, ${s.folders} folders, ` +
        `${s.chunks} chunks (${s.bytes} bytes)` +
        (s.vanished > 0 ? `, ${s.vanished} chunks garbage-collected during the copy` : "") +
        "\n",
    );
  } else {
    if (data === undefined)
      throw new WeftError(
        "INVALID_OPTIONS",
        "weft relay restore needs --data DIR (a new directory)",
      );
    const s = await restoreRelay(target, data);
    write(
      `restored ${target} (taken ${s.created}) into ${data}: start the relay with --data ${data}\n`,
    );
  }
}
