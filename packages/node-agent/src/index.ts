/**
 * @weft/node-agent — the `weft` agent that keeps real folders in sync across devices.
 * Not built yet (issue 5); this package is an empty shell so the workspace layout is fixed.
 */
export const AGENT_STATUS = "not-implemented" as const;
