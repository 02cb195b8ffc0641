/** @weft/automerge-repo — an automerge-repo NetworkAdapter that syncs a Repo through a Weft folder, end to end encrypted. */
export {
  DEFAULT_PREFIX,
  WeftNetworkAdapter,
  type AdapterReplica,
  type WeftNetworkAdapterOptions,
} from "./adapter.js";
export {
  PEERS_CHANNEL,
  WeftPeersAdapter,
  type PeersReplica,
  type WeftPeersAdapterOptions,
} from "./peers-adapter.js";
export type { FolderDocHost } from "./folder-doc.js";
