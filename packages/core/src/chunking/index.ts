/** Chunking: splits file content into content-defined chunks (FastCDC) and describes a file as a manifest of keyed chunk ids. */
export {
  Chunker,
  chunkBytes,
  chunkStream,
  resolveChunkerOptions,
  DEFAULT_CHUNKER_OPTIONS,
} from "./fastcdc.js";
export type { Chunk, ChunkerOptions, ResolvedChunkerOptions } from "./fastcdc.js";
export {
  buildManifest,
  contentHashOf,
  manifestFromDigests,
  newChunkIds,
  EMPTY_CONTENT_HASH,
} from "./manifest.js";
export type {
  ChunkDigest,
  Manifest,
  ManifestChunk,
  ManifestChunkEvent,
  BuildManifestOptions,
} from "./manifest.js";
