/** A folder's connection to its relay as people are told about it: state, since when, the last failure, the next try. */
import type { ConnectionState, Replica } from "@weft/core";

/** The replica's connection, as `weft status` and the daemon's log show it. */
export type ConnectionView = ConnectionState;

/** The replica's connection: read through this one function, the one place the agent takes it from core. */
export function connectionOf(replica: Replica): ConnectionView {
  return replica.connection;
}
