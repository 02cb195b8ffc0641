/** @weft/core/fs — Node-only file-system helpers for storage on disk (the relay's and the agent's); the main entry stays free of node:fs. */
export { fsyncDir } from "./fsync-dir.js";
