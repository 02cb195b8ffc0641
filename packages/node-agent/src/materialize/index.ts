/** materialize: putting downloaded content on disk safely (temp file, verify, then rename, never over a local change). */
export { type Expected, statExpected } from "./expected.js";
export { type PlaceOptions, type PlaceResult, placeFile } from "./place.js";
export { removeFile } from "./remove.js";
export { makeDir, removeDirIfEmpty } from "./dirs.js";
export { TEMP_PREFIX, cleanTempFiles, isTempName } from "./temp.js";
