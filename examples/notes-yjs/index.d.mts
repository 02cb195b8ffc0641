export type { Notes, NotesOptions } from "./notes.mjs";
import type { Notes, NotesOptions } from "./notes.mjs";

/** Opens (creates, or joins with an invite) the shared notes, with the `ws` package's WebSocket. */
export function openNotes(options: NotesOptions): Promise<Notes>;

/** The command line; `io` replaces stdin and console.log. */
export function main(
  argv?: string[],
  env?: Record<string, string | undefined>,
  io?: { input?: NodeJS.ReadableStream; log?: (line: string) => void },
): Promise<void>;
