/** The chunk storage of a relay configured with `--blobs s3://BUCKET`: a prefix per folder. */
import { type FolderId, isFolderId } from "@weft/crypto";
import type { ChunkStoreFactory } from "../chunk-store.js";
import { S3Bucket, type S3Location } from "./s3-bucket.js";
import { S3ChunkStore } from "./s3-chunk-store.js";

/** The key prefix of every folder's objects. */
const FOLDERS = "f/";
/**
 * An empty object in each folder's prefix, written when its store opens: a listing of `f/`
 * with the delimiter `/` then finds the folder on every server (s3rver reports only the common
 * prefixes of objects right under one).
 */
const MARKER = ".folder";

/**
 * A {@link ChunkStoreFactory} of S3ChunkStores in one bucket, folder `<id>` under `f/<id>/`.
 * Opens the bucket now (creating it when it does not exist), loading the AWS SDK.
 * @throws WeftError STORAGE when the bucket can neither be reached nor created
 */
export async function s3ChunkStores(location: S3Location): Promise<ChunkStoreFactory> {
  const bucket = await S3Bucket.open(location);
  return {
    kind: "s3",
    async open(folderId, options) {
      const prefix = `${FOLDERS}${folderId}/`;
      await bucket.put(prefix + MARKER, new Uint8Array(0), Date.now());
      return S3ChunkStore.open(bucket, prefix, options);
    },
    async folders(): Promise<FolderId[]> {
      return (await bucket.prefixes(FOLDERS))
        .map((p) => p.slice(FOLDERS.length, -1))
        .filter(isFolderId);
    },
    close: () => {
      bucket.close();
      return Promise.resolve();
    },
  };
}
