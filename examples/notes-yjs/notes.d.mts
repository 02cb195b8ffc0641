import type { BlobStore, StateStore, WebSocketConstructor } from "@weft/core";

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
  /** The WebSocket class (default: the global one; index.mjs passes the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /** The device's stores (default: in memory), e.g. IndexedDB ones named after the device. */
  openStores?: (device: {
    deviceId: string;
    folderId: string;
  }) => Promise<{ state: StateStore; blobs: BlobStore }>;
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
