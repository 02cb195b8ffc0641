/**
 * The one error type of @weft/core: a fixed code callers can branch on, a message, a cause.
 * Imports nothing, so it is also its own entry point (`@weft/core/errors`) for code that must
 * load light, such as the `weft` CLI before it knows the command.
 */

/** Codes a caller may branch on. Adapters wrap their own failures with one of these and a cause. */
export type WeftErrorCode =
  | "INVALID_PATH"
  /**
   * A path would reach outside its folder, or through a symlink, or has a name no device may
   * write (`..`, NUL, a backslash, a control character): refused, never written.
   */
  | "UNSAFE_PATH"
  | "INVALID_RECORD"
  | "INVALID_UPDATE"
  /** A signed index update touches records or Yjs clients that its signing device does not own. */
  | "UNAUTHORIZED_UPDATE"
  | "INVALID_ENCODING"
  | "INVALID_OPTIONS"
  /** An argument of a local operation (a manifest, a mode, a time, a link target) is malformed. */
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "NOT_A_DIRECTORY"
  | "IS_A_DIRECTORY"
  | "MOVE_INTO_SELF"
  | "NO_SUCH_VERSION"
  /** A storage adapter failed (an I/O error, a corrupt or newer-format file, a closed store). */
  | "STORAGE"
  /** The disk (or the user's quota) is full; what was being replaced is left as it was. */
  | "DISK_FULL"
  /**
   * Received data failed verification: a chunk that does not open or does not match its id,
   * an envelope that does not decrypt or is not signed by the device it names.
   */
  | "INTEGRITY"
  /** The object (a replica, a document) was closed or stopped. */
  | "CLOSED"
  /**
   * An optional peer dependency the call needs is not installed (`@automerge/automerge` for
   * Automerge documents); the message names the package to install.
   */
  | "MISSING_DEPENDENCY"
  /** A wire-protocol failure; `ProtocolError.wireCode` says which (see protocol/errors.ts). */
  | "PROTOCOL"
  /** An HTTP request refused or failed; the error's `status` (an HTTP status) says how. */
  | "HTTP"
  // The `weft` agent's codes (its AgentError is a WeftError): see @weft/node-agent.
  /** A command line the CLI cannot run. */
  | "USAGE"
  /** Something must happen first (`weft init`, a login, a folder). */
  | "NOT_READY"
  /** The agent's own files are unreadable or malformed. */
  | "STATE"
  /** Another process holds what this one needs. */
  | "BUSY"
  /** The relay refused or failed a request; the message carries its reason. */
  | "RELAY"
  /** Wrong password, passphrase or invite secret. */
  | "AUTH"
  /** Not allowed: not a member of the folder, or a viewer asking to change it. */
  | "FORBIDDEN"
  /** A path of a folder is in the way: it exists already, or is a directory (or is not one). */
  | "CONFLICT"
  /** A strong-consistency folder refused a change: the file changed elsewhere first. */
  | "REFUSED"
  /** Stopped by Ctrl-C or SIGTERM before it finished. */
  | "INTERRUPTED";

/** An error raised by @weft/core. `code` is stable; `message` is for people. */
export class WeftError extends Error {
  override readonly name: string = "WeftError";
  constructor(
    readonly code: WeftErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
