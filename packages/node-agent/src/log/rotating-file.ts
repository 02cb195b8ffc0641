/**
 * A log file that rotates by size: `weft.log` is written until it would pass `maxBytes`, then
 * renamed to `weft.log.1` (`.1` to `.2`, …), keeping `files` files in all. A pino destination.
 */
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** How a {@link RotatingFile} rotates. */
export interface RotationOptions {
  /** A file is rotated before a write would take it past this size (bytes). */
  maxBytes: number;
  /** How many files are kept, the current one included (at least 1). */
  files: number;
}

/** The rotation used unless told otherwise: 10 MiB × 5 files, at most 50 MiB of logs. */
export const DEFAULT_ROTATION: RotationOptions = { maxBytes: 10 * 1024 * 1024, files: 5 };

/**
 * A size-rotated append-only file with synchronous writes. Synchronous on purpose: the daemon
 * logs a few lines a second at most, and a line written synchronously is on disk even when the
 * process is killed right after (the lines before a crash are the ones that matter). No worker
 * thread either, unlike pino's transports. Write failures (a full disk) are swallowed after the
 * first report: logging must never stop the sync.
 */
export class RotatingFile {
  private fd: number | undefined;
  private size = 0;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly options: RotationOptions = DEFAULT_ROTATION,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.open();
  }

  /** Appends one chunk (pino gives whole lines). */
  write(chunk: string): boolean {
    const bytes = Buffer.from(chunk);
    try {
      if (this.size > 0 && this.size + bytes.length > this.options.maxBytes) this.rotate();
      if (this.fd === undefined) this.open();
      writeSync(this.fd!, bytes);
      this.size += bytes.length;
      this.failed = false;
    } catch (error) {
      if (!this.failed) this.onError(error as Error);
      this.failed = true;
    }
    return true;
  }

  /** Closes the file; later writes open it again. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): void {
    // 0600: the log names this device's folders (and with --log-names, its files).
    this.fd = openSync(this.path, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.close();
    const keep = Math.max(1, this.options.files);
    rmSync(`${this.path}.${keep - 1}`, { force: true });
    for (let i = keep - 2; i >= 1; i--) renameIfThere(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    if (keep > 1) renameIfThere(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    this.open();
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
