/**
 * Recording a scan: what changed on disk since the last pass becomes replica operations (moves,
 * removals, directories, file contents), and the disk state follows. A conflict copy removed,
 * renamed or edited on disk settles that copy in the replica, so every device follows.
 */
import { lstat } from "node:fs/promises";
import { type ChunkDigest, type Replica, type WriteOptions, forEachLimited } from "@weft/core";
import type { FolderEvents } from "../activity/index.js";
import { safeJoin } from "../names/index.js";
import { FileChangedError, type LocalFileState, type ScanResult } from "../scan/index.js";
import { readStable } from "./read-stable.js";
import type { DiskState } from "../state/index.js";

/** Files a record checks at once (and reads, those the scan left no chunk digests for). */
const RECORD_CONCURRENCY = 32;
/**
 * Files, and their bytes, recorded as one index change: large enough that a scan of many small
 * files costs a few changes, small enough that the files' envelope (sent once all their chunks
 * are up) does not wait long behind a large file.
 */
const BATCH_FILES = 256;
const BATCH_BYTES = 8 * 1024 * 1024;
/** A file modified this close to a scan may change again unseen within the same mtime. */
const RACY_MS = 1000;

/** What recording a scan needs of its folder. */
export interface RecordContext {
  readonly replica: Replica;
  /** The folder on disk. */
  readonly root: string;
  /** What this device last saw on disk: updated as the scan is recorded. */
  readonly disk: DiskState;
  /** Where what was recorded, and any problem, is told. */
  readonly events: FolderEvents;
  /** When the scan started (ms since the epoch): see {@link recordFile}. */
  readonly scannedAt: number;
  /** Symlinks reported already: each is reported once per run, not on every scan. */
  readonly warnedSymlinks: Set<string>;
}

/** How many replica operations a scan made, and how many files changed while being read. */
export interface Recorded {
  changes: number;
  /** Files still being written: left for the next scan. */
  changedWhileRead: number;
}

/** Records what `result` found in the replica and the disk state. */
export async function recordScan(ctx: RecordContext, result: ScanResult): Promise<Recorded> {
  const r = ctx.replica;
  let changes = 0;
  let changedWhileRead = 0;
  for (const path of result.symlinks)
    if (!ctx.warnedSymlinks.has(path)) {
      ctx.warnedSymlinks.add(path);
      ctx.events.emit({ kind: "warning", path, detail: "symbolic links are not synced (skipped)" });
    }
  for (const e of result.errors)
    ctx.events.emit({ kind: "error", path: e.path, detail: e.message });

  // A directory moved in the replica carries everything under it, including files deleted
  // here in the same pass: those deletions then apply at the new place.
  const dirMoves: [string, string][] = [];
  const moved = (path: string) => {
    for (const [from, to] of dirMoves)
      if (path.startsWith(from)) return to + path.slice(from.length);
    return path;
  };
  for (const move of result.moved) {
    const { from, to } = move;
    const there = r.stat(from.path);
    const already = r.stat(to.path);
    if (already && (to.kind === "dir" || already.contentHash === to.hash)) {
      // Moved along with its directory, or the same content is there already.
      ctx.disk.delete(from.path);
      recordFile(ctx, to);
      continue;
    }
    if (there && (there.kind === "dir" || there.contentHash === from.hash) && !already) {
      const copy = conflictCopyAt(r, from.path);
      if (copy) {
        // A conflict copy renamed: the person keeps that version, as a file of its own.
        await r.resolveConflict(copy.of, { keepCopy: copy.version, path: to.path });
        ctx.events.emit({
          kind: "resolved",
          path: copy.of,
          detail: `kept the conflict copy as ${to.path}`,
        });
      } else await r.move(from.path, to.path);
      if (there.kind === "dir") dirMoves.push([`${from.path}/`, `${to.path}/`]);
      ctx.disk.delete(from.path);
      recordFile(ctx, to);
      changes++;
    } else if (move.leftSelection) {
      // Moved out of the selection where the folder has another file: not sent (it is outside
      // the selection), and not a removal either; the next apply writes the file back.
      ctx.disk.delete(from.path);
    } else {
      result.removed.push(from);
      result.added.push(to);
    }
  }

  // Children before their directories.
  const removed = [...result.removed].sort((a, b) => (a.path < b.path ? 1 : -1));
  // Removed in this pass. A strong folder's tree still lists them until the relay accepts their
  // removal, and their directory goes with them (else it is left in the folder, empty).
  const removedHere = new Set<string>();
  for (const gone of removed) {
    ctx.disk.delete(gone.path);
    const path = moved(gone.path);
    const e = r.stat(path);
    if (!e) continue;
    if (gone.kind === "file") {
      // Changed on another device since this one wrote it here: the edit survives the delete,
      // and the next apply puts it back.
      if (e.kind !== "file" || e.contentHash !== gone.hash) continue;
    } else if (e.kind !== "dir" || r.list(path).some((c) => !removedHere.has(c.path))) continue;
    const copy = conflictCopyAt(r, path);
    if (copy) {
      // A conflict copy deleted: the person keeps the file as it is; the copy's version stays
      // in the file's history, restorable.
      await r.resolveConflict(copy.of, { dropCopy: copy.version });
      ctx.events.emit({ kind: "resolved", path: copy.of, detail: "deleted the conflict copy" });
    } else {
      await r.remove(path);
      removedHere.add(path);
      ctx.events.emit({ kind: "deleted", path, detail: "here" });
    }
    changes++;
  }

  const upserts = [...result.added, ...result.modified].sort((a, b) => (a.path < b.path ? -1 : 1));
  for (const local of upserts) {
    if (local.kind !== "dir") continue;
    try {
      if (!r.stat(local.path)) {
        await r.mkdir(local.path);
        changes++;
      }
      recordFile(ctx, local);
    } catch (error) {
      problem(ctx, local.path, `could not record the local change: ${(error as Error).message}`);
    }
  }
  // Files are checked several at a time. Those the scan hashed (their chunk digests at hand)
  // are then recorded in batches, one index change for many files (`Replica.writeFiles`);
  // the rest are written one by one, and the replica's store still commits those in groups.
  const batched: Batched[] = [];
  await forEachLimited(
    upserts.filter((local) => local.kind !== "dir"),
    RECORD_CONCURRENCY,
    { onFailure: "finish" }, // each file is recorded on its own: one failure stops no other
    async (local) => {
      const e = r.stat(local.path);
      try {
        if (
          e?.kind === "file" &&
          e.contentHash === local.hash &&
          modeOf(r, local.path) === local.mode
        ) {
          recordFile(ctx, local);
          return;
        }
        const copy = conflictCopyAt(r, local.path);
        if (copy) {
          // A conflict copy edited: the person kept both and works on the copy, so it becomes
          // a file of its own under its name (as in Syncthing or Dropbox, where a conflict copy
          // is an ordinary file); the edit below is then an ordinary write of it.
          await r.resolveConflict(copy.of, { keepCopy: copy.version });
          ctx.events.emit({
            kind: "resolved",
            path: copy.of,
            detail: `kept the conflict copy ${local.path}`,
          });
        }
        // What was on disk before this edit: if a newer version arrived and was not written
        // to disk yet, the edit was made from the older one and both must survive.
        const before = copy ? undefined : (ctx.disk.get(local.path)?.hash ?? undefined);
        // The scan's hashing pass named the chunks already: the file is not read again (the
        // upload reads each chunk and checks it against its id). It must still be as the scan
        // saw it, or the next scan records it (as readStable's checks do when it is read).
        const chunks = result.chunks?.get(local.path);
        if (chunks) {
          await stillAsScanned(safeJoin(ctx.root, local.path), local);
          batched.push({ local, before, chunks });
          return;
        }
        await r.writeFile(local.path, ...writeArgs(ctx, local, before));
        wrote(ctx, local);
        changes++;
      } catch (error) {
        if (changedWhileReading(error))
          changedWhileRead++; // still being written: the next scan retries
        else
          problem(
            ctx,
            local.path,
            `could not record the local change: ${(error as Error).message}`,
          );
      }
    },
  );
  for (const batch of batches(batched.sort((a, b) => (a.local.path < b.local.path ? -1 : 1)))) {
    const failures = await r
      .writeFiles(
        batch.map(({ local, before, chunks }) => {
          const [data, options] = writeArgs(ctx, local, before, chunks);
          return { path: local.path, data, options };
        }),
      )
      .catch((error: unknown) => batch.map(() => error as Error));
    batch.forEach(({ local }, i) => {
      const error = failures[i];
      if (!error) {
        wrote(ctx, local);
        changes++;
      } else if (changedWhileReading(error)) changedWhileRead++;
      else problem(ctx, local.path, `could not record the local change: ${error.message}`);
    });
  }
  return { changes, changedWhileRead };
}

/** A scanned file waiting to be recorded with others. */
interface Batched {
  local: LocalFileState;
  /** The content hash that was on disk before (see `WriteOptions.basedOn`). */
  before: string | undefined;
  chunks: ChunkDigest[];
}

/** `batched` in groups of at most {@link BATCH_FILES} files and {@link BATCH_BYTES} bytes. */
function* batches(batched: Batched[]): Iterable<Batched[]> {
  let batch: Batched[] = [];
  let bytes = 0;
  for (const b of batched) {
    if (batch.length > 0 && (batch.length >= BATCH_FILES || bytes + b.local.size > BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(b);
    bytes += b.local.size;
  }
  if (batch.length > 0) yield batch;
}

/** What `Replica.writeFile` takes to record `local` from its file. */
function writeArgs(
  ctx: RecordContext,
  local: LocalFileState,
  before: string | undefined,
  chunks?: ChunkDigest[],
): [AsyncIterable<Uint8Array>, WriteOptions] {
  return [
    readStable(safeJoin(ctx.root, local.path), local),
    {
      mode: local.mode,
      mtime: local.mtimeMs,
      ...(before ? { basedOn: before } : {}),
      // The file holds the content until the upload: it is read (and verified) from here
      // then, not spooled into chunks.sqlite now.
      source: local.path,
      ...(chunks ? { chunks } : {}),
    },
  ];
}

/** After `local` was recorded. */
function wrote(ctx: RecordContext, local: LocalFileState): void {
  ctx.events.emit({ kind: "sent", path: local.path });
  recordFile(ctx, local);
}

/** Whether `error` says the file changed while it was read (the next scan records it). */
function changedWhileReading(error: unknown): boolean {
  return error instanceof FileChangedError || (error as Error).cause instanceof FileChangedError;
}

/** Throws a FileChangedError unless `abs` is still the regular file of the size and mtime seen. */
async function stillAsScanned(
  abs: string,
  seen: Pick<LocalFileState, "size" | "mtimeMs">,
): Promise<void> {
  const s = await lstat(abs).catch(() => undefined);
  if (!s?.isFile() || s.size !== seen.size || Math.floor(s.mtimeMs) !== seen.mtimeMs)
    throw new FileChangedError(abs, "it changed since it was scanned");
}

/**
 * Records what a scan found. A file modified within {@link RACY_MS} of the scan is recorded
 * with no trusted mtime: another write in the same clock tick, of the same size, would look
 * unchanged next time (git's "racily clean" problem), so the next scan hashes it again.
 */
function recordFile(ctx: RecordContext, local: LocalFileState): void {
  const racy = local.kind === "file" && Math.abs(ctx.scannedAt - local.mtimeMs) < RACY_MS;
  ctx.disk.set(racy ? { ...local, mtimeMs: -1 } : local);
}

/** Tells the person that `path` did not sync. */
function problem(ctx: RecordContext, path: string, detail: string): void {
  ctx.events.emit({ kind: "error", path, detail });
}

/** The permission bits the replica has for `path`. */
function modeOf(r: Replica, path: string): number | undefined {
  const v = r.index.stat(path)?.version;
  return v ? v.mode & 0o777 : undefined;
}

/** The conflict copy shown at `path`: the file it is a copy of, and the version it shows. */
function conflictCopyAt(r: Replica, path: string): { of: string; version: string } | undefined {
  const e = r.index.stat(path);
  return e?.conflictVersion === undefined
    ? undefined
    : { of: e.conflictOf!, version: e.conflictVersion };
}
