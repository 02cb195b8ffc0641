/** log/: what the sync daemon writes to WEFT_HOME/logs (pino JSON lines, rotated by size). */
export { type AgentLog, type AgentLogOptions, openAgentLog } from "./logger.js";
export { type FolderLogOptions, followFolderLog, redactNames } from "./daemon-log.js";
export { DEFAULT_ROTATION, RotatingFile, type RotationOptions } from "./rotating-file.js";
export { agentVersion } from "./version.js";
