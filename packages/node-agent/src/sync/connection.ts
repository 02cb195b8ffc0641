/** A folder's connection to its relay as people are told about it: state, since when, the last failure, the next try. */
import type { Replica, ReplicaStatus } from "@weft/core";

/** The replica's connection, as `weft status` and the daemon's log show it. */
export interface ConnectionView {
  status: ReplicaStatus;
  /** When `status` last changed (ms since the epoch). */
  since: number;
  /** The last failed attempt or lost connection, in words, and when. */
  lastError?: { message: string; time: number };
  /** When the next connection attempt is due (ms since the epoch), while offline. */
  nextRetryAt?: number;
}

/** What `Replica.connection` (core) may hold; read loosely until every replica has it. */
interface WithConnection {
  connection?: ConnectionView;
}

const opened = new WeakMap<Replica, { status: ReplicaStatus; since: number }>();

/**
 * The replica's connection. Read through this one function so that the agent depends on the
 * engine's connection record in a single place.
 */
export function connectionOf(replica: Replica): ConnectionView {
  const own = (replica as unknown as WithConnection).connection;
  if (own) return own;
  // An engine without the record: the state is known, the time of its last change is tracked
  // here from the first look on.
  let seen = opened.get(replica);
  if (!seen || seen.status !== replica.status)
    opened.set(replica, (seen = { status: replica.status, since: Date.now() }));
  return { status: seen.status, since: seen.since };
}
