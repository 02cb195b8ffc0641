/** How to open the store: {@link openAttachments}. */
export interface AttachmentOptions {
  /** The relay's URL, e.g. `http://127.0.0.1:8787`. */
  relay: string;
  user: string;
  password: string;
  /** An invite to a store someone else created; without one, a new store is created. */
  invite?: string;
  /** Receives sync problems (default: console.warn). */
  onError?: (error: Error) => void;
}

/** An attachment as listed. */
export interface Attachment {
  name: string;
  size: number;
  /** Hex content hash (SHA-256 over the chunks' SHA-256s). */
  contentHash: string;
}

/** An app's attachments, kept in a Replica with no folder on disk. */
export interface Attachments {
  readonly deviceId: string;
  readonly folderId: string;
  invite(role?: "editor" | "viewer"): Promise<string>;
  attach(name: string, bytes: Uint8Array): Promise<Attachment>;
  list(): Promise<Attachment[]>;
  read(name: string): Promise<Uint8Array>;
  readFromTamperingRelay(name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Opens (creates, or joins with an invite) an attachment store. */
export function openAttachments(options: AttachmentOptions): Promise<Attachments>;

/** What the command line did: the creator's run, or the joiner's. */
export type MainResult =
  | { invite: string; attached: Attachment[] }
  | { attachments: (Attachment & { bytes: Uint8Array })[]; tampering: string };

/** The command line; `log` replaces console.log. */
export function main(
  argv?: string[],
  env?: Record<string, string | undefined>,
  log?: (line: string) => void,
): Promise<MainResult>;
