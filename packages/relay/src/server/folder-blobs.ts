/** One chunk store per folder (`chunks/<folderId>/`), opened on first use: a member of one folder can never read, count or delete another folder's chunks. */
import { join } from "node:path";
import type { FolderId } from "@weft/crypto";
import type { BlobStore } from "@weft/core";
import { DiskBlobStore } from "../store/index.js";

/** See the module comment. */
export class FolderBlobs {
  private readonly stores = new Map<FolderId, Promise<DiskBlobStore>>();

  constructor(private readonly dir: string) {}

  /** The store of `folderId` (the caller has checked membership and the id's shape). */
  of(folderId: FolderId): Promise<BlobStore> {
    let store = this.stores.get(folderId);
    if (!store) {
      store = DiskBlobStore.open(join(this.dir, folderId));
      this.stores.set(folderId, store);
      store.catch(() => this.stores.delete(folderId));
    }
    return store;
  }

  /** Closes every open store (waiting for writes in progress). */
  async close(): Promise<void> {
    const stores = await Promise.allSettled([...this.stores.values()]);
    for (const s of stores) if (s.status === "fulfilled") await s.value.close();
    this.stores.clear();
  }
}
