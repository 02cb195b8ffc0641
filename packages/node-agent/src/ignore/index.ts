/** Ignore rules: which paths of a synced folder the agent never syncs (built-in defaults + the folder's root `.weftignore`). */
export {
  DEFAULT_IGNORES,
  IgnoreRules,
  WEFTIGNORE,
  isAgentTempName,
  AGENT_TEMP_PREFIX,
  AGENT_PARTIAL_SUFFIX,
} from "./ignore-rules.js";
