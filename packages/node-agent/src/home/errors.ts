/** The agent's error: a code the CLI maps to an exit status, and a one-line message for people. */

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
  | "NOT_FOUND";

/**
 * An error the agent raises; `message` is one line, with no secret in it. Not (yet) a subclass
 * of core's WeftError: this module is loaded by `weft --help`, which must not load libsodium,
 * Automerge or Yjs (cli.test.ts), and core exports WeftError only from its main entry point.
 */
export class AgentError extends Error {
  override readonly name = "AgentError";
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
