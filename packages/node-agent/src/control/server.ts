/**
 * The daemon's control socket: a Unix socket in WEFT_HOME (mode 0600, the home itself 0700) over
 * which `weft status`, `conflicts`, `history`, `restore`, `refused`, `reapply` and `sync --once` reach a running
 * `weft sync` instead of refusing. Requests are served by the same actions the CLI runs itself.
 */
import { createHash } from "node:crypto";
import { chmod, lstat, rm } from "node:fs/promises";
import { type Server, type Socket, connect, createServer } from "node:net";
import { join } from "node:path";
import { AgentError, type Home } from "../home/index.js";
import type { FolderSync } from "../sync/folder-sync.js";
import { type AgentFolderStatus, folderStatus } from "../sync/status.js";
import { listEntries } from "../remote/index.js";
import {
  historyOf,
  listConflicts,
  readFileOf,
  reapplyRefused,
  refusedOf,
  restoreNth,
  syncUntilDone,
  takePause,
  takeSelection,
} from "./actions.js";
import {
  type ControlRequest,
  ControlRequestError,
  MAX_LINE,
  decodeRequest,
  errorAnswer,
} from "./protocol.js";

/** Where a home's control socket is (a named pipe on Windows, which has no Unix sockets in dirs). */
export function controlSocketPath(home: Home): string {
  if (process.platform === "win32")
    return `\\\\.\\pipe\\weft-${createHash("sha256").update(home.dir).digest("hex").slice(0, 16)}`;
  return join(home.dir, "sync.sock");
}

/** A Unix socket path longer than this cannot be bound (sun_path is 108 bytes on Linux, 104 on macOS). */
const MAX_SOCKET_PATH = 103;

/** What `status` answers. */
export interface StatusAnswer {
  pid: number;
  folders: AgentFolderStatus[];
}

/** The daemon's control socket (Unix, 0600) through which `weft status`, `conflicts`, `history`, `restore` and `sync --once` reach a running daemon. Start with {@link ControlServer.start}, {@link close} when done. */
export class ControlServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  /**
   * Listens on the home's control socket. A socket file left by a killed daemon (nobody answers
   * on it) is replaced; the caller holds the sync lock, so no live daemon can own it.
   * @throws AgentError BUSY when another process answers on it; USAGE when WEFT_HOME's path is
   *   too long for a socket
   */
  static async start(home: Home, syncs: readonly FolderSync[]): Promise<ControlServer> {
    const path = controlSocketPath(home);
    if (process.platform !== "win32") {
      if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
        throw new AgentError(
          "USAGE",
          `WEFT_HOME is too long a path for the control socket (${path}); other commands cannot reach this weft sync`,
        );
      if (await answers(path)) throw new AgentError("BUSY", `another process answers on ${path}`);
      if (
        await lstat(path).then(
          () => true,
          () => false,
        )
      )
        await rm(path, { force: true });
    }
    const handlers = new ControlHandlers(home, syncs);
    const server = createServer({ allowHalfOpen: false });
    const control = new ControlServer(server, path);
    server.on("connection", (socket) => control.serve(socket, handlers));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // The error handler from here on: a failing accept must not kill the daemon.
    server.on("error", () => undefined);
    if (process.platform !== "win32") await chmod(path, 0o600);
    return control;
  }

  /** Stops listening, drops open connections, removes the socket file. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (process.platform !== "win32") await rm(this.path, { force: true });
  }

  /**
   * Serves one client: its requests in order, each answered on its own line. Whatever the
   * client does (garbage, a line without end, vanishing mid-request) costs it its connection,
   * never the daemon anything: every callback here catches.
   */
  private serve(socket: Socket, handlers: ControlHandlers): void {
    this.sockets.add(socket);
    socket.setEncoding("utf8");
    let buffered = "";
    let queue: Promise<void> = Promise.resolve();
    const answer = (text: string) => {
      if (!socket.destroyed && socket.writable) socket.write(`${text}\n`);
    };
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === "") continue;
        queue = queue.then(() => handlers.answer(line).then(answer));
      }
      if (buffered.length > MAX_LINE) {
        answer(JSON.stringify({ id: 0, ok: false, error: errorAnswer(tooLong) }));
        socket.end();
        socket.destroySoon();
      }
    });
    socket.on("error", () => undefined); // a client gone mid-answer: nothing to do
    socket.on("close", () => this.sockets.delete(socket));
  }
}

const tooLong = new AgentError("USAGE", `a request line is at most ${MAX_LINE} bytes`);

/** Answers requests with the daemon's open folders. */
class ControlHandlers {
  constructor(
    private readonly home: Home,
    private readonly syncs: readonly FolderSync[],
  ) {}

  /** The answer line for one request line; never rejects. */
  async answer(line: string): Promise<string> {
    let id = 0;
    try {
      const decoded = decodeRequest(line);
      id = decoded.id;
      const result = await this.run(decoded.request);
      return JSON.stringify({ id, ok: true, result });
    } catch (error) {
      if (error instanceof ControlRequestError) id = error.id;
      return JSON.stringify({ id, ok: false, error: errorAnswer(error) });
    }
  }

  private async run(request: ControlRequest): Promise<unknown> {
    switch (request.op) {
      case "status":
        return {
          pid: process.pid,
          folders: this.pick(request.folders, false).map(folderStatus),
        } satisfies StatusAnswer;
      case "conflicts":
        return listConflicts(this.pick(request.folders));
      case "history":
        return historyOf(this.one(request.folder), request.path);
      case "restore":
        return restoreNth(this.one(request.folder), request.path, request.version);
      case "sync":
        return syncUntilDone(this.home, this.pick(request.folders), request.timeout);
      case "select":
        return takeSelection(this.one(request.folder));
      case "pause":
        return takePause(this.one(request.folder));
      case "ls": {
        const s = this.one(request.folder);
        return listEntries(s.replica, s.folder.folderId, request.path, request.recursive);
      }
      case "get":
        return readFileOf(this.one(request.folder), request.path, request.out);
      case "refused":
        return refusedOf(this.one(request.folder));
      case "reapply":
        return reapplyRefused(this.one(request.folder), request.change, request.discard);
    }
  }

  /** The open folders named by id (all for an empty list). @throws AgentError BUSY for one not open here */
  private pick(ids: readonly string[], strict = true): FolderSync[] {
    if (ids.length === 0) return [...this.syncs];
    const found = this.syncs.filter((s) => ids.includes(s.folder.folderId));
    if (strict && found.length < new Set(ids).size) {
      const missing = ids.find((id) => !found.some((s) => s.folder.folderId === id));
      throw new AgentError(
        "BUSY",
        `the running weft sync (pid ${process.pid}) does not sync folder ${missing}; stop it, then run this again`,
      );
    }
    return found;
  }

  private one(id: string): FolderSync {
    return this.pick([id])[0]!;
  }
}

/** Whether something accepts connections on `path` (a live daemon), as opposed to a stale file. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}
