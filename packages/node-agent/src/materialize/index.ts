/** materialize: writing the replica's tree to disk: the write policy (plan) and putting content on disk safely (temp file, verify, then rename, never over a local change). */
export { type Expected, statExpected } from "./expected.js";
export { type PlaceOptions, type PlaceResult, placeFile } from "./place.js";
export { removeFile } from "./remove.js";
export { makeDir, removeDirIfEmpty } from "./dirs.js";
export { TEMP_PREFIX, cleanTempFiles, isTempName, partName } from "./temp.js";
export {
  type ChangeMode,
  type MakeDir,
  type MaterializePlan,
  type RemoveDir,
  type RemoveFile,
  type TreeItem,
  type TreeVersion,
  type WriteFile,
  conflictCopyPath,
  holdPaths,
  planMaterialize,
} from "./plan.js";
export { type ApplyContext, RESUMABLE_BYTES, applyPlan } from "./apply.js";
