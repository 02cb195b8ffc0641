/**
 * The dashboard's folder actions: create a folder from a local path, join one with an invite
 * (into a path, or as a member only). The work is share/'s, the code `weft folder create` and
 * `weft folder join` run; the running daemon then opens the new folder and syncs it at once.
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import type { DeviceIdentity } from "@weft/crypto";
import { AccountLogin } from "../account/index.js";
import type { FolderRecord, Home } from "../home/index.js";
import { createFolder, joinAsMember, joinFolder, parseInvite } from "../share/index.js";
import { HttpError } from "./guards.js";
import { relayHttpError } from "./members-api.js";

/** Opens a folder just recorded under WEFT_HOME in the running daemon and starts syncing it. */
export type StartFolder = (record: FolderRecord) => Promise<void>;

/** What the page is told after a create or a join. */
export interface FolderAdded {
  folderId: string;
  /** Where it syncs on this device; null for a member-only join. */
  path: string | null;
  role: string;
  relay: string;
  /** Whether the daemon syncs it now; else why not (it will at the next start). */
  syncing: boolean;
  problem?: string;
}

/** A local path from the page: absolute, or under the user's home with `~/`. @throws HttpError 400 */
function localPath(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > 4096)
    throw new HttpError(400, "path is missing or too long");
  const path = value.trim();
  if (path === "~" || path.startsWith("~/")) return join(homedir(), path.slice(1));
  if (!isAbsolute(path))
    throw new HttpError(400, "give the folder's full path (starting with / or ~/)");
  return path;
}

/** Creating and joining folders from the page, through share/ as the CLI does. */
export class FoldersApi {
  constructor(
    private readonly home: Home,
    private readonly identity: DeviceIdentity,
    /** Absent when no daemon runs the page's folders (then a new folder syncs at the next start). */
    private readonly start: StartFolder | undefined,
  ) {}

  /** `weft folder create PATH` (on `body.relay`, or the only account's relay). @throws HttpError */
  async create(body: Record<string, unknown>): Promise<FolderAdded> {
    const path = localPath(body["path"]);
    const relay = typeof body["relay"] === "string" && body["relay"] ? body["relay"] : undefined;
    let record: FolderRecord;
    try {
      const session = await AccountLogin.open(this.home, relay);
      record = await createFolder(this.home, session, this.identity, path);
    } catch (error) {
      throw relayHttpError(error, relay ?? "the relay", "create folders");
    }
    return this.started(record);
  }

  /** `weft folder join INVITE [PATH]`. The invite is a secret: it is used, never kept or logged. @throws HttpError */
  async join(body: Record<string, unknown>): Promise<FolderAdded> {
    const text = body["invite"];
    if (typeof text !== "string" || text.trim() === "" || text.length > 8192)
      throw new HttpError(400, "invite is missing or too long");
    const path =
      body["path"] === undefined || body["path"] === "" ? undefined : localPath(body["path"]);
    let invite;
    try {
      invite = parseInvite(text.trim());
    } catch (error) {
      throw new HttpError(400, (error as Error).message, { cause: error });
    }
    try {
      const session = await AccountLogin.open(this.home, invite.relay);
      if (path === undefined) {
        const role = await joinAsMember(this.home, session, this.identity, invite);
        return {
          folderId: invite.folderId,
          path: null,
          role,
          relay: invite.relay,
          syncing: false,
        };
      }
      const record = await joinFolder(this.home, session, this.identity, invite, path);
      return await this.started(record);
    } catch (error) {
      throw relayHttpError(error, invite.relay, "join folders");
    }
  }

  /** Has the daemon open and sync `record`; a failure there leaves the folder recorded for the next start. */
  private async started(record: FolderRecord): Promise<FolderAdded> {
    const base = {
      folderId: record.folderId,
      path: record.path,
      role: record.role,
      relay: record.relay,
    };
    if (!this.start)
      return {
        ...base,
        syncing: false,
        problem: "no sync daemon runs here: it syncs when weft sync or weft ui next starts",
      };
    try {
      await this.start(record);
      return { ...base, syncing: true };
    } catch (error) {
      const problem = `${(error as Error).message.split("\n")[0]}; it syncs when weft ui starts again`;
      return { ...base, syncing: false, problem };
    }
  }
}
