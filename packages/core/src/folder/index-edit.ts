/** The editing steps a FolderIndex's local writes and its conflict resolution share. */
import { WeftError } from "../errors.js";
import { type FileId, ROOT_ID } from "../ids.js";
import { checkName, splitPath } from "../model/path.js";
import type { FileState, Tree, TreeEntry } from "./tree.js";
import type { FileKind } from "./records.js";
import type { ContentInput, SlotWriter } from "./writer.js";

/** The parts of a FolderIndex the editing steps use. */
export interface EditedIndex {
  file(fileId: FileId): FileState | undefined;
  tree(): Tree;
  /** Creates a directory and its parents; returns its id. */
  mkdir(path: string): FileId;
  /** Runs local writes as one (see `FolderIndex.batch`). */
  mutate<T>(run: () => T): T;
}

/**
 * Editing steps on one FolderIndex, below its public operations: find the entry a path names,
 * create files (with their parents), fold twins into a written file. No checks of the caller's
 * intent: the operations that use them do those.
 */
export class IndexEditor {
  constructor(
    /** Writes this device's slots. */
    readonly writer: SlotWriter,
    /** The index being edited. */
    readonly index: EditedIndex,
    private readonly newFileId: () => FileId,
  ) {}

  /**
   * After a write to a path, the files shown there as the same file (same content, created
   * apart) are deleted: they would otherwise differ from it now and show up as conflict
   * copies. Their content stays in their history; a concurrent edit of one survives (modify
   * beats delete) and is then a conflict, as it should be.
   */
  absorbTwins(entry: TreeEntry): void {
    if (entry.kind === "dir") return;
    for (const id of entry.merged ?? []) this.writer.deleteFile(id);
  }

  requireMain(path: string): TreeEntry {
    const p = splitPath(path).join("/");
    const e = this.index.tree().entries.get(p);
    if (!e) throw new WeftError("NOT_FOUND", `no such file or directory: ${p}`);
    if (e.conflictVersion !== undefined)
      throw new WeftError(
        "NOT_FOUND",
        `${p} is a conflict copy of ${e.conflictOf}; act on that file`,
      );
    return e;
  }

  parentOf(path: string): FileId {
    const slash = path.lastIndexOf("/");
    if (slash < 0) return ROOT_ID;
    return this.index.tree().entries.get(path.slice(0, slash))!.fileId;
  }

  createAt(
    parts: string[],
    kind: FileKind,
    content: Omit<ContentInput, "kind" | "deleted">,
  ): FileId {
    let id: FileId = ROOT_ID;
    this.index.mutate(() => {
      const parent = this.index.mkdir(parts.slice(0, -1).join("/"));
      id = this.create(parent, parts[parts.length - 1]!, kind, content);
    });
    return id;
  }

  /** Creates a new file id under `parent` (no checks on the tree: callers do them). */
  create(
    parent: FileId,
    name: string,
    kind: FileKind,
    content: Omit<ContentInput, "kind" | "deleted">,
  ): FileId {
    checkName(name);
    const id = this.newFileId();
    this.index.mutate(() => {
      // One slot write for both registers: a new file is one record, one update.
      const place = this.writer.buildPlace(id, parent, name);
      this.writer.writeContent(
        id,
        {
          kind,
          deleted: false,
          manifest: content.manifest,
          target: content.target ?? null,
          mode: content.mode,
          mtime: content.mtime,
        },
        [],
        place,
      );
    });
    return id;
  }
}
