/**
 * @weft/relay — the thin uWebSockets.js server that stores ciphertext and metadata only.
 * Not built yet (issue 4); this package is an empty shell so the workspace layout is fixed.
 */
export const RELAY_STATUS = "not-implemented" as const;
