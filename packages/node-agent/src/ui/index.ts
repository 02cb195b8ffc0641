/** ui/: the local web dashboard served by the sync daemon on 127.0.0.1 (status, conflicts, history, activity, members and devices). */
export {
  type DashboardFile,
  type RunningDashboard,
  runningDashboard,
  startDashboard,
} from "./dashboard.js";
export { DashboardServer, type DashboardServerOptions } from "./server.js";
export { type DashboardView, type FolderView } from "./view.js";
