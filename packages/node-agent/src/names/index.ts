/** names: folder-relative paths that are safe to write (nothing escapes the folder) and portable (case, Windows, conflict copies). */
export { safeJoin } from "./safe-join.js";
export { clashKey, findClashes, windowsProblem } from "./portability.js";
export { localConflictName } from "./conflict-name.js";
