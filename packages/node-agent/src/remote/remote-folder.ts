/**
 * A folder this device is a member of but does not sync, opened for one command: a Replica of
 * its own over the relay (the index caught up from the snapshot and log, content fetched only
 * when read and kept nowhere), under a lock, with the relay's refusals turned into plain words.
 */
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BlobStore,
  type FolderRole,
  MemoryStateStore,
  ProtocolError,
  Replica,
  type StateStore,
  WeftError,
} from "@weft/core";
import type { DeviceIdentity, FolderId } from "@weft/crypto";
import { AccountLogin, agentError } from "../account/index.js";
import { AgentError, type Home, withPidLock } from "../home/index.js";
import { checkedConsistency, loadKeyring, storeKeyring } from "../share/index.js";
import { SqliteBlobStore, SqliteStateStore } from "../state/index.js";
import { NODE_ZLIB, relayOptions } from "../sync/open-stores.js";
import { refusalMessage } from "../sync/refused.js";
import { interrupted } from "./file-io.js";
import { NoChunkStore } from "./no-chunk-store.js";

/** How a command opens a remote folder. */
export interface RemoteOptions {
  /** The account's relay when this device is logged in to several (`--relay`). */
  relay?: string;
  /** Keep the replica's state under WEFT_HOME (default), or none at all (`--no-state`). */
  keepState: boolean;
  /** The command changes the folder: refused up front for a viewer. */
  write: boolean;
  /** The command writes content: its sealed chunks are spooled to a file until uploaded. */
  spool: boolean;
  /** Told what went wrong but did not stop the command (a peer's entry that did not verify). */
  warn: (line: string) => void;
  /** Stops waiting for the relay (Ctrl-C). */
  signal: AbortSignal;
}

/** The open folder a command works on. */
export interface RemoteFolder {
  readonly folderId: FolderId;
  /** This account's role in the folder, as the relay says. */
  readonly role: FolderRole;
  readonly replica: Replica;
  /**
   * Waits until the relay has stored every change made here (chunks uploaded, envelopes
   * acknowledged) and the index is caught up. @throws AgentError RELAY when the relay refuses
   * a change or cannot be reached
   */
  settle(): Promise<void>;
}

/**
 * Opens `folderId` for `work`, caught up with the relay, and closes it after: the lock on its
 * remote state is held meanwhile (not by a read with no state), so two commands on one folder
 * run one after the other. A folder synced on this device is refused: its replica belongs to
 * `weft sync` (and a second state writing as this device beside it could make two versions look
 * like one).
 * @throws AgentError USAGE (synced here), FORBIDDEN (not a member, a viewer writing), NOT_READY
 * (no login, no key), RELAY (unreachable, a refusal)
 */
export async function withRemoteFolder<T>(
  home: Home,
  identity: DeviceIdentity,
  folderId: FolderId,
  options: RemoteOptions,
  work: (folder: RemoteFolder) => Promise<T>,
): Promise<T> {
  const synced = (await home.folders()).find((f) => f.folderId === folderId);
  if (synced && !synced.removed)
    throw new AgentError(
      "USAGE",
      `folder ${folderId} is synced on this device, at ${synced.path}: use its files there ` +
        "(weft put, rm and mv are for folders this device does not sync)",
    );
  const session = await AccountLogin.open(home, options.relay ?? synced?.relay);
  // A read with no state touches nothing another command uses, and seals nothing: it needs no
  // turn (CI jobs fetching files of one folder at once).
  const locked =
    options.keepState || options.write
      ? <R>(run: () => Promise<R>) =>
          withPidLock(home.lockPath(`remote-${folderId}`), `folder ${folderId}`, run)
      : <R>(run: () => Promise<R>) => run();
  return locked(async () => {
    const role = await roleIn(session, identity, folderId);
    if (options.write && role === "viewer")
      throw new AgentError(
        "FORBIDDEN",
        `you are a viewer of folder ${folderId}: a viewer can read it, not change it`,
      );
    const keyring = await loadKeyring(home, identity, folderId, session, undefined, {
      store: options.keepState,
    });
    // The mode comes from the folder's owner-signed metadata, not from settings.json alone.
    const consistency = await checkedConsistency(home, session, identity, keyring);
    const dir = home.remoteDir(folderId);
    if (options.keepState) await mkdir(dir, { recursive: true, mode: 0o700 });
    const state: StateStore = options.keepState
      ? await SqliteStateStore.open(join(dir, "replica.sqlite"))
      : new MemoryStateStore();
    // Sealed chunks of a write wait in the spool until the relay has them. With state kept,
    // a spool left by a run that could not finish is opened again: its uploads resume.
    const spoolPath = join(dir, "spool.sqlite");
    const tempDir = options.keepState ? undefined : await mkdtemp(join(tmpdir(), "weft-put-"));
    const spool = tempDir ? join(tempDir, "spool.sqlite") : spoolPath;
    const spooling = options.spool || (options.keepState && (await exists(spoolPath)));
    const blobs: BlobStore = spooling ? await SqliteBlobStore.open(spool) : new NoChunkStore();
    let replica: Replica | undefined;
    let settled = false;
    try {
      replica = await Replica.open({
        identity,
        folderId,
        keyring,
        state,
        blobs,
        ...NODE_ZLIB,
        download: "lazy",
        consistency,
        // Another state of this device (an earlier --no-state run, a state removed since)
        // may have written the folder: numbers from the clock never repeat one of those.
        clockDeviceSeq: true,
        // Snapshots are left to the devices that sync the folder: a command exits before
        // one would have finished uploading.
        snapshotEvery: Number.MAX_SAFE_INTEGER,
        diskFullWaitMs: 0,
        ...relayOptions(session, identity, keyring, {}, () =>
          options.keepState ? storeKeyring(home, identity, keyring) : Promise.resolve(),
        ),
      });
      const open = replica;
      const settle = async (): Promise<void> => {
        settled = false;
        await untilIdle(open, folderId, session.relay, options);
        settled = open.stats().pendingChunks === 0 && open.stats().pendingOut === 0;
      };
      // Catching up also sends what an earlier run of this state left unsent: in a strong
      // folder, such a change may be refused now (said here; the command goes on).
      const before = new Set(open.refusedWrites().map((r) => r.id));
      await settle();
      for (const r of open.refusedWrites())
        if (!before.has(r.id)) options.warn(refusalMessage(folderId, r));
      return await work({
        folderId,
        role,
        replica: open,
        settle: () =>
          settle().catch((error: unknown) => {
            throw unsent(error, options.keepState);
          }),
      });
    } finally {
      await replica?.close();
      await blobs.close();
      await state.close();
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
      else if (spooling && settled) await removeSqlite(spool);
    }
  });
}

/** This account's role in the folder. @throws AgentError FORBIDDEN for a non-member */
async function roleIn(
  session: AccountLogin,
  identity: DeviceIdentity,
  folderId: FolderId,
): Promise<FolderRole> {
  try {
    return (await session.account(identity).folder(folderId)).role;
  } catch (error) {
    throw relayError(error, folderId, session.relay);
  }
}

/**
 * Syncs until nothing is pending either way. A refusal by the relay (of an envelope, a chunk)
 * ends the wait with that reason: the replica would otherwise retry it for as long as it runs.
 */
async function untilIdle(
  replica: Replica,
  folderId: FolderId,
  relay: string,
  options: Pick<RemoteOptions, "warn" | "signal">,
): Promise<void> {
  let stop: ((error: unknown) => void) | undefined;
  const refused = new Promise<never>((_, reject) => (stop = reject));
  refused.catch(() => undefined); // raced below; a refusal after the race must not go unhandled
  const off = replica.on("error", ({ error, context }) => {
    if (fatal(error)) stop?.(relayError(error, folderId, relay, context));
    else options.warn(`${context}: ${error.message}`);
  });
  const onAbort = () => stop?.(interrupted());
  options.signal.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal.aborted) throw interrupted();
    await Promise.race([replica.syncOnce(), refused]);
  } catch (error) {
    throw relayError(error, folderId, relay);
  } finally {
    off();
    options.signal.removeEventListener("abort", onAbort);
  }
}

/** A refusal that trying again will not change (a transient failure is retried by the replica). */
function fatal(error: Error): boolean {
  if (error instanceof ProtocolError)
    return error.wireCode !== "unavailable" && error.wireCode !== "unauthorized";
  return error instanceof WeftError && (error.code === "STORAGE" || error.code === "DISK_FULL");
}

/** `error` of a change that did not reach the relay, saying what becomes of the change. */
function unsent(error: unknown, kept: boolean): unknown {
  if (!(error instanceof AgentError) || error.code !== "RELAY") return error;
  return new AgentError(
    "RELAY",
    `${error.message} (${
      kept
        ? "the change is kept here and sent by the next weft command on this folder"
        : "with --no-state the change is not kept: run the command again"
    })`,
    { cause: error },
  );
}

/** A relay client's failure in the words a person needs. */
function relayError(error: unknown, folderId: FolderId, relay: string, context?: string): unknown {
  if (error instanceof AgentError && error.code !== "RELAY") return error;
  const wire =
    error instanceof ProtocolError
      ? error.wireCode
      : (error as { wireCode?: string } | undefined)?.wireCode;
  const message = error instanceof Error ? error.message : String(error);
  if (wire === "forbidden" && /not a member/.test(message))
    return new AgentError(
      "FORBIDDEN",
      `this account is not a member of folder ${folderId} on ${relay} (join it with an invite: weft folder join INVITE)`,
      { cause: error },
    );
  if (wire === "forbidden")
    return new AgentError("FORBIDDEN", `the relay refused: ${message}`, { cause: error });
  if (wire === "unavailable")
    return new AgentError(
      "RELAY",
      /cannot reach/.test(message) ? message : `cannot reach the relay ${relay}: ${message}`,
      { cause: error },
    );
  if (wire !== undefined)
    return new AgentError(
      "RELAY",
      `the relay refused${context ? ` (${context})` : ""}: ${message}`,
      { cause: error },
    );
  return agentError(error);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Removes a SQLite file with its -wal and -shm files. */
async function removeSqlite(path: string): Promise<void> {
  await Promise.all([path, `${path}-wal`, `${path}-shm`].map((p) => rm(p, { force: true })));
}
