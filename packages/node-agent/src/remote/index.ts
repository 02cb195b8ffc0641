/** remote: a folder this device is a member of but does not sync, read and changed through the relay with no copy here (weft ls|get|put|rm|mv). */
export { type RemoteFolder, type RemoteOptions, withRemoteFolder } from "./remote-folder.js";
export { refusalMessage } from "../sync/refused.js";
export {
  type LocalSource,
  type ReadOut,
  abortable,
  interrupted,
  localFile,
  readToFile,
  readToStream,
} from "./file-io.js";
export { NoChunkStore } from "./no-chunk-store.js";
export { type EntryJson, listEntries, onPath } from "./listing.js";
