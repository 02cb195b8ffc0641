/** The shapes of a strong folder's changes as callers see them: a queued change, a refused one. */
import type { Manifest } from "../chunking/manifest.js";

/** A change to a strong folder, as queued: replayed on a fresh copy of the index when sent. */
export type StrongOp =
  | { kind: "write"; path: string; manifest: Manifest; mode?: number; mtime?: number }
  | { kind: "remove"; path: string }
  | { kind: "mkdir"; path: string }
  | { kind: "move"; from: string; to: string }
  | { kind: "restore"; path: string; version: string };

/** A write the relay (or this device, knowing the file had changed) refused; kept until re-applied or discarded. */
export interface RefusedWrite {
  /** Names it for `Replica.reapply` and `Replica.discardRefused`. */
  id: string;
  /** What it was. */
  op: StrongOp;
  /** The path it wrote (a move's source). */
  path: string;
  /** Why, for people: "changed elsewhere", or what else refused it. */
  reason: string;
  /** When it was refused (ms since the epoch). */
  at: number;
}

/** The reason of a write refused because its file's head moved on. */
export const CHANGED_ELSEWHERE = "changed elsewhere";
