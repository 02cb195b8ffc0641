/** Chunks in an S3-compatible bucket (AWS S3, MinIO, Garage, Ceph RGW…), for relays that share them. */
export { S3Bucket, type S3Location, type S3ObjectInfo } from "./s3-bucket.js";
export { S3ChunkStore, type S3ChunkStoreOptions } from "./s3-chunk-store.js";
export { s3ChunkStores } from "./s3-chunk-stores.js";
