/**
 * The relay's storage: metadata (accounts, devices, folders, the log) in SQLite, and chunks per
 * folder in a directory (or an S3 bucket: `./s3/`).
 */
export type {
  Account,
  AccountFolder,
  DeviceRecord,
  EpochAnnouncement,
  FolderMember,
  FolderMemberDevices,
  MemberDevice,
  FolderRecord,
  InviteRecord,
  LogEntry,
  MetaStore,
  RefreshTokenRecord,
  Role,
  SnapshotRecord,
  WrappedKey,
} from "./meta-store.js";
export {
  SqliteMetaStore,
  type SqliteMetaStoreOptions,
  openSqliteMetaStore,
} from "./sqlite-meta-store.js";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
export { DiskBlobStore } from "./disk-blob-store.js";
export type { ChunkStoreFactory, ChunkStoreOptions, FolderChunkStore } from "./chunk-store.js";
export { diskChunkStores } from "./disk-chunk-stores.js";
