/** How to open the notes: {@link openNotes}. */
export interface NotesOptions {
  /** The relay's URL, e.g. `http://127.0.0.1:8787`. */
  relay: string;
  user: string;
  password: string;
  /** An invite to notes someone else created; without one, new notes are created. */
  invite?: string;
  /** The name others see (default: `user`). */
  name?: string;
  /** Receives sync problems (default: console.warn). */
  onError?: (error: Error) => void;
}

/** Shared notes synced through the relay, with presence. */
export interface Notes {
  readonly deviceId: string;
  readonly folderId: string;
  invite(role?: "editor" | "viewer"): Promise<string>;
  add(text: string): void;
  append(index: number, text: string): void;
  notes(): string[];
  present(): string[];
  synced(): boolean;
  goOffline(): void;
  goOnline(): void;
  onChange(listener: () => void): () => void;
  until(predicate: (notes: Notes) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creates, or joins with an invite) the shared notes. */
export function openNotes(options: NotesOptions): Promise<Notes>;

/** The command line; `io` replaces stdin and console.log. */
export function main(
  argv?: string[],
  env?: Record<string, string | undefined>,
  io?: { input?: NodeJS.ReadableStream; log?: (line: string) => void },
): Promise<void>;
