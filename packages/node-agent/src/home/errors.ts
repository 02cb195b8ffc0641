/** The agent's error: a code the CLI maps to an exit status, and a one-line message for people. */
import { WeftError } from "@weft/core";

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
 * Core's {@link WeftError}, typed with the agent's codes: every error a person sees is a
 * WeftError (code, message, cause). WeftError types `code` as core's own code union, which the
 * agent's codes are not part of, so the subclass cannot narrow it; the cast gives AgentError
 * its own code type until core makes WeftError generic in its code.
 */
const AgentErrorBase = WeftError as unknown as new (
  code: AgentErrorCode,
  message: string,
  options?: { cause?: unknown },
) => Error & { readonly code: AgentErrorCode };

/** An error the agent raises (a {@link WeftError}); `message` is one line, with no secret in it. */
export class AgentError extends AgentErrorBase {
  override readonly name = "AgentError";
}
