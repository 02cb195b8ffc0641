import type { PageServer } from "@weft/test-support";

/** Builds the notes page and serves it with `relay` behind /v1. */
export function serveNotes(options: {
  relay: string;
  port?: number;
  alias?: Record<string, string>;
}): Promise<PageServer>;
