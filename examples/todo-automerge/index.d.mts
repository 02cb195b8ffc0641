/** How to open the list: {@link openTodos}. */
export interface TodoOptions {
  /** The relay's URL, e.g. `http://127.0.0.1:8787`. */
  relay: string;
  user: string;
  password: string;
  /** An invite to a list someone else created; without one, a new list is created. */
  invite?: string;
  /** The name others see (default: `user`). */
  name?: string;
  /** Receives sync problems (default: console.warn). */
  onError?: (error: Error) => void;
}

/** One todo. */
export interface Todo {
  id: string;
  title: string;
  done: boolean;
}

/** A shared todo list synced through the relay, with presence. */
export interface TodoList {
  readonly deviceId: string;
  readonly folderId: string;
  invite(role?: "editor" | "viewer"): Promise<string>;
  add(title: string): Promise<string>;
  setDone(id: string, done: boolean): Promise<void>;
  type(id: string, text: string, index?: number): Promise<void>;
  remove(id: string): Promise<void>;
  todos(): Todo[];
  present(): string[];
  goOffline(): void;
  goOnline(): void;
  onChange(listener: () => void): () => void;
  until(predicate: (list: TodoList) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creates, or joins with an invite) the shared todo list. */
export function openTodos(options: TodoOptions): Promise<TodoList>;

/** The command line; `io` replaces stdin and console.log. */
export function main(
  argv?: string[],
  env?: Record<string, string | undefined>,
  io?: { input?: NodeJS.ReadableStream; log?: (line: string) => void },
): Promise<void>;
