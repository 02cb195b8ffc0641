/** The agent's version, from its package.json (the one file that states it). */
import { readFileSync } from "node:fs";

let cached: string | undefined;

/** e.g. "0.1.0". */
export function agentVersion(): string {
  // dist/log/version.js and src/log/version.ts both sit two levels below the package root.
  cached ??= (
    JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;
  return cached;
}
