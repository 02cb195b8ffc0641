/** The daemon's logger: pino JSON lines to WEFT_HOME/logs/weft.log (rotated by size) and, without a terminal, to stdout too. */
import { join } from "node:path";
import pino, { type Logger } from "pino";
import { DEFAULT_ROTATION, RotatingFile, type RotationOptions } from "./rotating-file.js";

/** How the agent logs. */
export interface AgentLogOptions {
  /** The log directory (WEFT_HOME/logs). */
  dir: string;
  /** Also write every line to stdout (a service manager collects it there). */
  toStdout: boolean;
  rotation?: RotationOptions;
  /** pino's level (default "info"). */
  level?: string;
}

/** A logger and the way to flush and close its file. */
export interface AgentLog {
  logger: Logger;
  /** The current log file. */
  path: string;
  close(): void;
}

/**
 * Keys that hold secrets anywhere in a logged object: censored by pino even if a caller passes
 * one by mistake. Messages are built so that none carries a secret in the first place; this is
 * the second line.
 */
const SECRET_KEYS = [
  "token",
  "accessToken",
  "refreshToken",
  "password",
  "passphrase",
  "invite",
  "secret",
  "key",
];

/** Opens the log (creating WEFT_HOME/logs, mode 0700). */
export function openAgentLog(options: AgentLogOptions): AgentLog {
  const path = join(options.dir, "weft.log");
  const file = new RotatingFile(path, options.rotation ?? DEFAULT_ROTATION, (error) =>
    process.stderr.write(`weft: cannot write the log ${path}: ${error.message}\n`),
  );
  const streams: pino.StreamEntry[] = [{ stream: file }];
  // Asynchronous, and lines are dropped past 1 MiB waiting: a stdout nobody reads (a paused
  // pager, a parent that never drains the pipe) must never stop the sync. The file has them all.
  const stdout = options.toStdout
    ? pino.destination({ dest: 1, sync: false, maxLength: 1024 * 1024 })
    : undefined;
  if (stdout) streams.push({ stream: stdout });
  const logger = pino(
    {
      level: options.level ?? "info",
      base: { service: "weft", pid: process.pid },
      // ISO times: the file is read by people as often as by tools.
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`)],
        censor: "[redacted]",
      },
    },
    pino.multistream(streams),
  );
  return {
    logger,
    path,
    close: () => {
      try {
        stdout?.flushSync();
      } catch {
        // stdout is full or gone: the lines are in the file
      }
      file.close();
    },
  };
}
