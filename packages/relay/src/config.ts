/** The relay's configuration: flags, then environment, then the embedded defaults; and `--help`. */
import { readFileSync } from "node:fs";
import { WeftError } from "@weft/core";
import { UsageError, flagHelpLines, parseCommandLine } from "@weft/core/cli";
import { DEFAULTS, FLAGS, type FlagKey, type RelayConfig, SPECS } from "./config-schema.js";
import { checkDatabaseUrl } from "./store/pg/pg-db.js";
import { checkBusUrls } from "./bus/bus.js";
import { parseBlobs } from "./store/s3/blobs-config.js";

export { DEFAULTS, type RelayConfig };

export const HELP = `weft relay — the Weft relay: stores ciphertext and metadata only, never a key or a name.

Usage: weft relay [--host H] [--port P] [--data DIR] [--tls-cert F --tls-key F]
       weft relay migrate --database URL     applies the PostgreSQL schema's migrations, then exits
       weft relay backup --data DIR OUT      a consistent copy of a (running) relay's data
       weft relay restore BACKUP --data DIR  a backup into a new data directory

Options (each also settable by environment; a flag wins over the environment):
${flagHelpLines(SPECS, [
  {
    env: "WEFT_RELAY_JWT_SECRET",
    description:
      "token signing secret (environment only); default: generated once, kept in DIR/jwt-secret (mode 0600)",
  },
  {
    env: "WEFT_RELAY_JWT_PREVIOUS_SECRETS",
    description:
      "comma-separated secrets still accepted, not used to sign (a rotation: tokens they signed work until they expire)",
  },
  {
    env: "WEFT_RELAY_ACCESS_TTL",
    description: "access token lifetime in seconds, 1 to 86400 (default 900)",
  },
  {
    env: "WEFT_RELAY_METRICS_TOKEN",
    description:
      "bearer token /metrics requires (environment only; or WEFT_RELAY_METRICS_TOKEN_FILE=F to read it from F)",
  },
]).join("\n")}

Example:
  weft relay --port 8787 --data /var/lib/weft-relay
  WEFT_RELAY_PORT=0 weft relay      # a free port; the URL is in the first log line
`;

/**
 * Builds the configuration from argv and the environment.
 * @returns "help" when --help was asked for
 * @throws WeftError INVALID_OPTIONS naming the bad flag or variable
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RelayConfig | "help" {
  const values = new Map<FlagKey, string>();
  for (const f of FLAGS) {
    const v = env[f.env];
    if (v !== undefined && v !== "") values.set(f.key, v);
  }
  let parsed;
  try {
    parsed = parseCommandLine(argv, SPECS, { positionals: false });
  } catch (error) {
    if (error instanceof UsageError)
      throw new WeftError("INVALID_OPTIONS", `${error.message} (see --help)`);
    throw error;
  }
  if (parsed.values["help"]) return "help";
  for (const f of FLAGS) {
    const v = parsed.values[f.flag.slice(2)];
    if (typeof v === "string") values.set(f.key, v);
  }
  const port = Number(values.get("port") ?? DEFAULTS.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new WeftError("INVALID_OPTIONS", "the port must be an integer from 0 to 65535");
  const rateLimit = Number(values.get("rateLimit") ?? DEFAULTS.rateLimit);
  if (!Number.isFinite(rateLimit) || rateLimit < 0)
    throw new WeftError(
      "INVALID_OPTIONS",
      "the rate limit is a number of requests per second, 0 or more",
    );
  const logLevel = values.get("logLevel") ?? DEFAULTS.logLevel;
  if (!["debug", "info", "warn", "error", "silent"].includes(logLevel))
    throw new WeftError(
      "INVALID_OPTIONS",
      "the log level must be debug, info, warn, error or silent",
    );
  const gcGraceSeconds = wholeSeconds(
    values.get("gcGraceSeconds"),
    DEFAULTS.gcGraceSeconds,
    "--gc-grace (WEFT_RELAY_GC_GRACE)",
  );
  const gcQuarantineSeconds = wholeSeconds(
    values.get("gcQuarantineSeconds"),
    DEFAULTS.gcQuarantineSeconds,
    "--gc-quarantine (WEFT_RELAY_GC_QUARANTINE)",
  );
  const pruneSilentSeconds = wholeSeconds(
    values.get("pruneSilentSeconds"),
    DEFAULTS.pruneSilentSeconds,
    "--prune-silent-after (WEFT_RELAY_PRUNE_SILENT_AFTER)",
  );
  const accountFolders = wholeNumber(
    values.get("accountFolders"),
    DEFAULTS.accountFolders,
    "--account-folders (WEFT_RELAY_ACCOUNT_FOLDERS)",
    { digits: 9 },
  );
  const folderQuota = byteSize(
    values.get("folderQuota"),
    DEFAULTS.folderQuota,
    "--folder-quota (WEFT_RELAY_FOLDER_QUOTA)",
  );
  const accountQuota = byteSize(
    values.get("accountQuota"),
    DEFAULTS.accountQuota,
    "--account-quota (WEFT_RELAY_ACCOUNT_QUOTA)",
  );
  const folderLogBytes = byteSize(
    values.get("folderLogBytes"),
    DEFAULTS.folderLogBytes,
    "--folder-log-bytes (WEFT_RELAY_FOLDER_LOG_BYTES)",
  );
  const folderLogEntries = wholeNumber(
    values.get("folderLogEntries"),
    DEFAULTS.folderLogEntries,
    "--folder-log-entries (WEFT_RELAY_FOLDER_LOG_ENTRIES)",
    { digits: 12 },
  );
  const config: RelayConfig = {
    host: values.get("host") ?? DEFAULTS.host,
    port,
    dataDir: values.get("dataDir") ?? DEFAULTS.dataDir,
    rateLimit,
    logLevel: logLevel as RelayConfig["logLevel"],
    gcGraceSeconds,
    gcQuarantineSeconds,
    pruneSilentSeconds,
    accountFolders,
    folderQuota,
    accountQuota,
    folderLogEntries,
    folderLogBytes,
  };
  const database = values.get("database");
  if (database !== undefined) config.database = checkDatabaseUrl(database);
  const bus = values.get("bus");
  if (bus !== undefined) config.bus = checkBusUrls(bus);
  const blobs = parseBlobs(values.get("blobs"), values.get("s3Endpoint"));
  if (blobs !== undefined) config.blobs = blobs;
  const cert = values.get("tlsCert");
  const key = values.get("tlsKey");
  if ((cert === undefined) !== (key === undefined))
    throw new WeftError("INVALID_OPTIONS", "--tls-cert and --tls-key go together");
  if (cert !== undefined && key !== undefined) {
    config.tlsCert = cert;
    config.tlsKey = key;
  }
  const secret = env["WEFT_RELAY_JWT_SECRET"];
  if (secret) {
    if (secret.length < 32)
      throw new WeftError(
        "INVALID_OPTIONS",
        "WEFT_RELAY_JWT_SECRET must be at least 32 characters",
      );
    config.jwtSecret = secret;
  }
  const metricsPortText = values.get("metricsPort");
  if (metricsPortText !== undefined) {
    const metricsPort = Number(metricsPortText);
    if (!/^\d{1,5}$/.test(metricsPortText) || metricsPort > 65535)
      throw new WeftError(
        "INVALID_OPTIONS",
        "--metrics-port (WEFT_RELAY_METRICS_PORT) must be an integer from 0 to 65535",
      );
    config.metricsPort = metricsPort;
  }
  const metricsToken = readMetricsToken(env);
  if (metricsToken !== undefined) config.metricsToken = metricsToken;
  const previous = env["WEFT_RELAY_JWT_PREVIOUS_SECRETS"];
  if (previous) {
    const list = previous.split(",").map((p) => p.trim());
    if (list.some((p) => p.length < 32))
      throw new WeftError(
        "INVALID_OPTIONS",
        "each of WEFT_RELAY_JWT_PREVIOUS_SECRETS (comma-separated) must be at least 32 characters",
      );
    config.jwtPreviousSecrets = list;
  }
  const ttl = env["WEFT_RELAY_ACCESS_TTL"];
  if (ttl !== undefined && ttl !== "") {
    const seconds = Number(ttl);
    if (!/^\d{1,5}$/.test(ttl) || seconds < 1 || seconds > 86_400)
      throw new WeftError(
        "INVALID_OPTIONS",
        "WEFT_RELAY_ACCESS_TTL is a whole number of seconds from 1 to 86400",
      );
    config.accessTtlSeconds = seconds;
  }
  const preAuth = env["WEFT_RELAY_PREAUTH_SECONDS"];
  if (preAuth !== undefined && preAuth !== "") {
    if (!/^\d{1,4}$/.test(preAuth) || Number(preAuth) < 1)
      throw new WeftError(
        "INVALID_OPTIONS",
        "WEFT_RELAY_PREAUTH_SECONDS is a whole number of seconds from 1 to 9999",
      );
    config.socketLimits = { preAuthSeconds: Number(preAuth) };
  }
  for (const [name, key] of [
    ["WEFT_RELAY_BUFFER_MIB_PER_ADDRESS", "perAddressBytes"],
    ["WEFT_RELAY_BUFFER_MIB_PER_ACCOUNT", "perAccountBytes"],
    ["WEFT_RELAY_BUFFER_MIB", "totalBytes"],
  ] as const) {
    const text = env[name];
    if (text === undefined || text === "") continue;
    if (!/^\d{1,7}$/.test(text) || Number(text) < 1)
      throw new WeftError("INVALID_OPTIONS", `${name} is a whole number of MiB from 1 to 9999999`);
    config.bufferLimits = { ...config.bufferLimits, [key]: Number(text) * 1024 * 1024 };
  }
  return config;
}

/** The metrics token from the environment or a file; never echoed in an error. */
function readMetricsToken(env: NodeJS.ProcessEnv): string | undefined {
  const file = env["WEFT_RELAY_METRICS_TOKEN_FILE"];
  let token = env["WEFT_RELAY_METRICS_TOKEN"];
  if (file) {
    if (token)
      throw new WeftError(
        "INVALID_OPTIONS",
        "set WEFT_RELAY_METRICS_TOKEN or WEFT_RELAY_METRICS_TOKEN_FILE, not both",
      );
    try {
      token = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new WeftError(
        "INVALID_OPTIONS",
        `WEFT_RELAY_METRICS_TOKEN_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
  }
  if (token === undefined || token === "") {
    if (file)
      throw new WeftError("INVALID_OPTIONS", `WEFT_RELAY_METRICS_TOKEN_FILE: ${file} is empty`);
    return undefined;
  }
  if (token.length < 16)
    throw new WeftError("INVALID_OPTIONS", "the metrics token must be at least 16 characters");
  return token;
}

/**
 * A whole number of seconds from a flag's text, or `fallback` when absent.
 * @throws WeftError INVALID_OPTIONS naming the option
 */
function wholeSeconds(text: string | undefined, fallback: number, name: string): number {
  return wholeNumber(text, fallback, name, { unit: "seconds" });
}

/**
 * A whole number (of `unit`, up to `digits` digits) from a flag's text, or `fallback` when absent.
 * @throws WeftError INVALID_OPTIONS naming the option
 */
function wholeNumber(
  text: string | undefined,
  fallback: number,
  name: string,
  { digits = 10, unit }: { digits?: number; unit?: string } = {},
): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!new RegExp(`^\\d{1,${digits}}$`).test(text) || !Number.isSafeInteger(n))
    throw new WeftError(
      "INVALID_OPTIONS",
      `${name} is a whole number${unit ? ` of ${unit}` : ""}, 0 or more`,
    );
  return n;
}

/**
 * A size in bytes from a flag's text (see {@link parseByteSize}), or `fallback` when absent.
 * @throws WeftError INVALID_OPTIONS naming the option
 */
function byteSize(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const bytes = parseByteSize(text);
  if (bytes === undefined)
    throw new WeftError(
      "INVALID_OPTIONS",
      `${name} is a number of bytes, optionally with a unit ` +
        "(KiB, MiB, GiB, TiB, or kB, MB, GB, TB), e.g. 500MiB; 0 for no quota",
    );
  return bytes;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/**
 * A size such as `1048576`, `500MiB`, `10 GiB`, `1.5GB` (unit case-insensitive; KiB… are powers
 * of 1024, kB… of 1000), in whole bytes; undefined when malformed or too large to count exactly.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^(\d{1,16}(?:\.\d{1,6})?)\s*([a-z]*)$/i.exec(text.trim());
  const name = (match?.[2] ?? "").toLowerCase();
  if (!match || !Object.hasOwn(UNITS, name)) return undefined;
  const unit = UNITS[name]!;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
