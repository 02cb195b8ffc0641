/**
 * Reading and saving a folder's `.weftignore` as a person edits it (the dashboard's Ignore
 * rules). The file lives in the folder and syncs like any file, so saving writes it there; a
 * save made against text that has changed since (another device's edit arrived) is refused, not
 * written over it.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fsyncDir } from "@weft/core/fs";
import { AgentError } from "../home/index.js";
import { AGENT_TEMP_PREFIX, WEFTIGNORE } from "./ignore-rules.js";

/** The largest `.weftignore` saved this way (a list of patterns, not a document). */
export const MAX_IGNORE_BYTES = 32 * 1024;

/** The folder's `.weftignore` text, `""` when there is none. */
export async function readIgnoreFile(root: string): Promise<string> {
  try {
    return await readFile(join(root, WEFTIGNORE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new AgentError("STATE", `cannot read ${join(root, WEFTIGNORE)}: ${errorText(error)}`, {
      cause: error,
    });
  }
}

/**
 * Writes `text` as the folder's `.weftignore` (complete under a temporary name that scans
 * skip, then renamed into place), if the file still holds `previous`.
 * @throws AgentError CONFLICT when the file changed since `previous` was read; USAGE when too big
 */
export async function saveIgnoreFile(root: string, text: string, previous: string): Promise<void> {
  if (Buffer.byteLength(text) > MAX_IGNORE_BYTES)
    throw new AgentError("USAGE", `.weftignore is at most ${MAX_IGNORE_BYTES / 1024} KiB`);
  if ((await readIgnoreFile(root)) !== previous)
    throw new AgentError(
      "CONFLICT",
      ".weftignore changed since it was opened (another device's edit arrived); open it again",
    );
  const temp = join(root, `${AGENT_TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
  try {
    const handle = await open(temp, "wx", 0o644);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(root, WEFTIGNORE));
  } catch (error) {
    await rm(temp, { force: true });
    throw new AgentError("STATE", `cannot write ${join(root, WEFTIGNORE)}: ${errorText(error)}`, {
      cause: error,
    });
  }
  await fsyncDir(root);
}

function errorText(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
