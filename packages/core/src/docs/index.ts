/** CRDT documents carried by a Replica: the channel contract and its Yjs and Automerge bindings. */
export type { DocChannel, DocChannelEventMap, DocChannelStatus, DocType } from "./channel.js";
export {
  MAX_EPHEMERAL_BYTES,
  REMOTE_ORIGIN,
  bindYDoc,
  type BindYDocOptions,
  type YDocBinding,
} from "./yjs-doc.js";
export {
  WeftProvider,
  type DocOpener,
  type WeftProviderEvents,
  type WeftProviderOptions,
  type WeftProviderStatus,
} from "./provider.js";
export {
  openAutomergeDoc,
  type AutomergeChangeEvent,
  type AutomergeDocHandle,
  type AutomergeEphemeralEvent,
  type OpenAutomergeDocOptions,
} from "./automerge-doc.js";
