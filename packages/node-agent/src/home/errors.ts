/** The agent's error: a code the CLI maps to an exit status, and a one-line message for people. */
import { WeftError } from "@weft/core/errors";

/** What went wrong, as the CLI and scripts see it. */
export type AgentErrorCode =
  /** A command line the CLI cannot run (exit status 2). */
  | "USAGE"
  /** Something must happen first (`weft init`, a login, a folder). */
  | "NOT_READY"
  /** The agent's own files under WEFT_HOME are unreadable or malformed. */
  | "STATE"
  /** Another weft process holds what this one needs. */
  | "BUSY"
  /** The relay refused or failed a request; the message carries its reason. */
  | "RELAY"
  /** Wrong password, passphrase or invite secret. */
  | "AUTH"
  /** Not allowed: not a member of the folder, or a viewer asking to change it. */
  | "FORBIDDEN"
  /** A path of a folder is in the way: it exists already, or is a directory (or is not one). */
  | "CONFLICT"
  /**
   * A strong-consistency folder refused the change: the file changed elsewhere first (exit
   * status 3). The change is kept, to re-apply on the new version.
   */
  | "REFUSED"
  /** Stopped by Ctrl-C or SIGTERM before it finished. */
  | "INTERRUPTED"
  | "NOT_FOUND";

/**
 * An error the agent raises; `message` is one line, with no secret in it. A WeftError (from
 * core's light `errors` entry point: this module is loaded by `weft --help`, which must not load
 * libsodium, Automerge or Yjs), so every error a user meets has one shape.
 */
export class AgentError extends WeftError {
  override readonly name = "AgentError";
  declare readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
