/** How to open the list: {@link openTodoRepo}. */
export interface TodoRepoOptions {
  /** The relay's URL, e.g. `http://127.0.0.1:8787`. */
  relay: string;
  user: string;
  password: string;
  /** An invite to the folder of a list someone else created (with `doc`). */
  invite?: string;
  /** The list's automerge URL (with `invite`); without both, a new list is created. */
  doc?: string;
  /** The name others see (default: `user`). */
  name?: string;
  /** Receives sync problems (default: console.warn). */
  onError?: (error: Error) => void;
}

/** One todo. */
export interface Todo {
  title: string;
  done: boolean;
}

/** A shared todo list: an automerge-repo document synced through the relay. */
export interface TodoRepo {
  readonly url: string;
  invite(role?: "editor" | "viewer"): Promise<string>;
  add(title: string): void;
  toggle(index: number): void;
  todos(): Todo[];
  present(): string[];
  stored(): Promise<void>;
  goOffline(): void;
  goOnline(): void;
  until(predicate: (list: TodoRepo) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creates, or joins with an invite and the list's URL) the shared todo list. */
export function openTodoRepo(options: TodoRepoOptions): Promise<TodoRepo>;

/** The command line; `io` replaces stdin and console.log. */
export function main(
  argv?: string[],
  env?: Record<string, string | undefined>,
  io?: { input?: NodeJS.ReadableStream; log?: (line: string) => void },
): Promise<void>;
