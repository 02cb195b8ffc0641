/**
 * Test helper: runs a piece of a test with an unprivileged user's file permissions, so that
 * permission cases run (and can fail) when the suite runs as root, as CI does.
 */
import { execFileSync } from "node:child_process";

/** nobody:nogroup on Debian and most Linux systems. */
const NOBODY = 65534;

/** Whether this process runs as root (permission checks do not apply to it). */
export const runningAsRoot = process.getuid?.() === 0;

/**
 * Runs `fn` with permission checks as an ordinary user would meet them. As root, `dirs` (the
 * test's temp trees) are given to nobody first and the process's effective uid and gid become
 * nobody's while `fn` runs: the kernel then refuses what it refuses any user (EACCES), which
 * root would otherwise read straight through. glibc applies seteuid to every thread, so the
 * fs calls libuv runs on its thread pool see the same user. The real uid stays root, which is
 * what lets the finally block switch back. Not root: `fn` just runs.
 */
export async function withUserPermissions<T>(
  dirs: readonly string[],
  fn: () => Promise<T>,
): Promise<T> {
  const { seteuid, setegid } = process;
  if (!runningAsRoot || !seteuid || !setegid) return fn();
  // Modes are kept: a test's chmod 0 stays a chmod 0, now against an owner who is not root.
  for (const dir of dirs) execFileSync("chown", ["-R", `${NOBODY}:${NOBODY}`, dir]);
  setegid(NOBODY);
  seteuid(NOBODY);
  try {
    return await fn();
  } finally {
    seteuid(0);
    setegid(0);
  }
}
