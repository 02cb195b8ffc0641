// Types of fuzz-kit.mjs, for the relay's fuzz test (TypeScript does not read the .mjs).
import type { DeviceIdentity, FolderId } from "@weft/crypto";

/** What {@link fuzzRelay} found. */
export interface FuzzReport {
  seed: number;
  wsCases: number;
  httpCases: number;
  ws: { answered: number; closed: number };
  http: Record<string, number>;
  hangs: Record<string, unknown>[];
  internal: Record<string, unknown>[];
  resets: number;
  /** Upgrades the relay refused (429) and that were retried. */
  refusedUpgrades: number;
  /** Upgrades whose token the relay refused (401): it expired, so later cases test less. */
  unauthorizedUpgrades: number;
  seconds: number;
}

/** Runs seeded, mutated and random WebSocket frames and HTTP requests against a relay. */
export function fuzzRelay(options: {
  url: string;
  token: string;
  folderId: FolderId;
  device: DeviceIdentity;
  seed?: number;
  wsCases: number;
  httpCases: number;
  concurrency?: number;
  hangMs?: number;
  progress?: (report: FuzzReport) => void;
  /** performance.now() after which no case starts. */
  deadline?: number;
}): Promise<FuzzReport>;
