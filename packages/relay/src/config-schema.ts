/** The relay's configuration: its shape, its defaults, and the flag and variable of each setting. */
import type { FlagSpecs } from "@weft/core/cli";
import type { LoginLimits } from "./auth/login-gate.js";
import type { BufferLimits } from "./server/byte-budget.js";
import type { SocketLimits } from "./server/ws-server.js";
import type { BlobsConfig } from "./store/s3/blobs-config.js";

/** Everything `startRelay` needs to know. */
export interface RelayConfig {
  /** Address to listen on (default 127.0.0.1: reachable from this machine only). */
  host: string;
  /** Port (default 8787; 0 picks a free one). */
  port: number;
  /** Directory for the database, the chunks and the JWT secret (default ./weft-relay-data). */
  dataDir: string;
  /**
   * A PostgreSQL URL (`postgres://USER@HOST:PORT/DB`) for the metadata instead of SQLite in the
   * data directory, so that several relays can share it. From `--database` or
   * `WEFT_RELAY_DATABASE` (prefer the environment, or PGPASSWORD / ~/.pgpass, for a password:
   * argv is visible to every user).
   */
  database?: string;
  /**
   * NATS server URLs (`nats://HOST:PORT`, comma-separated for several) of the bus between
   * relays sharing a database: an entry appended through one reaches the others' subscribers
   * at once. From `--bus` or `WEFT_RELAY_BUS`.
   */
  bus?: string;
  /** TLS certificate and key files (PEM); both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /**
   * The JWT signing secret; by default generated on first start and kept in the data
   * directory (mode 0600). From `WEFT_RELAY_JWT_SECRET` only: never a flag (argv is visible
   * to every user of the machine).
   */
  jwtSecret?: string;
  /**
   * Secrets that signed tokens before the current one, still accepted (never used to sign) so
   * that rotating the secret logs nobody out: drop them once the access TTL has passed. From
   * `WEFT_RELAY_JWT_PREVIOUS_SECRETS` only (comma-separated).
   */
  jwtPreviousSecrets?: string[];
  /** Requests per second per client address (bursts of ten times that); 0 turns the limit off. Default 500. */
  rateLimit: number;
  /**
   * Where the chunks are: absent for the data directory (`DIR/chunks`), or an S3-compatible
   * bucket (`s3://BUCKET`; credentials and region from the standard AWS environment variables).
   */
  blobs?: BlobsConfig;
  /** Log level for the JSON logs (default "info"). */
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /**
   * Seconds a chunk stays safe from garbage collection after it was last stored or has-checked
   * (default 3600; 0: a delete request removes at once).
   */
  gcGraceSeconds: number;
  /**
   * Seconds a chunk garbage collection removed stays in quarantine, restored by any use, before
   * it is purged (default 604800, a week; 0: purged at once). Counted against the quota.
   */
  gcQuarantineSeconds: number;
  /**
   * Seconds after its last ack in a folder that a device stops holding back the folder's log
   * pruning (default 2592000, 30 days; 0: never); it loads the snapshot when it returns.
   */
  pruneSilentSeconds: number;
  /** Most folders one account may own (default 100; 0: unlimited). */
  accountFolders: number;
  /** Most bytes of chunks per folder (default 100 GiB; 0: unlimited). */
  folderQuota: number;
  /**
   * Most bytes the folders an account owns may hold together, charged to each owner: chunks,
   * unfinished uploads, log envelopes and snapshots (default 1 TiB; 0: unlimited).
   */
  accountQuota: number;
  /** Most entries one folder's log may hold before pruning frees room (default 100,000; 0: unlimited). */
  folderLogEntries: number;
  /** Most bytes of envelopes one folder's log may hold (default 1 GiB; 0: unlimited). */
  folderLogBytes: number;
  /**
   * Lifetime of an access token in seconds (default 900). A WebSocket session ends when its
   * token does, unless the client authenticates again. From `WEFT_RELAY_ACCESS_TTL` only: a
   * short one is for tests of exactly that.
   */
  accessTtlSeconds?: number;
  /** Serve `/metrics` on this port (same host) instead of the main one; 0 picks a free port. */
  metricsPort?: number;
  /**
   * A bearer token `/metrics` requires. From `WEFT_RELAY_METRICS_TOKEN` or the file named by
   * `WEFT_RELAY_METRICS_TOKEN_FILE` only: never a flag (argv is visible to every user).
   */
  metricsToken?: string;
  /**
   * WebSocket admission limits (defaults in `DEFAULT_SOCKET_LIMITS`): sockets per address,
   * unauthenticated sockets per address and in all, seconds to authenticate, messages per
   * second. `WEFT_RELAY_PREAUTH_SECONDS` sets the deadline (tests of exactly that).
   */
  socketLimits?: Partial<SocketLimits>;
  /** Password work admitted (defaults in `DEFAULT_LOGIN_LIMITS`): per address, queue bounds. */
  loginLimits?: Partial<LoginLimits>;
  /**
   * Bytes the relay may hold for clients, per address, per account, and its memory guard in
   * all (defaults from `defaultBufferLimits`: 512 MiB per address, 1,028 MiB per account, half
   * the machine's memory); from `WEFT_RELAY_BUFFER_MIB_PER_ADDRESS`,
   * `WEFT_RELAY_BUFFER_MIB_PER_ACCOUNT` and `WEFT_RELAY_BUFFER_MIB`. `rateLimit` 0 turns the
   * per-address one off.
   */
  bufferLimits?: Partial<BufferLimits>;
}

/** The embedded defaults. */
export const DEFAULTS = Object.freeze({
  host: "127.0.0.1",
  port: 8787,
  dataDir: "./weft-relay-data",
  rateLimit: 500,
  logLevel: "info" as const,
  gcGraceSeconds: 3600,
  gcQuarantineSeconds: 7 * 24 * 3600,
  pruneSilentSeconds: 30 * 24 * 3600,
  accountFolders: 100,
  folderQuota: 100 * 1024 ** 3,
  accountQuota: 1024 ** 4,
  folderLogEntries: 100_000,
  folderLogBytes: 1024 ** 3,
});

/** What a flag sets: a key of the configuration, or a part of one (`s3Endpoint`: of `blobs`). */
export type FlagKey = keyof RelayConfig | "s3Endpoint";

export const FLAGS: { flag: string; env: string; key: FlagKey; help: string }[] = [
  {
    flag: "--host",
    env: "WEFT_RELAY_HOST",
    key: "host",
    help: `address to listen on (default ${DEFAULTS.host})`,
  },
  {
    flag: "--port",
    env: "WEFT_RELAY_PORT",
    key: "port",
    help: `port (default ${DEFAULTS.port}; 0 picks a free one)`,
  },
  {
    flag: "--data",
    env: "WEFT_RELAY_DATA",
    key: "dataDir",
    help: `data directory (default ${DEFAULTS.dataDir})`,
  },
  {
    flag: "--database",
    env: "WEFT_RELAY_DATABASE",
    key: "database",
    help: "PostgreSQL URL postgres://USER@HOST:PORT/DB for the metadata (default: SQLite in DIR)",
  },
  {
    flag: "--bus",
    env: "WEFT_RELAY_BUS",
    key: "bus",
    help: "NATS URL nats://HOST:PORT (comma-separated for several) between relays sharing --database",
  },
  {
    flag: "--tls-cert",
    env: "WEFT_RELAY_TLS_CERT",
    key: "tlsCert",
    help: "TLS certificate file (PEM); with --tls-key",
  },
  {
    flag: "--tls-key",
    env: "WEFT_RELAY_TLS_KEY",
    key: "tlsKey",
    help: "TLS private key file (PEM); with --tls-cert",
  },
  {
    flag: "--rate-limit",
    env: "WEFT_RELAY_RATE_LIMIT",
    key: "rateLimit",
    help: `requests/s per address, bursts of 10 s (default ${DEFAULTS.rateLimit}; 0: off)`,
  },
  {
    flag: "--log-level",
    env: "WEFT_RELAY_LOG_LEVEL",
    key: "logLevel",
    help: "debug, info (default), warn, error or silent",
  },
  {
    flag: "--gc-grace",
    env: "WEFT_RELAY_GC_GRACE",
    key: "gcGraceSeconds",
    help: `seconds a chunk is safe from deletion after its last use (default ${DEFAULTS.gcGraceSeconds})`,
  },
  {
    flag: "--gc-quarantine",
    env: "WEFT_RELAY_GC_QUARANTINE",
    key: "gcQuarantineSeconds",
    help: `seconds a collected chunk stays restorable (default ${DEFAULTS.gcQuarantineSeconds}; 0: none)`,
  },
  {
    flag: "--prune-silent-after",
    env: "WEFT_RELAY_PRUNE_SILENT_AFTER",
    key: "pruneSilentSeconds",
    help: `seconds a device may go without acking before pruning skips it (default ${DEFAULTS.pruneSilentSeconds}; 0: never)`,
  },
  {
    flag: "--account-folders",
    env: "WEFT_RELAY_ACCOUNT_FOLDERS",
    key: "accountFolders",
    help: `folders one account may own (default ${DEFAULTS.accountFolders}; 0: unlimited)`,
  },
  {
    flag: "--folder-quota",
    env: "WEFT_RELAY_FOLDER_QUOTA",
    key: "folderQuota",
    help: "bytes of chunks per folder, e.g. 500MiB, 10GiB (default 100GiB; 0: unlimited)",
  },
  {
    flag: "--account-quota",
    env: "WEFT_RELAY_ACCOUNT_QUOTA",
    key: "accountQuota",
    help: "bytes the folders an account owns may hold: chunks, unfinished uploads, logs, snapshots (default 1TiB; 0: unlimited)",
  },
  {
    flag: "--folder-log-entries",
    env: "WEFT_RELAY_FOLDER_LOG_ENTRIES",
    key: "folderLogEntries",
    help: `entries one folder's log may hold until pruned (default ${DEFAULTS.folderLogEntries}; 0: unlimited)`,
  },
  {
    flag: "--folder-log-bytes",
    env: "WEFT_RELAY_FOLDER_LOG_BYTES",
    key: "folderLogBytes",
    help: "bytes of envelopes one folder's log may hold until pruned (default 1GiB; 0: unlimited)",
  },
  {
    flag: "--blobs",
    env: "WEFT_RELAY_BLOBS",
    key: "blobs",
    help: "where chunks go: s3://BUCKET for an S3-compatible bucket (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION from the environment); default: DIR/chunks",
  },
  {
    flag: "--s3-endpoint",
    env: "WEFT_RELAY_S3_ENDPOINT",
    key: "s3Endpoint",
    help: "URL of an S3-compatible service (MinIO, Garage, Ceph RGW…; path-style); default: AWS S3",
  },
  {
    flag: "--metrics-port",
    env: "WEFT_RELAY_METRICS_PORT",
    key: "metricsPort",
    help: "serve /metrics on this port instead of the main one",
  },
];

const PLACEHOLDER: Partial<Record<FlagKey, string>> = {
  host: "H",
  port: "P",
  dataDir: "DIR",
  database: "URL",
  bus: "URL",
  tlsCert: "F",
  tlsKey: "F",
  rateLimit: "N",
  logLevel: "LEVEL",
  gcGraceSeconds: "SECONDS",
  gcQuarantineSeconds: "SECONDS",
  pruneSilentSeconds: "SECONDS",
  accountFolders: "N",
  folderQuota: "BYTES",
  accountQuota: "BYTES",
  folderLogEntries: "N",
  folderLogBytes: "BYTES",
  metricsPort: "P",
  blobs: "URL",
  s3Endpoint: "URL",
};

/** The flags in the shared parser's form (each also settable by its environment variable). */
export const SPECS: FlagSpecs = {
  ...Object.fromEntries(
    FLAGS.map((f) => [
      f.flag.slice(2),
      {
        type: "string" as const,
        value: PLACEHOLDER[f.key] ?? "F",
        env: f.env,
        description: f.help,
      },
    ]),
  ),
  help: { type: "boolean", short: "h", description: "this text" },
};

/** The text of `weft relay --help`. */
