/**
 * The control socket's protocol: one JSON object per line each way. A request is
 * `{"v":1,"id":N,"op":…, …}`; its answer is `{"id":N,"ok":true,"result":…}` or
 * `{"id":N,"ok":false,"error":{"code":…,"message":…}}`. Requests are checked here, before any
 * handler sees them, and the client checks answers with the same care.
 */
import { AgentError, type AgentErrorCode } from "../home/index.js";

/** The protocol version a request carries; another one is refused with a clear error. */
export const CONTROL_VERSION = 1;
/** A request line longer than this is refused and the connection closed (no request is near it). */
export const MAX_LINE = 64 * 1024;

/** What a client can ask the daemon. Folder lists name folders by id; empty means all. */
export type ControlRequest =
  | { op: "status"; folders: string[] }
  | { op: "conflicts"; folders: string[] }
  | { op: "history"; folder: string; path: string }
  | { op: "restore"; folder: string; path: string; version: number }
  /** Sync until nothing is pending (`weft sync --once`); `timeout` in seconds, 0 for none. */
  | { op: "sync"; folders: string[]; timeout: number }
  /** The folder's selection changed under WEFT_HOME (`weft folder select`): take it up now. */
  | { op: "select"; folder: string }
  /** The folder was paused or resumed under WEFT_HOME (`weft folder pause|resume`): take it up now. */
  | { op: "pause"; folder: string }
  /** `weft ls` on a synced folder: DIR's entries (`path`, "" for the top). */
  | { op: "ls"; folder: string; path: string; recursive: boolean }
  /** `weft get` on a synced folder: the file at `path` written to `out`, an absolute path. */
  | { op: "get"; folder: string; path: string; out: string }
  /** `weft refused` on a synced strong folder: its changes made here and refused. */
  | { op: "refused"; folder: string }
  /** `weft reapply` on a synced strong folder: write refused change `change` on top, or drop it. */
  | { op: "reapply"; folder: string; change: string; discard: boolean };

/** An answer on the wire. */
export type ControlResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string; message: string } };

/** A request that cannot be served as sent, with the id to answer it under (0 if unknown). */
export class ControlRequestError extends AgentError {
  constructor(
    readonly id: number,
    message: string,
  ) {
    super("USAGE", message);
  }
}

const AGENT_CODES: readonly AgentErrorCode[] = [
  "USAGE",
  "NOT_READY",
  "STATE",
  "BUSY",
  "RELAY",
  "AUTH",
  "NOT_FOUND",
  "FORBIDDEN",
  "CONFLICT",
  "INTERRUPTED",
  "REFUSED",
];

/** A request line as sent. */
export function encodeRequest(id: number, request: ControlRequest): string {
  return `${JSON.stringify({ v: CONTROL_VERSION, id, ...request })}\n`;
}

/** Parses and checks one request line. @throws ControlRequestError */
export function decodeRequest(line: string): { id: number; request: ControlRequest } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ControlRequestError(0, "a request is one JSON object per line");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ControlRequestError(0, "a request is one JSON object per line");
  const o = raw as Record<string, unknown>;
  const id = Number.isSafeInteger(o["id"]) && (o["id"] as number) >= 0 ? (o["id"] as number) : 0;
  const bad = (message: string) => new ControlRequestError(id, message);
  if (o["v"] !== CONTROL_VERSION)
    throw bad(
      `this weft sync speaks control protocol ${CONTROL_VERSION}; run the same weft version`,
    );
  if (id === 0 && o["id"] !== 0) throw bad("id is a whole number");
  const folders = (): string[] => {
    const f = o["folders"];
    if (!Array.isArray(f) || f.length > 1000 || !f.every((x) => isText(x, 200)))
      throw bad("folders is a list of folder ids");
    return f;
  };
  const text = (name: string, max: number): string => {
    const v = o[name];
    if (!isText(v, max)) throw bad(`${name} is missing or too long`);
    return v;
  };
  switch (o["op"]) {
    case "status":
    case "conflicts":
      return { id, request: { op: o["op"], folders: folders() } };
    case "history":
      return { id, request: { op: "history", folder: text("folder", 200), path: relPath(o, bad) } };
    case "restore": {
      const version = o["version"];
      if (!Number.isSafeInteger(version) || (version as number) < 1)
        throw bad("version is a number from weft history");
      return {
        id,
        request: {
          op: "restore",
          folder: text("folder", 200),
          path: relPath(o, bad),
          version: version as number,
        },
      };
    }
    case "select":
      return { id, request: { op: "select", folder: text("folder", 200) } };
    case "pause":
      return { id, request: { op: "pause", folder: text("folder", 200) } };
    case "ls": {
      if (typeof o["recursive"] !== "boolean") throw bad("recursive is true or false");
      const request = { op: "ls", folder: text("folder", 200), path: relPath(o, bad) } as const;
      return { id, request: { ...request, recursive: o["recursive"] } };
    }
    case "get": {
      const out = text("out", 4096);
      if (!out.startsWith("/")) throw bad("out is an absolute path");
      return {
        id,
        request: { op: "get", folder: text("folder", 200), path: relPath(o, bad), out },
      };
    }
    case "refused":
      return { id, request: { op: "refused", folder: text("folder", 200) } };
    case "reapply": {
      if (typeof o["discard"] !== "boolean") throw bad("discard is true or false");
      // `change`, not `id`: the request's own id is the line's.
      const request = {
        op: "reapply",
        folder: text("folder", 200),
        change: text("change", 40),
      } as const;
      return { id, request: { ...request, discard: o["discard"] } };
    }
    case "sync": {
      const timeout = o["timeout"];
      if (typeof timeout !== "number" || !(timeout >= 0) || timeout > 1e7)
        throw bad("timeout is a number of seconds (0: none)");
      return { id, request: { op: "sync", folders: folders(), timeout } };
    }
    default:
      throw bad(`no such request: ${String(o["op"]).slice(0, 40)}`);
  }
}

function isText(v: unknown, max: number): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= max && !v.includes("\0");
}

/** A folder-relative path: `""` is the folder itself; no absolute path, no `..`. */
function relPath(o: Record<string, unknown>, bad: (m: string) => Error): string {
  const p = o["path"];
  if (typeof p !== "string" || p.length > 4096 || p.includes("\0"))
    throw bad("path is missing or too long");
  if (p.startsWith("/") || p.split("/").some((part) => part === ".."))
    throw bad("path is relative to its folder, without ..");
  return p;
}

/** Parses one answer line. @throws AgentError STATE when it is not an answer */
export function decodeResponse(line: string): ControlResponse {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    throw new AgentError("STATE", "weft sync answered something that is not JSON", {
      cause: error,
    });
  }
  const o = raw as Partial<Record<string, unknown>> | null;
  if (
    o === null ||
    typeof o !== "object" ||
    typeof o["id"] !== "number" ||
    (o["ok"] !== true &&
      (o["ok"] !== false ||
        typeof (o["error"] as { message?: unknown } | undefined)?.message !== "string"))
  )
    throw new AgentError("STATE", "weft sync answered something that is not an answer");
  return o as ControlResponse;
}

/** The error an answer carries, as the CLI raises it (same code, same message). */
export function answerError(error: { code: string; message: string }): Error {
  return AGENT_CODES.includes(error.code as AgentErrorCode)
    ? new AgentError(error.code as AgentErrorCode, error.message)
    : new Error(error.message);
}

/** An error as an answer carries it: agent errors keep their code, others are INTERNAL. */
export function errorAnswer(error: unknown): { code: string; message: string } {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
  return { code: error instanceof AgentError ? error.code : "INTERNAL", message };
}
