/** Test helpers: a small file system of its own (a tmpfs mount, as root) to fill up. */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Why a tmpfs cannot be mounted here (not root, no `mount`, a container that forbids it), or
 * undefined when it can: tried once with a 1 MiB mount.
 */
export function cannotMount(): string | undefined {
  if (process.platform !== "linux") return "tmpfs mounts need Linux";
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root (CI runs as root)";
  const dir = mkdtempSync(join(tmpdir(), "weft-mount-check-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stdio: "pipe" });
    execFileSync("umount", [dir], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message.split("\n")[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A tmpfs of `size` (e.g. "24m") mounted on `dir` (which must exist); unmount() undoes it. */
export function mountSmallDisk(dir: string, size: string): { unmount(): void } {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir], {
    stdio: "pipe",
  });
  let mounted = true;
  return {
    unmount: () => {
      if (!mounted) return;
      // Lazy: a process killed a moment ago may still hold a file open there.
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      mounted = false;
    },
  };
}

/**
 * Writes `path` until its file system has no room left (ENOSPC); resolves with the bytes it
 * holds. Deleting it gives the room back.
 */
export async function fillDisk(path: string): Promise<number> {
  const file = await open(path, "w");
  let bytes = 0;
  try {
    // Large blocks first, then single pages, so that not even one small file fits after.
    for (const block of [1024 * 1024, 4096, 512]) {
      const data = randomBytes(block);
      for (;;) {
        try {
          const { bytesWritten } = await file.write(data);
          bytes += bytesWritten;
          if (bytesWritten < block) break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw error;
        }
      }
    }
  } finally {
    await file.close();
  }
  return bytes;
}

/** Removes what {@link fillDisk} wrote. */
export const freeDisk = (path: string): Promise<void> => rm(path, { force: true });
