/** How a command reaches a running `weft sync`: through its control socket, or a clear refusal when it has none. */
import { NO_DAEMON, type ControlRequest, askDaemon } from "../control/index.js";
import { AgentError } from "../home/index.js";
import { runningSync } from "../sync/run.js";
import { runningDashboard } from "../ui/index.js";
import type { CommandContext } from "./command.js";

/**
 * The running daemon's answer to `request`, or undefined when no `weft sync` runs for this home
 * (the command then opens the folders itself).
 * @throws the daemon's own error for the request; AgentError BUSY when a daemon runs that has
 *   no control socket (an older weft, or a home whose path is too long for a socket)
 */
export async function viaDaemon<T>(
  ctx: CommandContext,
  request: ControlRequest,
): Promise<T | undefined> {
  const answer = await askDaemon<T>(ctx.home, request);
  if (answer !== NO_DAEMON) return answer;
  await needStopped(ctx);
  return undefined;
}

/** Refuses while `weft sync` holds the replicas and cannot be asked. */
export async function needStopped(ctx: CommandContext): Promise<void> {
  const pid = await runningSync(ctx.home);
  if (pid === undefined) return;
  const dashboard = await runningDashboard(ctx.home);
  throw new AgentError(
    "BUSY",
    dashboard
      ? `weft sync is running (pid ${pid}); its dashboard can do this: ${dashboard.url} (or stop it, then run this again)`
      : `weft sync is running (pid ${pid}) and cannot be reached; stop it, then run this again`,
  );
}
