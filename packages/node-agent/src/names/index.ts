/** names: folder-relative paths that are safe to write (nothing escapes the folder) and portable (case, Windows). */
export { safeJoin } from "./safe-join.js";
export { clashKey, findClashes, windowsProblem } from "./portability.js";
