/**
 * The synced folder's own files as a source of chunks (core's `LocalChunkSource`): where each
 * chunk of a version this device has on disk lies, so that content it already holds (a rename,
 * a copy, an edit that kept most chunks, a chunk the relay asks for again) is read from the file
 * rather than kept a second time in `chunks.sqlite`. The replica checks every chunk read here
 * against its id, so a file changed since it was recorded gives nothing wrong, only a miss.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { ChunkPlace, FolderIndex, LocalChunkSource, Manifest } from "@weft/core";
import type { ChunkId } from "@weft/crypto";
import { safeJoin } from "../names/index.js";
import type { DiskState } from "./disk-state.js";

/** Where one chunk lies: a file of the folder, at a byte offset. */
interface FilePlace {
  path: string;
  offset: number;
  size: number;
}

/** The chunks of the files this device has on disk, found through the disk state and the index. */
export class FolderChunks implements LocalChunkSource {
  private where: Map<ChunkId, FilePlace> | undefined;

  /**
   * @param root - the folder on disk
   * @param disk - what this device last saw there (each file's content hash)
   * @param index - the replica's index (which manifest has that hash); undefined before it opens
   */
  constructor(
    private readonly root: string,
    private readonly disk: DiskState,
    private readonly index: () => FolderIndex | undefined,
  ) {}

  /**
   * Forgets where chunks are: call after the disk state or the index changed. The map is built
   * again at the next look-up (a pass over the index and the disk state; nothing is read).
   */
  invalidate(): void {
    this.where = undefined;
  }

  /** Records that `path` now holds `manifest`'s content (a file just placed). */
  placed(path: string, manifest: Manifest): void {
    if (this.where) addFile(this.where, path, manifest);
  }

  /**
   * Records that `path` (a temp file a cut download left) may hold some of `manifest`'s
   * content: chunks no file of the folder holds are looked for there.
   */
  partial(path: string, manifest: Manifest): void {
    addFile(this.locations(), path, manifest);
  }

  has(id: ChunkId): boolean {
    return this.locations().has(id);
  }

  async read(id: ChunkId): Promise<Uint8Array | undefined> {
    const at = this.locations().get(id);
    return at && this.readAt({ source: at.path, offset: at.offset, size: at.size });
  }

  /**
   * The bytes of a chunk a scan recorded (its place's source is the file's folder-relative
   * path), for its upload: the replica checks them against the chunk's id.
   */
  async readAt(place: ChunkPlace): Promise<Uint8Array | undefined> {
    // Never through a symlink put where a file was: only the folder's own files are read.
    const handle = await open(
      safeJoin(this.root, place.source),
      constants.O_RDONLY | constants.O_NOFOLLOW,
    );
    try {
      const bytes = Buffer.allocUnsafe(place.size);
      const { bytesRead } = await handle.read(bytes, 0, place.size, place.offset);
      return bytesRead === place.size ? bytes : undefined;
    } finally {
      await handle.close();
    }
  }

  private locations(): Map<ChunkId, FilePlace> {
    if (this.where) return this.where;
    const where = new Map<ChunkId, FilePlace>();
    const index = this.index();
    if (index) {
      // Any version the index holds may be what is on disk here: a file renamed or deleted on
      // another device (gone from the tree, still on disk until the apply), an older version
      // an edit elsewhere replaced.
      const byHash = new Map<string, Manifest>();
      const add = (m: Manifest | null) => {
        if (m && m.chunks.length > 0) byHash.set(m.contentHash, m);
      };
      for (const fileId of index.fileIds()) {
        const f = index.file(fileId);
        if (!f) continue;
        for (const c of f.contents) {
          add(c.manifest);
          for (const h of c.history) add(h.manifest);
          for (const k of c.conflicts) add(k.manifest);
        }
      }
      for (const rec of this.disk.map.values()) {
        const m = rec.kind === "file" && rec.hash ? byHash.get(rec.hash) : undefined;
        if (m) addFile(where, rec.path, m);
      }
    }
    this.where = where;
    return where;
  }
}

function addFile(where: Map<ChunkId, FilePlace>, path: string, manifest: Manifest): void {
  let offset = 0;
  for (const { id, size } of manifest.chunks) {
    if (!where.has(id)) where.set(id, { path, offset, size });
    offset += size;
  }
}
