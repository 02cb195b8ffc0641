/** The default chunk storage: one DiskBlobStore directory per folder, `<dir>/<folderId>/`. */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { type FolderId, isFolderId } from "@weft/crypto";
import type { ChunkStoreFactory } from "./chunk-store.js";
import { DiskBlobStore } from "./disk-blob-store.js";

/** A {@link ChunkStoreFactory} of DiskBlobStores, one directory per folder under `dir`. */
export function diskChunkStores(dir: string): ChunkStoreFactory {
  return {
    kind: "disk",
    open: (folderId, options) => DiskBlobStore.open(join(dir, folderId), options),
    async folders(): Promise<FolderId[]> {
      try {
        return (await readdir(dir)).filter(isFolderId);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
    },
    close: () => Promise.resolve(),
  };
}
