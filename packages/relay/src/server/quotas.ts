/**
 * The relay's quotas per account and per folder log (THREAT_MODEL.md, "quota bypass"): what one
 * account can make the relay keep, summed over the folders it owns, and what one folder's log
 * may hold. The per-folder chunk quota lives in each chunk store; this adds what a folder quota
 * alone cannot bound (many folders, the log, snapshots).
 */
import { ProtocolError, formatBytes } from "@weft/core";
import type { FolderId } from "@weft/crypto";
import type { MetaStore } from "../store/index.js";
import type { FolderBlobs } from "./folder-blobs.js";

/** The limits {@link Quotas} enforces; 0 turns one off. */
export interface QuotaLimits {
  /**
   * Bytes one account's folders may hold, charged to each owner of a folder: chunks, unfinished
   * uploads (by the total their first part declares), log envelopes and the snapshot.
   */
  accountQuota: number;
  /** Entries one folder's log may hold (a snapshot and pruning free room). */
  folderLogEntries: number;
  /** Bytes of envelopes one folder's log may hold. */
  folderLogBytes: number;
}

/** What an account's folders hold on the relay. */
export interface AccountUsage {
  /** The folders it owns. */
  folders: number;
  /** Their chunks and unfinished uploads, log envelopes and snapshots, in bytes. */
  bytes: number;
}

const exact = (n: number): string => formatBytes(n, { exact: true });

/**
 * Checks writes against the account quota of every owner of the folder written to, and the
 * folder's log limits. Who is charged for a shared folder: its owners (as Dropbox charges the
 * owner, not the members who write), each for the whole folder, so that the limit on folders
 * per account and the byte quota count the same folders.
 *
 * Bytes of writes under way are reserved per account in this process before they are checked,
 * so parallel uploads to several folders of one account cannot overshoot its quota together on
 * one relay. Relays sharing a database count each other's stored bytes (the log counters, and
 * each relay's view of the chunk stores) but not each other's writes in flight.
 */
export class Quotas {
  /** Per account, bytes of writes this relay has checked and not yet finished. */
  private readonly reserved = new Map<string, number>();
  /** Per account, the folder creation under way: one at a time, so a burst cannot pass the count together. */
  private readonly creating = new Map<string, Promise<unknown>>();

  constructor(
    private readonly meta: MetaStore,
    private readonly blobs: FolderBlobs,
    readonly limits: QuotaLimits,
  ) {}

  /**
   * What `accountId`'s owned folders hold: each folder's chunk store (opened and counted if no
   * request has opened it since the relay started) and its log counters.
   */
  async usage(accountId: string): Promise<AccountUsage> {
    const owned = (await this.meta.foldersOf(accountId))
      .filter((f) => f.role === "owner")
      .map((f) => f.folderId);
    const [stores, logs] = await Promise.all([
      Promise.all(owned.map((id) => this.blobs.of(id))),
      this.meta.folderUsage(owned),
    ]);
    let bytes = stores.reduce((n, s) => n + s.usedBytes(), 0);
    for (const u of logs.values()) bytes += u.logBytes + u.snapshotBytes;
    return { folders: owned.length, bytes };
  }

  /**
   * Reserves `bytes` about to be stored in `folderId` against each owner's account quota, until
   * the returned function is called (after the write, stored or failed).
   * @throws ProtocolError quota_exceeded naming the quota and the figures
   */
  async reserve(folderId: FolderId, bytes: number): Promise<() => void> {
    const quota = this.limits.accountQuota;
    if (quota <= 0 || bytes <= 0) return () => undefined;
    const owners = (await this.meta.members(folderId))
      .filter((m) => m.role === "owner")
      .map((m) => m.accountId);
    // Reserved before the usage is read, so that a parallel write sees this one.
    for (const a of owners) this.reserved.set(a, (this.reserved.get(a) ?? 0) + bytes);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const a of owners) {
        const left = (this.reserved.get(a) ?? 0) - bytes;
        if (left > 0) this.reserved.set(a, left);
        else this.reserved.delete(a);
      }
    };
    try {
      for (const a of owners) {
        const used = (await this.usage(a)).bytes;
        const pending = this.reserved.get(a) ?? 0;
        if (used + pending > quota)
          throw new ProtocolError(
            "quota_exceeded",
            `the account quota is full: the folders of this folder's owner hold ${exact(used)} ` +
              (pending > bytes ? `(and ${exact(pending - bytes)} being written) ` : "") +
              `of ${exact(quota)}, and ` +
              `${exact(bytes)} more do not fit: delete files (then garbage collection frees ` +
              `their chunks) or ask the relay's operator for a larger quota`,
          );
      }
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /**
   * Checks an append (`bytes`: the envelope) or a snapshot (`bytes`: its ciphertext, replacing
   * the folder's) against the folder's log limits and its owners' account quotas. A snapshot is
   * charged only what it adds over the one it replaces, and never counts against the log
   * limits: a snapshot is what lets the log be pruned.
   * @throws ProtocolError quota_exceeded naming the quota and the figures
   */
  async checkWrite(folderId: FolderId, kind: "append" | "snapshot", bytes: number): Promise<void> {
    const { folderLogEntries, folderLogBytes } = this.limits;
    const usage = (await this.meta.folderUsage([folderId])).get(folderId);
    if (!usage) return; // an unknown folder: the store answers that
    if (kind === "append") {
      if (folderLogEntries > 0 && usage.logEntries + 1 > folderLogEntries)
        throw new ProtocolError(
          "quota_exceeded",
          `the folder's log is full: it holds ${usage.logEntries} of ${folderLogEntries} ` +
            `entries; the relay prunes it once every member device has caught up and a ` +
            `snapshot covers them, or ask the relay's operator for a larger log quota`,
        );
      if (folderLogBytes > 0 && usage.logBytes + bytes > folderLogBytes)
        throw new ProtocolError(
          "quota_exceeded",
          `the folder's log is full: it holds ${exact(usage.logBytes)} of ${exact(folderLogBytes)}, ` +
            `and an entry of ${exact(bytes)} does not fit; the relay prunes it once every member ` +
            `device has caught up and a snapshot covers them, or ask the relay's operator for more`,
        );
    }
    const grows = kind === "append" ? bytes : bytes - usage.snapshotBytes;
    (await this.reserve(folderId, grows))();
  }

  /**
   * Runs `create` (a folder creation by `accountId`: count its folders, then create) after the
   * account's previous one has finished, so that a burst of creations cannot all pass the count
   * before any is stored.
   */
  serializeCreation<T>(accountId: string, create: () => Promise<T>): Promise<T> {
    const before = this.creating.get(accountId) ?? Promise.resolve();
    const run = before.then(create, create);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.creating.set(accountId, settled);
    void settled.then(() => {
      if (this.creating.get(accountId) === settled) this.creating.delete(accountId);
    });
    return run;
  }
}
