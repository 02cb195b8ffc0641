/** `weft ui`: the local dashboard. It lives in the sync daemon (which holds the replicas), so this runs the daemon with it, or prints the URL of the one running. */
import { AgentError } from "../home/index.js";
import { runningSync } from "../sync/run.js";
import { runningDashboard } from "../ui/index.js";
import type { Command } from "./command.js";
import { syncCommand } from "./sync-commands.js";

/** `weft ui`: runs the sync daemon with the dashboard, or prints the URL of the one running. */
export const uiCommand: Command = {
  name: "ui",
  args: "",
  summary:
    "Serves the local dashboard and prints its URL (with an access token); syncs meanwhile.\n" +
    "It runs inside the sync daemon: every folder syncs, as with weft sync, until stopped.",
  details:
    "The page shows each folder's state, transfers, peers, recent activity, problems, conflicts\n" +
    "(keep mine / theirs / both) and history (restore an earlier version); it pauses and resumes\n" +
    "folders, edits their .weftignore, invites and manages members, names devices, and creates or\n" +
    "joins folders (synced at once). Only this machine can reach\n" +
    "it, and only with the printed URL: the token is new each time the agent starts.\n" +
    "If `weft sync --ui` (or another weft ui) already runs for this WEFT_HOME, this prints its URL.\n" +
    "--port P picks the port (default: a free one).",
  example: "weft ui --port 8800",
  flags: {
    port: { type: "string", value: "P", description: "the dashboard's port (default: a free one)" },
  },
  run: async (ctx) => {
    const running = await runningDashboard(ctx.home);
    if (running) {
      ctx.say(`the dashboard of the running weft sync (pid ${running.pid}): ${running.url}`);
      return { url: running.url, pid: running.pid, started: false };
    }
    const pid = await runningSync(ctx.home);
    if (pid !== undefined)
      throw new AgentError(
        "BUSY",
        `weft sync is running (pid ${pid}) without the dashboard; stop it, then run weft ui (which syncs too)`,
      );
    return syncCommand.run({ ...ctx, values: { ...ctx.values, ui: true }, positionals: [] });
  },
};
