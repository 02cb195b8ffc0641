/**
 * @weft/node-agent — the `weft` agent that keeps real folders in sync across devices.
 * The agent itself is not built yet (issue 5); what exists is its local state store.
 */
export { SqliteStateStore } from "./state/index.js";
