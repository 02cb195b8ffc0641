/** Small, careful file helpers for the agent's own state under WEFT_HOME: atomic private JSON files and a lock. */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AgentError } from "./errors.js";

/** Reads a JSON file; undefined when it does not exist. @throws AgentError when it is not valid JSON */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AgentError("STATE", `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new AgentError("STATE", `${path} is not valid JSON; fix or remove it`, { cause: error });
  }
}

/**
 * Writes `value` as JSON readable by the owner only (0600): a temp file in the same directory,
 * fsynced, then renamed over the old one, so a crash leaves either the old or the new file.
 */
export async function writeJsonPrivate(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** A stale lock (its holder died) is taken over after this long. */
const LOCK_STALE_MS = 30_000;

/**
 * Runs `work` holding an exclusive lock file at `path` (O_EXCL create), waiting for another
 * holder up to `waitMs`. A lock older than 30 s is treated as left by a killed process.
 */
export async function withLock<T>(
  path: string,
  work: () => Promise<T>,
  waitMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  return locked(path, work, async () => {
    const age = await stat(path).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > LOCK_STALE_MS) return rm(path, { force: true });
    if (Date.now() > deadline)
      throw new AgentError("BUSY", `another weft process holds ${path}; try again`);
    await new Promise((resolve) => setTimeout(resolve, 25 + Math.random() * 50));
  });
}

/**
 * Runs `work` holding an exclusive lock file at `path` that names this process: a lock whose
 * process is gone is taken over at once, and a live holder is waited for (up to `waitMs`),
 * however long it has held the lock. For work that may run for minutes (an upload of a large
 * file), where {@link withLock}'s age rule would take a live lock away.
 * @throws AgentError BUSY naming `what` when the holder does not finish in time
 */
export async function withPidLock<T>(
  path: string,
  what: string,
  work: () => Promise<T>,
  waitMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  return locked(path, work, async () => {
    const text = await readFile(path, "utf8").catch(() => "");
    const pid = Number(text);
    // An empty file is a lock being written this moment (or left by a process killed in that
    // moment, when it is more than a few seconds old).
    const young = async () =>
      Date.now() -
        (await stat(path).then(
          (s) => s.mtimeMs,
          () => 0,
        )) <
      5000;
    if (text === "" ? await young() : Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
      if (Date.now() > deadline)
        throw new AgentError("BUSY", `another weft process (pid ${text || "?"}) is using ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return;
    }
    // Left by a killed process: removed only if it still is, so a lock another process has
    // just taken in its place is not removed with it.
    if ((await readFile(path, "utf8").catch(() => "")) === text) await rm(path, { force: true });
  });
}

/**
 * Takes the lock file at `path` (O_EXCL create, holding this process's id), calling `held`
 * each time another holds it (it waits, removes a stale lock, or throws), runs `work`, and
 * removes the lock.
 */
async function locked<T>(
  path: string,
  work: () => Promise<T>,
  held: () => Promise<void>,
): Promise<T> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (;;) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    await held();
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}

/** Whether a process with this pid is alive (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
