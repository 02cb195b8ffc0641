/**
 * The dashboard's JSON API over the daemon's open folders: state, files, history, the actions
 * (resolve a conflict, restore a version, pause or resume, save .weftignore), members and devices
 * (members-api.ts), creating and joining folders (folders-api.ts); and one file's content as a
 * download.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { WeftError } from "@weft/core";
import { type DeviceIdentity, shortDeviceId } from "@weft/crypto";
import { AgentError, type Home } from "../home/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import { historyOf, readFileOf, reapplyRefused, takePause } from "../control/actions.js";
import { savePause } from "../sync/pause.js";
import { DEFAULT_IGNORES } from "../ignore/index.js";
import { MAX_IGNORE_BYTES, readIgnoreFile, saveIgnoreFile } from "../ignore/ignore-file.js";
import { resolveConflict, restoreVersion } from "../sync/versions.js";
import { HttpError } from "./guards.js";
import { FoldersApi, type StartFolder } from "./folders-api.js";
import { MembersApi } from "./members-api.js";
import { type DashboardView, dashboardView } from "./view.js";

/** At most this many files in one answer of the file list: the page filters, not scrolls 100k. */
const MAX_FILES = 300;

/** Maps the engine's and the agent's errors to an HTTP status, keeping their one-line message. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  const cause = { cause: error };
  if (error instanceof AgentError)
    return new HttpError(
      error.code === "NOT_FOUND"
        ? 404
        : error.code === "BUSY" || error.code === "CONFLICT" || error.code === "REFUSED"
          ? 409
          : 400,
      message,
      cause,
    );
  if (error instanceof WeftError)
    return new HttpError(/NOT_FOUND|NO_SUCH/.test(error.code) ? 404 : 409, message, cause);
  return new HttpError(500, `the agent failed: ${message}`, cause);
}

function text(value: unknown, name: string, max = 4096): string {
  if (typeof value !== "string" || value === "" || value.length > max)
    throw new HttpError(400, `${name} is missing or too long`);
  return value;
}

/**
 * The dashboard's JSON API: folder state, files, history, and the actions (resolve a conflict,
 * restore a version), answered from the daemon's open folders; members and devices, answered by
 * the folders' relays.
 */
export class DashboardApi {
  private readonly deviceId: string;
  private readonly accounts: MembersApi;
  private readonly adding: FoldersApi;

  constructor(
    private readonly syncs: readonly FolderSync[],
    private readonly home: Home,
    identity: DeviceIdentity,
    /** How the running daemon takes up a folder created or joined here (absent: no daemon). */
    start?: StartFolder,
  ) {
    this.deviceId = identity.deviceId;
    this.accounts = new MembersApi(home, identity);
    this.adding = new FoldersApi(home, identity, start);
  }

  /** Everything the page shows (also what each server-sent event carries). */
  state(): DashboardView {
    return dashboardView(this.syncs, this.deviceId);
  }

  /** Answers a GET under /api/ (other than the event stream). @throws HttpError */
  async get(path: string, query: URLSearchParams): Promise<unknown> {
    switch (path) {
      case "/api/members": {
        const s = this.folder(query.get("folder"));
        return this.accounts.members(s.folder.folderId, s.folder.relay);
      }
      case "/api/devices":
        return this.accounts.devices();
      case "/api/state":
        return this.state();
      case "/api/ignore": {
        const s = this.folder(query.get("folder"));
        return { text: await readIgnoreFile(s.folder.path), defaults: DEFAULT_IGNORES };
      }
      case "/api/files":
        return this.files(this.folder(query.get("folder")), query.get("q") ?? "");
      case "/api/history": {
        const s = this.folder(query.get("folder"));
        const { path, deleted, versions } = historyOf(s, text(query.get("path"), "path"));
        return {
          path,
          deleted,
          versions: versions.map((v) => ({
            ...v,
            short: shortDeviceId(v.device),
            mine: v.device === this.deviceId,
          })),
        };
      }
      default:
        throw new HttpError(404, `no such API: ${path}`);
    }
  }

  /**
   * One file of a folder, fetched from the chunk cache or the relay (a file left out of this
   * device's selection included), verified whole before the answer starts: a failure is a
   * plain error status, never a truncated download. @throws HttpError
   */
  async download(query: URLSearchParams, res: ServerResponse): Promise<void> {
    const s = this.folder(query.get("folder"));
    const path = text(query.get("path"), "path");
    const dir = await mkdtemp(join(tmpdir(), "weft-ui-"));
    try {
      const file = join(dir, "content");
      const read = await readFileOf(s, path, file);
      res.writeHead(200, {
        "Content-Type": "application/octet-stream",
        "Content-Length": read.size,
        "Content-Disposition": `attachment; filename*=UTF-8''${encodeURIComponent(basename(path))}`,
      });
      await pipeline(createReadStream(file), res);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Does a POST under /api/. @throws HttpError */
  async post(path: string, body: Record<string, unknown>): Promise<unknown> {
    switch (path) {
      case "/api/devices/name":
        return this.accounts.nameDevice(body);
      case "/api/devices/remove":
        return this.accounts.removeDevice(body);
      case "/api/folders/create":
        return this.adding.create(body);
      case "/api/folders/join":
        return this.adding.join(body);
    }
    const s = this.folder(body["folder"]);
    const { folderId, relay } = s.folder;
    switch (path) {
      case "/api/members/role":
        return this.accounts.setRole(folderId, relay, body);
      case "/api/members/remove":
        return this.accounts.removeMember(folderId, relay, body);
      case "/api/members/invite":
        return this.accounts.invite(folderId, relay, body);
      case "/api/pause": {
        // As `weft folder pause|resume`: kept under WEFT_HOME (so it holds across restarts),
        // then taken up at once.
        if (typeof body["paused"] !== "boolean")
          throw new HttpError(400, "paused is true or false");
        await savePause(this.home, folderId, body["paused"]);
        return { folderId, ...(await takePause(s)) };
      }
      case "/api/reapply": {
        // A strong folder's refused change: written on top of the file's version now, or
        // dropped, as `weft reapply [--discard]`; answered once the relay has answered.
        if (typeof body["discard"] !== "boolean")
          throw new HttpError(400, "discard is true or false");
        return reapplyRefused(s, text(body["id"], "id", 40), body["discard"]);
      }
      case "/api/ignore": {
        // Text may be empty (no rules): checked here rather than with text().
        const [next, previous] = [body["text"], body["previous"]];
        if (typeof next !== "string" || typeof previous !== "string")
          throw new HttpError(400, "text and previous are the new and the old .weftignore");
        if (next.length > MAX_IGNORE_BYTES) throw new HttpError(413, ".weftignore is too long");
        await saveIgnoreFile(s.folder.path, next, previous);
        // The daemon's watcher sees it too; scanning now sends it and takes the rules up at once.
        s.scan().catch((error: unknown) => s.notice(`scanning: ${(error as Error).message}`));
        return { folderId, saved: true };
      }
    }
    const rel = text(body["path"], "path");
    switch (path) {
      case "/api/resolve": {
        const choice =
          body["keepBoth"] === true
            ? ({ keepBoth: true } as const)
            : { keep: text(body["keep"], "keep (the version to keep)", 200) };
        await resolveConflict(s, rel, choice);
        return { resolved: rel };
      }
      case "/api/restore": {
        const restored = await restoreVersion(s, rel, text(body["version"], "version", 200));
        return { restored: rel, version: restored };
      }
      default:
        throw new HttpError(404, `no such action: ${path}`);
    }
  }

  private folder(id: unknown): FolderSync {
    const s = this.syncs.find((x) => x.folder.folderId === id);
    if (!s) throw new HttpError(404, "no such folder in this sync");
    return s;
  }

  private files(s: FolderSync, q: string) {
    const needle = q.toLowerCase();
    const all = s.replica
      .list()
      .filter((e) => e.kind === "file" && e.path.toLowerCase().includes(needle));
    return {
      total: all.length,
      files: all.slice(0, MAX_FILES).map((e) => ({ path: e.path, size: e.size })),
    };
  }
}
