/** The Replica: one device's view of one folder, files and documents sealed, synced through a relay and verified on arrival. */
export {
  Replica,
  type ReplicaOptions,
  type FileData,
  type WriteOptions,
  type FileWrite,
  type ListEntry,
  type ChunkPlace,
  type LocalChunkSource,
  type RawDeflate,
  type RawInflate,
  type ReplicaResolution,
  type ReplicaStats,
  type Consistency,
  type RefusedWrite,
  type StrongOp,
} from "./replica.js";
export { CHANGED_ELSEWHERE } from "./strong-writes.js";
export type { PeerInfo, ReplicaEventMap, ReplicaStatus, TransferProgress } from "./events.js";
export type { ConnectionState } from "./sync-types.js";
export { MAX_DOC_NAME_BYTES } from "./payload.js";
export type { CollectableBlobStore, GarbageReport } from "./garbage.js";
